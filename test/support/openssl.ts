// The OpenSSL command-line peer for interop tests: per-test resources, `openssl s_server` started and
// waited for, output matching. (What the CLI prints is described at the top of openssl.cli.test.ts.)
import * as assert from 'node:assert/strict';

import { freeUdpPort, spawnPeer, withTimeout, type PeerProcess } from './peers';
import type { DtlsOverUdp } from './udp';

const LOCALHOST = '127.0.0.1';
const WAIT_MS = 5_000;

/** Per-test resources, released in `finally` whatever happened. */
export class Resources {
  readonly peers: PeerProcess[] = [];
  readonly sockets: DtlsOverUdp[] = [];

  async release(): Promise<void> {
    for (const h of this.sockets) await h.close().catch(() => {});
    for (const p of this.peers) p.kill();
    // Bounded: kill() escalates to SIGKILL after its grace period anyway.
    await Promise.all(this.peers.map((p) => withTimeout(p.exited, 4_000, `${p.command} exit`).catch(() => {})));
  }
}

/**
 * Starts `openssl s_server -dtls1_2 -accept 127.0.0.1:PORT -naccept 1 <args>` and waits for "ACCEPT".
 * A port taken between freeUdpPort() and the bind makes s_server exit early: retried (at most 3 times).
 */
export async function startServer(res: Resources, args: string[]): Promise<{ server: PeerProcess; port: number }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const server = spawnPeer('openssl', ['s_server', '-dtls1_2', '-accept', `${LOCALHOST}:${port}`, '-naccept', '1', ...args]);
    res.peers.push(server);
    try {
      await waitForStream(server, 'stdout', /^ACCEPT\n/m);
      return { server, port };
    } catch (err) {
      lastError = err;
      server.kill();
      if (!server.hasExited || !/bind|Address already in use/i.test(server.output())) throw err;
    }
  }
  throw lastError;
}

/**
 * Resolves once one stream of the peer (stdout or stderr alone: ordering across the two pipes is not
 * guaranteed) matches `re`; rejects on timeout or when the peer exits first, with its output.
 */
export function waitForStream(peer: PeerProcess, stream: 'stdout' | 'stderr', re: RegExp, ms = WAIT_MS): Promise<string> {
  const text = (): string => (stream === 'stdout' ? peer.stdout() : peer.stderr());
  const source = stream === 'stdout' ? peer.child.stdout : peer.child.stderr;
  return new Promise<string>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      source?.off('data', check);
      if (err !== undefined) reject(err);
      else resolve(text());
    };
    const fail = (what: string): Error =>
      new Error(`${what} ${String(re)} on ${stream} of ${peer.command}\n--- stdout ---\n${peer.stdout()}\n--- stderr ---\n${peer.stderr()}`);
    // spawnPeer's own 'data' listener (added first) has already appended the chunk when this one runs.
    const check = (): void => {
      if (re.test(text())) done();
    };
    const timer = setTimeout(() => done(fail(`timed out after ${ms} ms waiting for`)), ms);
    source?.on('data', check);
    void peer.exited.then(() => {
      if (re.test(text())) done();
      else done(fail('peer exited before matching'));
    });
    check();
  });
}

/** The first capture group of `re` in `text`, or a failed assertion showing the text. */
export function capture(text: string, re: RegExp, what: string): string {
  const m = re.exec(text);
  assert.ok(m !== null && m[1] !== undefined, `${what}: ${String(re)} not found in:\n${text}`);
  return m[1];
}
