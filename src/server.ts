import * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';

import { DtlsError, invalidArgType, invalidArgValue, invalidState } from './errors';
import type { KeyHealthReport } from './keyhealth';
import { createSecureContext, SecureContext, type ContextOptions } from './secure-context';
import { kListenCookie, type InternalSessionOptions, type SessionOptions } from './session';
import { DatagramLink, DeliveryBatch, DtlsSocket, SendCounter, socketBufferSizes } from './socket';
import { CookieJar, firstRecordEpoch, helloVerifyRequest, parseClientHelloStart, plaintextAlert, type ClientHelloStart } from './stateless';
import { validateBoolean, validateFunction, validateInteger, validateObject, validateOneOf } from './validate';

/** Options of {@link createServer}: the context options plus the server's socket, cookies and limits. */
export interface ServerOptions extends ContextOptions {
  /** a shared context; the context options above are then ignored */
  context?: SecureContext;
  /**
   * Stateless HelloVerifyRequest cookies (default true): no OpenSSL session
   * exists for a peer until it has proved it receives at its address. Turn
   * off only where the path is already validated (ICE).
   */
  cookieExchange?: boolean;
  /** how long a cookie secret is used (ms, default 60000); cookies of the previous secret still verify */
  cookieSecretLifetime?: number;
  /** peers with a session (connected or handshaking); beyond it new peers are refused (default Infinity) */
  maxConnections?: number;
  /** sessions still handshaking (half-open); beyond it new ClientHellos are ignored (default 512) */
  maxHandshakes?: number;
  /** per-handshake deadline in ms (default 30000) */
  handshakeTimeout?: number;
  /** close a connected session after this many ms without a datagram from its peer (default 300000; 0: never) */
  idleTimeout?: number;
  /** maximum datagram size (default 1200) */
  mtu?: number;
  /** 'udp4' (default) or 'udp6' */
  type?: 'udp4' | 'udp6';
  /** with type 'udp6': refuse IPv4-mapped peers */
  ipv6Only?: boolean;
  /** serve on this dgram socket (it is not closed by server.close()); non-DTLS datagrams on it are ignored */
  socket?: dgram.Socket;
  /**
   * SO_RCVBUF of the server's own socket, in bytes (the kernel doubles it and caps it at
   * net.core.rmem_max). The default (~208 KB on Linux) holds ~170 datagrams: a server of thousands of
   * sessions whose peers may all speak at once (a burst of close_notify, a keepalive round) wants more.
   * Not with `socket` (size that socket yourself).
   */
  recvBufferSize?: number;
  /** SO_SNDBUF of the server's own socket, in bytes (as recvBufferSize, capped at net.core.wmem_max) */
  sendBufferSize?: number;
  /** every client certificate must match one of these (a client certificate is then required) */
  remoteFingerprints?: SessionOptions['remoteFingerprints'];
  /** the retransmission schedule of each session, as in {@link SessionOptions.retransmitTimeout} */
  retransmitTimeout?: SessionOptions['retransmitTimeout'];
  /** handshake CPU on the libuv thread pool, one step per session at a time (default true; see SessionOptions) */
  offloadHandshake?: boolean;
}

/** A peer's address, as a server saw it. */
export interface RemoteInfo {
  /** the peer's IP address */
  address: string;
  /** the peer's UDP port */
  port: number;
  /** the address family */
  family: 'IPv4' | 'IPv6';
}

/** A server's counters, from {@link DtlsServer.getStats}. */
export interface ServerStats {
  /** datagrams received on the socket */
  datagramsIn: number;
  /** bytes of datagramsIn */
  bytesIn: number;
  /** datagrams sent on the socket */
  datagramsOut: number;
  /** bytes of datagramsOut */
  bytesOut: number;
  /** datagrams no session wanted: not a ClientHello from an unknown peer, or garbage a session discarded */
  dropped: number;
  /** non-DTLS datagrams on an adopted socket (e.g. STUN), left to their owner */
  ignored: number;
  /** HelloVerifyRequests sent (stateless cookie challenges) */
  helloVerifyRequests: number;
  /** ClientHellos with a cookie that did not verify (answered with a fresh HelloVerifyRequest) */
  badCookies: number;
  /** new peers refused because maxConnections was reached */
  refused: number;
  /** ClientHellos ignored because maxHandshakes sessions were handshaking */
  handshakesShed: number;
  /** handshakes completed */
  handshakes: number;
  /** handshakes that failed (alerts, timeouts) */
  handshakeFailures: number;
  /** connected sessions closed by idleTimeout */
  idleClosed: number;
  /** sessions replaced by a new handshake from the same address and port (a restarted peer) */
  replaced: number;
  /** datagrams the socket failed to send */
  sendErrors: number;
  /** peers with a session now (connected or handshaking) */
  connections: number;
  /** sessions handshaking now */
  handshaking: number;
  /** the socket's SO_RCVBUF as the kernel set it (bytes), while listening */
  recvBufferSize?: number;
  /** the socket's SO_SNDBUF as the kernel set it (bytes), while listening */
  sendBufferSize?: number;
}

/** The events of a {@link DtlsServer} and their arguments. */
export interface DtlsServerEvents {
  /** the socket is bound and the server serves */
  listening: [];
  /** a peer completed its handshake: its socket */
  secureConnection: [socket: DtlsSocket];
  /**
   * a peer's handshake failed, or a connected peer's socket failed with no 'error' listener of its own;
   * never an unhandled 'error' for a peer's failure
   */
  tlsClientError: [err: DtlsError, remote: RemoteInfo];
  /** the key self-test ran after repeated handshake failures that implicate the server key (ContextOptions.keyHealth) */
  keyhealth: [report: KeyHealthReport, remote: RemoteInfo];
  /** the server closed */
  close: [];
  /** the UDP socket failed */
  error: [err: Error];
}

interface Peer {
  socket: DtlsSocket;
  /** client random of the ClientHello that made it (a duplicate is not a restart) */
  random: Buffer;
  established: boolean;
  lastSeen: number;
  /** a new handshake from the same address:port, in progress */
  successor?: Successor;
}

interface Successor {
  socket: DtlsSocket;
  random: Buffer;
  /** the old session ended first: this handshake carries on as the peer's own entry */
  promoted?: Peer;
}

const ALERT_INTERNAL_ERROR = 80;
const DEFAULT_MAX_HANDSHAKES = 512;
const DEFAULT_IDLE_TIMEOUT = 300_000;
const DEFAULT_COOKIE_LIFETIME = 60_000;

/** A DTLS server: one UDP socket, many peers demultiplexed by address and port. */
export class DtlsServer extends EventEmitter {
  readonly #context: SecureContext;
  readonly #cookies: CookieJar | undefined;
  readonly #maxConnections: number;
  readonly #maxHandshakes: number;
  readonly #idleTimeout: number;
  readonly #sessionOptions: Omit<SessionOptions, 'send'>;
  readonly #udp: dgram.Socket;
  readonly #ownsUdp: boolean;
  readonly #counter = new SendCounter();
  /** datagrams are handed to sessions once per event-loop turn */
  readonly #batch = new DeliveryBatch();
  /** address → port → peer: no string built per datagram */
  readonly #peers = new Map<string, Map<number, Peer>>();
  #connections = 0;
  #handshaking = 0;
  #tick = 0;
  #sweeper: NodeJS.Timeout | null = null;
  #closing: Promise<void> | undefined;
  #listening = false;
  #droppedByClosedSessions = 0;
  readonly #stats = {
    datagramsIn: 0, bytesIn: 0, dropped: 0, ignored: 0, helloVerifyRequests: 0, badCookies: 0, refused: 0,
    handshakesShed: 0, handshakes: 0, handshakeFailures: 0, idleClosed: 0, replaced: 0,
  };
  readonly #onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => this.#datagram(msg, rinfo);

  /**
   * Same as {@link createServer}.
   *
   * @param options - see {@link ServerOptions}
   * @param onConnection - added as a 'secureConnection' listener
   */
  constructor(options: ServerOptions = {}, onConnection?: (socket: DtlsSocket) => void) {
    super();
    validateObject(options as unknown, 'options');
    if (onConnection !== undefined) validateFunction(onConnection, 'onConnection');
    const cookieExchange = options.cookieExchange ?? true;
    validateBoolean(cookieExchange, 'options.cookieExchange');
    const lifetime = options.cookieSecretLifetime ?? DEFAULT_COOKIE_LIFETIME;
    validateInteger(lifetime, 'options.cookieSecretLifetime', 1000, 86_400_000);
    this.#cookies = cookieExchange ? new CookieJar(lifetime) : undefined;
    const maxConnections = options.maxConnections ?? Infinity;
    if (maxConnections !== Infinity) validateInteger(maxConnections, 'options.maxConnections', 0, 2 ** 31 - 1);
    this.#maxConnections = maxConnections;
    const maxHandshakes = options.maxHandshakes ?? DEFAULT_MAX_HANDSHAKES;
    validateInteger(maxHandshakes, 'options.maxHandshakes', 1, 2 ** 31 - 1);
    this.#maxHandshakes = maxHandshakes;
    const idle = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
    validateInteger(idle, 'options.idleTimeout', 0, 2 ** 31 - 1);
    this.#idleTimeout = idle;
    const type = options.type ?? 'udp4';
    validateOneOf(type, 'options.type', ['udp4', 'udp6'] as const);
    if (options.ipv6Only !== undefined) validateBoolean(options.ipv6Only, 'options.ipv6Only');
    if (options.context !== undefined && !(options.context instanceof SecureContext)) {
      throw invalidArgType('options.context', 'an instance of SecureContext', options.context);
    }
    this.#context = options.context ?? createSecureContext(options);
    const offloadHandshake = options.offloadHandshake ?? true;
    validateBoolean(offloadHandshake, 'options.offloadHandshake');
    this.#sessionOptions = {
      role: 'server',
      context: this.#context,
      offloadHandshake,
      ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
      ...(options.handshakeTimeout !== undefined ? { handshakeTimeout: options.handshakeTimeout } : {}),
      ...(options.remoteFingerprints !== undefined ? { remoteFingerprints: options.remoteFingerprints } : {}),
      ...(options.retransmitTimeout !== undefined ? { retransmitTimeout: options.retransmitTimeout } : {}),
      ...(options.requestCert !== undefined ? { requestCert: options.requestCert } : {}),
      ...(options.rejectUnauthorized !== undefined ? { rejectUnauthorized: options.rejectUnauthorized } : {}),
      ...(options.context !== undefined && options.pskCallback !== undefined ? { pskCallback: options.pskCallback } : {}),
      ...(options.context !== undefined && options.pskIdentityHint !== undefined ? { pskIdentityHint: options.pskIdentityHint } : {}),
    };
    // Every per-session option is checked now, not at the first ClientHello.
    new DtlsSocket({ ...this.#sessionOptions, send: () => {} }, new DatagramLink(this.#counter), null).destroy();

    const buffers = socketBufferSizes(options);
    if (options.socket !== undefined) {
      if (!(options.socket instanceof dgram.Socket)) throw invalidArgType('options.socket', 'an instance of dgram.Socket', options.socket);
      if (buffers.recvBufferSize !== undefined || buffers.sendBufferSize !== undefined) {
        throw invalidArgValue('options.socket', options.socket, 'cannot be combined with recvBufferSize/sendBufferSize (size the socket you pass)');
      }
      this.#udp = options.socket;
      this.#ownsUdp = false;
    } else {
      this.#udp = dgram.createSocket({ type, ...(options.ipv6Only !== undefined ? { ipv6Only: options.ipv6Only } : {}), ...buffers });
      this.#ownsUdp = true;
    }
    this.#udp.on('message', this.#onMessage);
    this.#udp.on('error', this.#onUdpError);
    this.#udp.on('listening', this.#onListening);
    if (onConnection !== undefined) this.on('secureConnection', onConnection);
  }

  /**
   * Binds the UDP socket (an adopted socket already bound just starts serving).
   *
   * @param port - default 0 (any free port)
   * @param host - the local address, or the callback
   * @param callback - added as a 'listening' listener
   */
  listen(port?: number, host?: string | (() => void), callback?: () => void): this {
    if (typeof host === 'function') {
      callback = host;
      host = undefined;
    }
    if (port !== undefined) validateInteger(port, 'port', 0, 65535);
    if (host !== undefined && typeof host !== 'string') throw invalidArgType('host', 'of type string', host);
    if (callback !== undefined) {
      validateFunction(callback, 'callback');
      this.once('listening', callback);
    }
    if (this.#closing !== undefined) throw invalidState('the server is closed');
    let bound = false;
    try {
      this.#udp.address();
      bound = true;
    } catch {
      bound = false;
    }
    if (bound) {
      process.nextTick(this.#onListening);
    } else {
      this.#udp.bind({ port: port ?? 0, ...(host !== undefined ? { address: host } : {}) });
    }
    return this;
  }

  /** The bound local address and port. */
  address(): AddressInfo {
    return this.#udp.address();
  }

  /** Whether the server is bound and serving. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Connected and handshaking peers. */
  get connections(): number {
    return this.#connections;
  }

  /** Socket, cookie, limit and handshake counters. */
  getStats(): ServerStats {
    let sessionDropped = 0;
    for (const byPort of this.#peers.values()) {
      for (const p of byPort.values()) {
        sessionDropped += p.socket.getStats().dropped;
        if (p.successor !== undefined) sessionDropped += p.successor.socket.getStats().dropped;
      }
    }
    const s = this.#stats;
    const out: ServerStats = {
      ...s,
      dropped: s.dropped + this.#droppedByClosedSessions + sessionDropped,
      datagramsOut: this.#counter.datagramsOut,
      bytesOut: this.#counter.bytesOut,
      sendErrors: this.#counter.errors,
      connections: this.#connections,
      handshaking: this.#handshaking,
    };
    if (this.#listening && this.#closing === undefined) {
      try {
        out.recvBufferSize = this.#udp.getRecvBufferSize();
        out.sendBufferSize = this.#udp.getSendBufferSize();
      } catch {
        // not bound (an adopted socket closed by its owner): nothing to report
      }
    }
    return out;
  }

  /** Sends close_notify to every connected peer, then closes the socket (unless adopted). */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    // What arrived before close() was called is processed first.
    this.#batch.flush();
    this.#closing = (async () => {
      this.#stopSweeper();
      const closing: Promise<void>[] = [];
      for (const byPort of [...this.#peers.values()]) {
        for (const p of [...byPort.values()]) {
          p.successor?.socket.destroy();
          closing.push(p.socket.close());
        }
      }
      await Promise.all(closing);
      await this.#counter.drained(1000);
      this.#udp.off('message', this.#onMessage);
      this.#udp.off('listening', this.#onListening);
      if (this.#ownsUdp) {
        await new Promise<void>((resolve) => {
          try {
            this.#udp.close(() => resolve());
          } catch {
            resolve(); // never bound, or already closed
          }
        });
      }
      this.#udp.off('error', this.#onUdpError);
      this.#listening = false;
      this.emit('close');
    })();
    return this.#closing;
  }

  // ---- internals ------------------------------------------------------------

  readonly #onUdpError = (err: Error): void => {
    this.emit('error', err);
  };

  readonly #onListening = (): void => {
    if (this.#listening || this.#closing !== undefined) return;
    this.#listening = true;
    this.#startSweeper();
    this.emit('listening');
  };

  #datagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const stats = this.#stats;
    if (msg.length === 0 || msg[0]! < 20 || msg[0]! > 63) {
      // RFC 7983: not DTLS (STUN, RTP…) — someone else's on a shared socket.
      if (this.#ownsUdp) stats.dropped++;
      else stats.ignored++;
      return;
    }
    stats.datagramsIn++;
    stats.bytesIn += msg.length;
    if (this.#closing !== undefined) {
      stats.dropped++;
      return;
    }
    const peer = this.#peers.get(rinfo.address)?.get(rinfo.port);
    if (peer !== undefined) {
      peer.lastSeen = this.#tick;
      if (peer.established && msg[0] === 22 && firstRecordEpoch(msg) === 0) {
        const hello = parseClientHelloStart(msg);
        if (hello !== undefined && !hello.random.equals(peer.random)) {
          this.#restart(peer, msg, hello, rinfo);
          return;
        }
      }
      const next = peer.successor;
      if (next !== undefined) {
        // While a restarted peer handshakes anew, epoch-0 records are the new
        // handshake's; later epochs may belong to either session, and each
        // discards what it cannot authenticate.
        this.#batch.add(next.socket, msg);
        if (firstRecordEpoch(msg) === 0) return;
      }
      this.#batch.add(peer.socket, msg);
      return;
    }
    const hello = parseClientHelloStart(msg);
    if (hello === undefined) {
      stats.dropped++;
      return;
    }
    const cookie = this.#checkCookie(hello, rinfo);
    if (cookie === null) return;
    if (this.#connections >= this.#maxConnections) {
      stats.refused++;
      this.#sendRaw(plaintextAlert(hello, ALERT_INTERNAL_ERROR), rinfo);
      return;
    }
    if (this.#handshaking >= this.#maxHandshakes) {
      stats.handshakesShed++;
      return;
    }
    const socket = this.#newSession(rinfo, cookie);
    const entry: Peer = { socket, random: Buffer.from(hello.random), established: false, lastSeen: this.#tick };
    let byPort = this.#peers.get(rinfo.address);
    if (byPort === undefined) {
      byPort = new Map();
      this.#peers.set(rinfo.address, byPort);
    }
    byPort.set(rinfo.port, entry);
    this.#connections++;
    this.#track(entry, rinfo);
    socket.once('secureConnect', () => {
      entry.established = true;
      this.#handshakeDone(true);
      this.emit('secureConnection', socket);
    });
    socket.once('close', () => {
      if (!entry.established) this.#handshakeDone(false);
    });
    this.#batch.add(socket, msg);
  }

  /**
   * With cookie exchange: the verified cookie, or null after answering with a
   * HelloVerifyRequest. Without: undefined (go ahead).
   */
  #checkCookie(hello: ClientHelloStart, rinfo: dgram.RemoteInfo): Buffer | null | undefined {
    const jar = this.#cookies;
    if (jar === undefined) return undefined;
    if (hello.cookie.length > 0 && jar.verify(hello.cookie, rinfo.address, rinfo.port)) return Buffer.from(hello.cookie);
    if (hello.cookie.length > 0) this.#stats.badCookies++;
    this.#stats.helloVerifyRequests++;
    this.#sendRaw(helloVerifyRequest(hello, jar.make(rinfo.address, rinfo.port)), rinfo);
    return null;
  }

  /**
   * A new ClientHello from the address:port of a connected peer (RFC 6347
   * §4.2.8): the peer may have restarted. The new handshake runs beside the
   * old session and replaces it only once it completes, so spoofed
   * ClientHellos cannot end a working session.
   */
  #restart(peer: Peer, msg: Buffer, hello: ClientHelloStart, rinfo: dgram.RemoteInfo): void {
    if (peer.successor !== undefined) {
      if (hello.random.equals(peer.successor.random)) {
        this.#batch.add(peer.successor.socket, msg);
        return;
      }
      peer.successor.socket.destroy(); // a newer attempt wins
    }
    const cookie = this.#checkCookie(hello, rinfo);
    if (cookie === null) return;
    if (this.#handshaking >= this.#maxHandshakes) {
      this.#stats.handshakesShed++;
      return;
    }
    const socket = this.#newSession(rinfo, cookie);
    const successor: Successor = { socket, random: Buffer.from(hello.random) };
    peer.successor = successor;
    let connected = false;
    socket.once('secureConnect', () => {
      connected = true;
      this.#handshakeDone(true);
      if (successor.promoted !== undefined) {
        successor.promoted.established = true;
        this.emit('secureConnection', socket);
        return;
      }
      if (peer.successor !== successor) return;
      peer.successor = undefined;
      // The old session's peer is gone: replace it without a word on the wire.
      // The peer count stays: the old entry leaves the map before it closes.
      const entry: Peer = { socket, random: successor.random, established: true, lastSeen: this.#tick };
      this.#peers.get(rinfo.address)?.set(rinfo.port, entry);
      this.#track(entry, rinfo);
      this.#stats.replaced++;
      peer.socket.destroy();
      this.emit('secureConnection', socket);
    });
    socket.once('close', () => {
      if (!connected) this.#handshakeDone(false);
      if (peer.successor === successor) peer.successor = undefined;
    });
    this.#batch.add(socket, msg);
  }

  /** Keeps the peer map and counters right when the entry's session ends. */
  #track(entry: Peer, rinfo: dgram.RemoteInfo): void {
    entry.socket.once('close', () => {
      this.#droppedByClosedSessions += entry.socket.getStats().dropped;
      const successor = entry.successor;
      entry.successor = undefined;
      const current = this.#peers.get(rinfo.address);
      if (current?.get(rinfo.port) === entry) {
        if (successor !== undefined && this.#closing === undefined) {
          // The old session ended (its close_notify can share a turn with the
          // restarted peer's ClientHello): the new handshake carries on as the
          // peer's own, as if it had come first. The peer count stays.
          const next: Peer = { socket: successor.socket, random: successor.random, established: false, lastSeen: entry.lastSeen };
          successor.promoted = next;
          current.set(rinfo.port, next);
          this.#track(next, rinfo);
          return;
        }
        successor?.socket.destroy();
        current.delete(rinfo.port);
        if (current.size === 0) this.#peers.delete(rinfo.address);
        this.#connections--;
      } else {
        successor?.socket.destroy();
      }
    });
  }

  #newSession(rinfo: dgram.RemoteInfo, cookie: Buffer | undefined): DtlsSocket {
    const link = new DatagramLink(this.#counter);
    link.udp = this.#udp;
    link.address = rinfo.address;
    link.port = rinfo.port;
    link.family = rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4';
    const options: InternalSessionOptions = {
      ...this.#sessionOptions,
      send: link.send,
      peer: { address: rinfo.address, port: rinfo.port },
    };
    if (cookie !== undefined) options[kListenCookie] = cookie;
    const socket = new DtlsSocket(options, link, null);
    this.#handshaking++;
    const remote: RemoteInfo = { address: rinfo.address, port: rinfo.port, family: link.family };
    // Never an unhandled 'error' from a peer: before the handshake completes
    // the server reports it; afterwards too, unless the application listens.
    let established = false;
    socket.once('secureConnect', () => {
      established = true;
    });
    socket.on('error', (err: DtlsError) => {
      if (!established || socket.listenerCount('error') === 1) this.emit('tlsClientError', err, remote);
    });
    socket.on('keyhealth', (report: KeyHealthReport) => this.emit('keyhealth', report, remote));
    return socket;
  }

  #handshakeDone(ok: boolean): void {
    this.#handshaking--;
    if (ok) this.#stats.handshakes++;
    else this.#stats.handshakeFailures++;
  }

  #sendRaw(d: Buffer, rinfo: dgram.RemoteInfo): void {
    const c = this.#counter;
    c.pending++;
    c.datagramsOut++;
    c.bytesOut += d.length;
    try {
      this.#udp.send(d, rinfo.port, rinfo.address, c.onSent);
    } catch (e) {
      c.onSent(e as Error);
    }
  }

  // One coarse clock for idle timeouts: a counter bumped by one timer, so a
  // datagram costs no clock read and 10k sessions need no 10k timers.
  #startSweeper(): void {
    if (this.#idleTimeout === 0 || this.#sweeper !== null) return;
    const period = Math.max(25, Math.min(1000, Math.floor(this.#idleTimeout / 4)));
    const limit = Math.ceil(this.#idleTimeout / period);
    this.#sweeper = setInterval(() => {
      this.#tick++;
      for (const byPort of [...this.#peers.values()]) {
        for (const p of [...byPort.values()]) {
          if (p.established && this.#tick - p.lastSeen > limit) {
            this.#stats.idleClosed++;
            void p.socket.close();
          }
        }
      }
    }, period);
    this.#sweeper.unref();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }
}

/** Creates a DTLS server; `onConnection` is added as a 'secureConnection' listener. */
export function createServer(options?: ServerOptions, onConnection?: (socket: DtlsSocket) => void): DtlsServer {
  return new DtlsServer(options, onConnection);
}

// Typed events.
export interface DtlsServer {
  /** Adds a listener for one of the {@link DtlsServerEvents}. */
  on<K extends keyof DtlsServerEvents>(event: K, listener: (...args: DtlsServerEvents[K]) => void): this;
  /** Adds a one-time listener for one of the {@link DtlsServerEvents}. */
  once<K extends keyof DtlsServerEvents>(event: K, listener: (...args: DtlsServerEvents[K]) => void): this;
  /** Removes a listener. */
  off<K extends keyof DtlsServerEvents>(event: K, listener: (...args: DtlsServerEvents[K]) => void): this;
  /** Emits an event (the server emits its own; this is EventEmitter's method, typed). */
  emit<K extends keyof DtlsServerEvents>(event: K, ...args: DtlsServerEvents[K]): boolean;
}
