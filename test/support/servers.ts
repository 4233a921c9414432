// Helpers for tests of createServer()/connect() over UDP loopback.
import * as dgram from 'node:dgram';

import { connect, createServer, type ConnectOptions, type DtlsError, type DtlsServer, type DtlsSocket, type ServerOptions } from '../../lib/index.js';
import { ecPair } from './fixtures';
import { withTimeout } from './peers';

export const LOCALHOST = '127.0.0.1';

/** Under scripts/sanitize.sh (ASan + UBSan) everything runs several times slower: deadlines scale. */
export const SLOW = process.env.DTLS_SANITIZER ? 4 : 1;

/** A listening server on 127.0.0.1 (ECDSA P-256 test certificate unless the options say otherwise). */
export async function listeningServer(
  options: ServerOptions = {},
  onConnection?: (s: DtlsSocket) => void,
  host = LOCALHOST,
): Promise<{ server: DtlsServer; port: number }> {
  const server = createServer({ ...ecPair(), ...options }, onConnection);
  await withTimeout(new Promise<void>((resolve) => server.listen(0, host, resolve)), 5000, 'listen');
  return { server, port: server.address().port };
}

/** Connects and waits for 'secureConnect' (rejects with the socket's error). */
export function connected(options: ConnectOptions, ms = 10_000): Promise<DtlsSocket> {
  const sock = connect({ rejectUnauthorized: false, host: LOCALHOST, ...options });
  return withTimeout(
    new Promise<DtlsSocket>((resolve, reject) => {
      sock.once('secureConnect', () => resolve(sock));
      sock.once('error', reject);
    }),
    ms * SLOW,
    'secureConnect',
  ).catch((e) => {
    sock.destroy();
    throw e;
  });
}

/** Connects expecting a failure: resolves with the error the socket emitted. */
export function connectFails(options: ConnectOptions, ms = 10_000): Promise<DtlsError> {
  const sock = connect({ rejectUnauthorized: false, host: LOCALHOST, ...options });
  return withTimeout(
    new Promise<DtlsError>((resolve, reject) => {
      sock.once('secureConnect', () => reject(new Error('connected, but a failure was expected')));
      sock.once('error', resolve);
    }),
    ms * SLOW,
    'connect failure',
  ).finally(() => sock.destroy());
}

/** The next 'message' on a socket. */
export function nextMessage(sock: DtlsSocket, ms = 5000): Promise<Buffer> {
  return withTimeout(new Promise<Buffer>((resolve) => sock.once('message', resolve)), ms * SLOW, 'message');
}

/** A raw UDP socket on 127.0.0.1 (for spoofed or garbage datagrams). */
export async function rawSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, LOCALHOST, resolve));
  return s;
}

export function sendRaw(s: dgram.Socket, d: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => s.send(d, port, LOCALHOST, (err) => (err ? reject(err) : resolve())));
}

/** Polls `cond` every 10 ms until true (bounded). */
export async function until(cond: () => boolean, ms: number, label: string): Promise<void> {
  const deadline = Date.now() + ms * SLOW;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${label}: not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
