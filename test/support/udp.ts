// A DtlsSession wired to a node:dgram udp4 socket on 127.0.0.1, for interop tests against real peers.
//
// Client: pass `remote` (the peer's address). Server: leave it out; the first peer that sends a datagram
// becomes the remote (one peer per helper: fine for single-peer tests; datagrams from anyone else are
// ignored). Every datagram from the remote is fed to `session.receive()`.
//
// `close()` sends close_notify (when connected), closes the session and the socket; it is idempotent and
// bounded in time.
import * as dgram from 'node:dgram';

import { DtlsSession, type SessionOptions } from '../../lib/index.js';

export interface UdpAddress {
  address: string;
  port: number;
}

export type DtlsOverUdpOptions = Omit<SessionOptions, 'send'> & {
  /** where to send; for a server, omit it and the first sender becomes the remote */
  remote?: UdpAddress;
  /** local port on 127.0.0.1 (default 0: any free port) */
  bindPort?: number;
  /**
   * Server only: build the session when the first datagram arrives, with `peer` set from its rinfo (what
   * cookies bind to). Default: the session is built at once (so listeners can be attached before data flows).
   */
  peerFromFirstDatagram?: boolean;
  /** observes every datagram sent to or received from the remote (e.g. to check sizes against the MTU) */
  onDatagram?: (direction: 'in' | 'out', datagram: Buffer) => void;
};

export interface DtlsOverUdp {
  /** the session (for `peerFromFirstDatagram`, available once `ready()` resolved) */
  readonly session: DtlsSession;
  readonly socket: dgram.Socket;
  /** the bound local address */
  address(): UdpAddress;
  /** the current remote, if known */
  remote(): UdpAddress | undefined;
  /** resolves with the session once it exists (at once, unless `peerFromFirstDatagram`) */
  ready(timeoutMs?: number): Promise<DtlsSession>;
  /** close_notify (if connected), then close the session and the socket. Idempotent. */
  close(): Promise<void>;
}

const CLOSE_TIMEOUT_MS = 2000;

/** Binds a udp4 socket on 127.0.0.1 and wires a DtlsSession to it. Resolves once the socket is bound. */
export async function dtlsOverUdp(options: DtlsOverUdpOptions): Promise<DtlsOverUdp> {
  const { remote: initialRemote, bindPort = 0, peerFromFirstDatagram = false, onDatagram, ...sessionOptions } = options;
  if (sessionOptions.role === 'client' && initialRemote === undefined) {
    throw new TypeError('dtlsOverUdp: a client needs options.remote');
  }
  let remote: UdpAddress | undefined = initialRemote === undefined ? undefined : { ...initialRemote };
  const socket = dgram.createSocket('udp4');
  let socketClosed = false;
  socket.once('close', () => {
    socketClosed = true;
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(bindPort, '127.0.0.1', () => {
      socket.off('error', onError);
      resolve();
    });
  });
  // After binding, a socket error (e.g. ICMP port unreachable surfacing as ECONNREFUSED) must not crash the
  // test process: the DTLS session's own timers and alerts report what went wrong.
  socket.on('error', () => {});

  // dgram sends on a later tick (after an address lookup): track them so close() can let them leave first.
  let pendingSends = 0;
  let closingSocket = false;
  let onSendsDone: (() => void) | undefined;
  const send = (datagram: Buffer): void => {
    if (remote === undefined || socketClosed || closingSocket) return; // nowhere to send yet / closed: drop
    onDatagram?.('out', datagram);
    pendingSends++;
    socket.send(datagram, remote.port, remote.address, () => {
      pendingSends--;
      if (pendingSends === 0 && onSendsDone !== undefined) onSendsDone();
    });
  };

  let session: DtlsSession | undefined;
  const readyWaiters: Array<(s: DtlsSession) => void> = [];
  const makeSession = (peer?: UdpAddress): DtlsSession => {
    const opts: SessionOptions = { ...sessionOptions, send };
    if (peer !== undefined && opts.peer === undefined) opts.peer = { address: peer.address, port: peer.port };
    session = new DtlsSession(opts);
    for (const w of readyWaiters.splice(0)) w(session);
    return session;
  };
  if (!(peerFromFirstDatagram && sessionOptions.role === 'server')) makeSession();

  socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (remote === undefined) {
      remote = { address: rinfo.address, port: rinfo.port };
    } else if (rinfo.address !== remote.address || rinfo.port !== remote.port) {
      return; // single-peer helper: ignore strangers
    }
    onDatagram?.('in', msg);
    const s = session ?? makeSession(remote);
    s.receive(msg);
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closing !== undefined) return closing;
    closing = (async () => {
      try {
        if (session !== undefined) await session.close();
      } finally {
        if (!socketClosed) {
          // Let close_notify (and anything else queued) leave before closing the socket; bounded.
          if (pendingSends > 0) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
              onSendsDone = () => {
                clearTimeout(timer);
                resolve();
              };
            });
          }
          closingSocket = true;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
            socket.close(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
      }
    })();
    return closing;
  };

  return {
    get session(): DtlsSession {
      if (session === undefined) throw new Error('dtlsOverUdp: the session does not exist yet (no datagram received; await ready())');
      return session;
    },
    socket,
    address: () => {
      const a = socket.address();
      return { address: a.address, port: a.port };
    },
    remote: () => (remote === undefined ? undefined : { ...remote }),
    ready: (timeoutMs = 10_000) => {
      if (session !== undefined) return Promise.resolve(session);
      return new Promise<DtlsSession>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = readyWaiters.indexOf(done);
          if (i >= 0) readyWaiters.splice(i, 1);
          reject(new Error(`dtlsOverUdp: no datagram arrived within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (s: DtlsSession): void => {
          clearTimeout(timer);
          resolve(s);
        };
        readyWaiters.push(done);
      });
    },
    close,
  };
}
