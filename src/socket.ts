import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { isIP, type AddressInfo } from 'node:net';

import { DtlsError, invalidArgType, invalidArgValue } from './errors';
import { DtlsSession, kStart, type InternalSessionOptions, type SessionOptions } from './session';
import { validateFunction, validateInteger, validateObject, validateOneOf, validateString } from './validate';

/** @internal */
export const kAdoptUdp = Symbol('openssl-dtls.adoptUdp');
const kLinkReady = Symbol('openssl-dtls.linkReady');
const kQueue = Symbol('openssl-dtls.queue');
const kFlush = Symbol('openssl-dtls.flush');

/**
 * Delivers datagrams once per event-loop turn: what the socket's 'message'
 * events bring during the poll phase is collected per DtlsSocket and handed
 * over in a setImmediate (the check phase of the same turn) as one
 * receive([...]), one native crossing per session per turn rather than one
 * per datagram. Each session gets its datagrams in arrival order; sessions
 * are served in the order their first datagram of the turn arrived.
 * @internal
 */
export class DeliveryBatch {
  #dirty: DtlsSocket[] = [];
  #spare: DtlsSocket[] | null = [];
  #scheduled = false;

  /** Queues a datagram for `socket` (delivered this turn, after the poll phase). */
  add(socket: DtlsSocket, datagram: Buffer): void {
    if (!socket[kQueue](datagram)) return;
    this.#dirty.push(socket);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Delivers everything queued now (also what a pending setImmediate would have). */
  readonly flush = (): void => {
    this.#scheduled = false;
    const list = this.#dirty;
    if (list.length === 0) return;
    // Datagrams queued while these are delivered go to the next batch (a
    // flush from inside a listener, e.g. server.close(), takes a new list).
    this.#dirty = this.#spare ?? [];
    this.#spare = null;
    let i = 0;
    try {
      for (; i < list.length; i++) list[i]![kFlush]();
    } finally {
      if (i < list.length - 1) {
        // A 'message' listener threw: the rest are delivered next turn, ahead of newer datagrams.
        const rest = list.slice(i + 1);
        this.#dirty = rest.concat(this.#dirty);
        if (!this.#scheduled) {
          this.#scheduled = true;
          setImmediate(this.flush);
        }
      }
      list.length = 0;
      this.#spare = list;
    }
  };
}

/** The batch of connect() sockets: one setImmediate per turn for all of them. */
const clientBatch = new DeliveryBatch();

/**
 * Counts the datagrams a dgram socket has been handed and not yet written,
 * with one shared completion callback (no closure per datagram).
 * @internal
 */
export class SendCounter {
  pending = 0;
  errors = 0;
  datagramsOut = 0;
  bytesOut = 0;
  lastError: Error | undefined;
  #drained: Array<() => void> = [];

  readonly onSent = (err: Error | null): void => {
    this.pending--;
    if (err) {
      this.errors++;
      this.lastError = err;
    }
    if (this.pending === 0 && this.#drained.length > 0) for (const f of this.#drained.splice(0)) f();
  };

  /** Resolves once every datagram handed over has been written (or after `timeoutMs`). */
  drained(timeoutMs: number): Promise<void> {
    if (this.pending <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      t.unref();
      this.#drained.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/**
 * Where one DTLS peer's datagrams go: a dgram socket and the peer's address
 * (or a connected socket). A send callback covers every datagram one
 * DtlsSocket.send() produced.
 * @internal
 */
export class DatagramLink {
  udp: dgram.Socket | null = null;
  address: string | undefined;
  port: number | undefined;
  family: 'IPv4' | 'IPv6' | undefined;
  /** the dgram socket is connect()ed to the peer */
  connected = false;
  #capture: { count: number; done: boolean; error: Error | null; cb: (err?: Error | null) => void } | undefined;

  constructor(readonly counter: SendCounter) {}

  readonly send = (d: Buffer): void => {
    const udp = this.udp;
    if (udp === null || (!this.connected && this.port === undefined)) return;
    const counter = this.counter;
    counter.pending++;
    counter.datagramsOut++;
    counter.bytesOut += d.length;
    let cb = counter.onSent;
    const capture = this.#capture;
    if (capture !== undefined) {
      capture.count++;
      cb = (err) => {
        counter.onSent(err);
        if (err && capture.error === null) capture.error = err;
        if (--capture.count === 0 && capture.done) capture.cb(capture.error);
      };
    }
    try {
      if (this.connected) udp.send(d, cb);
      else udp.send(d, this.port, this.address, cb);
    } catch (e) {
      // The socket was closed under us: the datagram is lost, as on the wire.
      cb(e as Error);
    }
  };

  /** Runs `fn`, then calls `cb` once every datagram it sent is written (at once if there were none). */
  withCallback(fn: () => void, cb: (err?: Error | null) => void): void {
    const capture = { count: 0, done: false, error: null as Error | null, cb };
    this.#capture = capture;
    try {
      fn();
    } finally {
      this.#capture = undefined;
    }
    capture.done = true;
    if (capture.count === 0) process.nextTick(cb, null);
  }
}

/** The events of a {@link DtlsSocket}: those of a session ({@link DtlsSessionEvents}). */
export interface DtlsSocketEvents {
  /** the handshake completed */
  secureConnect: [info: import('./session').HandshakeInfo];
  /** an application message arrived */
  message: [data: Buffer];
  /** an alert was sent or received */
  alert: [alert: import('./errors').DtlsAlert];
  /** the socket failed (for connect(): also a failed lookup or UDP socket, ERR_DTLS_LOOKUP / ERR_DTLS_SOCKET) */
  error: [err: DtlsError];
  /** the socket closed; always the last event */
  close: [];
  /** an NSS key-log line, while a listener is attached */
  keylog: [line: Buffer];
  /** the key self-test ran after repeated failures that implicate our private key (ContextOptions.keyHealth) */
  keyhealth: [report: import('./keyhealth').KeyHealthReport];
}

/**
 * A DTLS session over node:dgram: what connect() returns and what a DtlsServer
 * hands to 'secureConnection'. Every DtlsSession method and getter works here.
 */
export class DtlsSocket extends DtlsSession {
  readonly #link: DatagramLink;
  #ownedUdp: dgram.Socket | null;
  #udpClosed: Promise<void> | undefined;

  /** connect(): the dgram socket is not set up yet; a handshake() meanwhile starts once it is */
  #waitingForLink: boolean;
  /** datagrams of this turn, not yet delivered (DeliveryBatch) */
  #inbox: Buffer[] = [];
  #spareInbox: Buffer[] = [];

  /** @internal use connect() or createServer() */
  constructor(options: InternalSessionOptions, link: DatagramLink, ownedUdp: dgram.Socket | null, linkReady = true) {
    super(options);
    this.#link = link;
    this.#ownedUdp = ownedUdp;
    this.#waitingForLink = !linkReady;
    // However the session ends, a socket of our own goes with it; datagrams
    // still queued for it count as dropped, as late ones do.
    this.once('close', () => {
      if (this.#inbox.length > 0) this[kFlush]();
      this.#releaseUdp();
    });
  }

  /** The peer's address (undefined until a client has resolved its host). */
  get remoteAddress(): string | undefined {
    return this.#link.address;
  }

  /** The peer's UDP port (undefined until a client has resolved its host). */
  get remotePort(): number | undefined {
    return this.#link.port;
  }

  /** The peer address's family. */
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.#link.family;
  }

  /** The local address of the underlying dgram socket. */
  address(): AddressInfo {
    const udp = this.#link.udp;
    if (udp === null) throw new DtlsError('the socket is not bound', { code: 'ERR_DTLS_INVALID_STATE' });
    return udp.address();
  }

  /**
   * Sends one application message as one DTLS record (or an array of
   * messages, a record each, in one native call); `cb(err)` runs once every
   * datagram is written to the socket.
   */
  override send(data: Buffer | Uint8Array | string | ReadonlyArray<Buffer | Uint8Array | string>, cb?: (err?: Error | null) => void): void {
    if (cb === undefined) {
      super.send(data);
      return;
    }
    validateFunction(cb, 'cb');
    this.#link.withCallback(() => super.send(data), cb);
  }

  /** Sends close_notify (when connected), closes, and releases a dgram socket connect() created. */
  override close(): Promise<void> {
    const closing = super.close();
    return this.#udpClosed !== undefined ? closing.then(() => this.#udpClosed) : closing;
  }

  /** @internal starts the handshake, or, before connect() has its socket, once it has */
  override [kStart](): void {
    if (!this.#waitingForLink) super[kStart]();
  }

  /** @internal connect(): the socket is ready (resolved, bound, connected): start */
  [kLinkReady](): void {
    this.#waitingForLink = false;
    super[kStart]();
  }

  /** @internal the dgram socket is this DtlsSocket's own: it is closed with it */
  [kAdoptUdp](udp: dgram.Socket): void {
    this.#ownedUdp = udp;
  }

  /** @internal a datagram for this peer, delivered at once */
  deliver(datagram: Buffer): void {
    this.receive(datagram);
  }

  /** @internal DeliveryBatch: queues a datagram; true when it is the first of this turn */
  [kQueue](datagram: Buffer): boolean {
    return this.#inbox.push(datagram) === 1;
  }

  /** @internal DeliveryBatch: delivers the queued datagrams as one receive() */
  [kFlush](): void {
    const inbox = this.#inbox;
    if (inbox.length === 0) return;
    // receive() copies what it keeps: the array is reused once it returns.
    this.#inbox = this.#spareInbox;
    try {
      if (inbox.length === 1) this.receive(inbox[0]!);
      else this.receive(inbox);
    } finally {
      inbox.length = 0;
      this.#spareInbox = inbox;
    }
  }

  #releaseUdp(): void {
    const udp = this.#ownedUdp;
    if (udp === null) return;
    this.#ownedUdp = null;
    // Let close_notify (or an alert) reach the wire first.
    this.#udpClosed = this.#link.counter.drained(1000).then(
      () =>
        new Promise<void>((resolve) => {
          this.#link.udp = null;
          try {
            udp.close(() => resolve());
          } catch {
            resolve(); // already closed
          }
        }),
    );
  }
}

/** Options of {@link connect}: a client session's options plus where to connect and over which socket. */
export interface ConnectOptions extends Omit<SessionOptions, 'role' | 'send' | 'peer' | 'cookieExchange'> {
  /** default 'localhost' */
  host?: string;
  /** the server's UDP port, 1..65535 */
  port: number;
  /** 'udp4' or 'udp6'; default: the family of the resolved address */
  type?: 'udp4' | 'udp6';
  /** send and receive on this dgram socket (left open on close); otherwise one is created and connect()ed */
  socket?: dgram.Socket;
  /** bind the created dgram socket to this local address */
  localAddress?: string;
  /** bind the created dgram socket to this local port (default: any) */
  localPort?: number;
  /** custom resolver, as in node:net (default dns.lookup) */
  lookup?: typeof dns.lookup;
  /** SO_RCVBUF of the created socket, in bytes (see {@link ServerOptions.recvBufferSize}); not with `socket` */
  recvBufferSize?: number;
  /** SO_SNDBUF of the created socket, in bytes; not with `socket` */
  sendBufferSize?: number;
}

/**
 * The recvBufferSize/sendBufferSize options, checked, for dgram.createSocket (which applies them at bind).
 * @internal
 */
export function socketBufferSizes(options: { recvBufferSize?: unknown; sendBufferSize?: unknown }): { recvBufferSize?: number; sendBufferSize?: number } {
  const out: { recvBufferSize?: number; sendBufferSize?: number } = {};
  if (options.recvBufferSize !== undefined) {
    validateInteger(options.recvBufferSize, 'options.recvBufferSize', 1, 2 ** 31 - 1);
    out.recvBufferSize = options.recvBufferSize;
  }
  if (options.sendBufferSize !== undefined) {
    validateInteger(options.sendBufferSize, 'options.sendBufferSize', 1, 2 ** 31 - 1);
    out.sendBufferSize = options.sendBufferSize;
  }
  return out;
}

/**
 * Opens a DTLS client over UDP: resolves the host, then handshakes (a
 * HelloVerifyRequest is answered transparently). Failures are emitted as
 * 'error'; `onSecureConnect` is added as a 'secureConnect' listener.
 */
export function connect(options: ConnectOptions, onSecureConnect?: () => void): DtlsSocket {
  validateObject(options as unknown, 'options');
  const host = options.host ?? 'localhost';
  validateString(host, 'options.host');
  validateInteger(options.port, 'options.port', 1, 65535);
  if (options.type !== undefined) validateOneOf(options.type, 'options.type', ['udp4', 'udp6'] as const);
  const userSocket = options.socket;
  if (userSocket !== undefined && !(userSocket instanceof dgram.Socket)) {
    throw invalidArgType('options.socket', 'an instance of dgram.Socket', userSocket);
  }
  if (options.localAddress !== undefined) validateString(options.localAddress, 'options.localAddress');
  if (options.localPort !== undefined) validateInteger(options.localPort, 'options.localPort', 0, 65535);
  const buffers = socketBufferSizes(options);
  if (userSocket !== undefined && (buffers.recvBufferSize !== undefined || buffers.sendBufferSize !== undefined)) {
    throw invalidArgValue('options.socket', userSocket, 'cannot be combined with recvBufferSize/sendBufferSize (size the socket you pass)');
  }
  const lookup = options.lookup ?? dns.lookup;
  if (typeof lookup !== 'function') throw invalidArgType('options.lookup', 'of type function', lookup);
  if (onSecureConnect !== undefined) validateFunction(onSecureConnect, 'onSecureConnect');
  if ((options as { role?: unknown }).role !== undefined) throw invalidArgValue('options.role', (options as { role?: unknown }).role, 'is always client for connect()');

  const link = new DatagramLink(new SendCounter());
  const sessionOptions: InternalSessionOptions = {
    ...options,
    role: 'client',
    send: link.send,
    // node:tls' default: the host is the name the certificate must carry.
    servername: options.servername ?? host,
  };
  delete (sessionOptions as Partial<ConnectOptions>).socket;
  const sock = new DtlsSocket(sessionOptions, link, null, false);
  if (onSecureConnect !== undefined) sock.once('secureConnect', onSecureConnect);

  const start = (address: string, family: 4 | 6): void => {
    if (sock.state !== 'new') return; // aborted or destroyed while resolving
    link.address = address;
    link.port = options.port;
    link.family = family === 6 ? 'IPv6' : 'IPv4';
    let udp = userSocket;
    if (udp === undefined) {
      const type = options.type ?? (family === 6 ? 'udp6' : 'udp4');
      udp = dgram.createSocket({ type, ...buffers });
      sock[kAdoptUdp](udp);
    }
    const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      if (!link.connected && (rinfo.port !== link.port || rinfo.address !== link.address)) return;
      clientBatch.add(sock, msg);
    };
    const onError = (err: Error): void => {
      sock.destroy(new DtlsError(`UDP socket error: ${err.message}`, { code: 'ERR_DTLS_SOCKET', cause: err }));
    };
    udp.on('message', onMessage);
    udp.on('error', onError);
    sock.once('close', () => {
      udp!.off('message', onMessage);
      // A late socket error after close must not become an unhandled 'error'.
      if (userSocket !== undefined) udp!.off('error', onError);
    });
    link.udp = udp;
    if (userSocket !== undefined) {
      sock[kLinkReady]();
      return;
    }
    const go = (): void => {
      udp!.connect(options.port, address, () => {
        if (sock.state !== 'new') return;
        link.connected = true;
        sock[kLinkReady]();
      });
    };
    if (options.localAddress !== undefined || options.localPort !== undefined) {
      udp.bind({ port: options.localPort ?? 0, address: options.localAddress }, go);
    } else {
      go();
    }
  };

  const family = isIP(host);
  if (family !== 0) {
    process.nextTick(start, host, family as 4 | 6);
  } else {
    const want = options.type === 'udp6' ? 6 : options.type === 'udp4' ? 4 : 0;
    const resolved = (err: NodeJS.ErrnoException | null, address: string, fam: number): void => {
      if (err) {
        sock.destroy(new DtlsError(`could not resolve ${host}: ${err.message}`, { code: 'ERR_DTLS_LOOKUP', cause: err }));
        return;
      }
      start(address, fam === 6 ? 6 : 4);
    };
    lookup(host, { family: want }, (err, address, fam) => {
      // A resolver may answer synchronously: never emit before connect() has returned.
      process.nextTick(resolved, err, address, fam);
    });
  }
  return sock;
}
