// GnuTLS command line peers (`gnutls-bin`) for interop tests. Facts measured with GnuTLS 3.7.9 (PEERS.md):
// - gnutls-serv listens on 0.0.0.0 and :: (no bind option): clients connect to 127.0.0.1. It prints
//   "UDP Echo Server listening on IPv4 0.0.0.0 port N...done" on stderr once bound, or "...bind() failed"
//   (and keeps running on IPv6 only). --echo returns what it receives in records of at most 254 bytes and
//   replaces CRLF by LF. It asks every client for a certificate (an empty one is accepted).
// - gnutls-cli prints the session ("- Description: (DTLS1.2-...)", "- Handshake was completed",
//   "- Simple Client Mode:") on stdout, then sends each chunk read from stdin as one record and prints what
//   it receives; at stdin EOF it sends close_notify and exits 0. A self-signed certificate needs --insecure.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { freeUdpPort, gnutlsVersion, spawnPeer, which, type PeerProcess } from './peers';

/** Both GnuTLS tools are on PATH. */
export function haveGnutls(): boolean {
  return which('gnutls-cli') !== null && which('gnutls-serv') !== null;
}

/** "GnuTLS 3.7.9" (from `gnutls-cli --version`), for test titles. */
export function gnutlsPeerName(): string {
  const v = /(\d+\.\d+\.\d+)/.exec(gnutlsVersion() ?? '')?.[1];
  return v !== undefined ? `GnuTLS ${v}` : 'GnuTLS (not installed)';
}

export interface GnutlsServ {
  proc: PeerProcess;
  port: number;
}

/**
 * Starts `gnutls-serv --udp --port N <args>` and waits until its IPv4 socket is bound. A port taken
 * between freeUdpPort() and the bind is retried with another one (at most 3 attempts).
 */
export async function startGnutlsServ(args: readonly string[], onSpawn: (p: PeerProcess) => void, ms = 5000): Promise<GnutlsServ> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const proc = spawnPeer('gnutls-serv', ['--udp', '--port', String(port), ...args]);
    onSpawn(proc);
    try {
      await proc.waitFor(new RegExp(`listening on IPv4 0\\.0\\.0\\.0 port ${port}\\.\\.\\.(done|.*failed)`), ms);
    } catch (err) {
      proc.kill();
      throw err;
    }
    if (/IPv4 0\.0\.0\.0 port \d+\.\.\.done/.test(proc.output())) return { proc, port };
    last = new Error(`gnutls-serv could not bind UDP port ${port}:\n${proc.output()}`);
    proc.kill();
  }
  throw last;
}

/** `gnutls-cli --udp --port N 127.0.0.1 <args>` with stdin left open (its EOF ends the session). */
export function spawnGnutlsCli(port: number, args: readonly string[]): PeerProcess {
  return spawnPeer('gnutls-cli', ['--udp', '--port', String(port), ...args, '127.0.0.1']);
}

/** A PSK password file for `gnutls-serv --pskpasswd` (lines "identity:hexkey"); remove() deletes it. */
export function pskPasswdFile(entries: Record<string, Buffer>): { file: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'openssl-dtls-gnutls-'));
  const file = path.join(dir, 'psk.passwd');
  writeFileSync(file, Object.entries(entries).map(([id, key]) => `${id}:${key.toString('hex')}\n`).join(''), { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** GnuTLS' spelling of the bulk cipher of an OpenSSL suite name, as in its "- Description:" line. */
export function gnutlsCipherOf(opensslSuite: string): string {
  if (opensslSuite.includes('AES256-GCM')) return 'AES-256-GCM';
  if (opensslSuite.includes('AES128-GCM')) return 'AES-128-GCM';
  if (opensslSuite.includes('CHACHA20-POLY1305')) return 'CHACHA20-POLY1305';
  return opensslSuite;
}
