// GC finalization: DtlsSession objects dropped without close() are collectable, and collecting them runs
// the native destructor (SessionHandle::~SessionHandle -> Destroy(), which frees the SSL and unregisters the
// session from the per-env registry that binding.liveSessions() counts).
//
// gc() comes from --expose-gc set at run time (no CLI flag needed): v8.setFlagsFromString('--expose-gc')
// followed by vm.runInNewContext('gc').
//
// Sessions are created in plain (non-async) helper functions that return nothing, so no stack frame of the
// test keeps them reachable. Only sessions without timers are dropped: a session in 'new' state has none,
// and a connected session has none either (the retransmission and handshake timers stop at connect). A
// mid-handshake session is kept alive by its timers until close() (asserted below): that is by design.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import { createSecureContext, DtlsSession, type SecureContext } from '../../lib/index.js';
import { binding } from '../../lib/binding.js';
import { ecPair } from '../support/fixtures';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const MB = 1024 * 1024;

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs gc() (with a turn of the event loop in between, so N-API finalizers and FinalizationRegistry callbacks
 * that V8 defers get to run) until `done()` or `maxRounds`; returns whether `done()` became true.
 */
async function collectUntil(done: () => boolean, maxRounds = 60): Promise<boolean> {
  for (let i = 0; i < maxRounds; i++) {
    if (done()) return true;
    gc();
    await tick();
  }
  return done();
}

/** Runs a few full collections regardless, for memory measurements. */
async function settle(rounds = 6): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc();
    await tick();
  }
}

// One SecureContext shared by every session of this file, client and server alike (the certificate is
// self-signed; clients do not verify it).
const context: SecureContext = createSecureContext({ ...ecPair(), rejectUnauthorized: false });

/** n sessions that never start (half client, half server); returns nothing so nothing stays reachable. */
function createIdleSessions(n: number, expectLive: number): void {
  const list: DtlsSession[] = [];
  for (let i = 0; i < n; i++) {
    list.push(new DtlsSession({ role: i % 2 === 0 ? 'client' : 'server', context, send: () => {} }));
  }
  // Checked while the array still holds them (allocation could trigger a GC once they are unreachable).
  assert.ok(binding.liveSessions() >= expectLive, `${binding.liveSessions()} live, expected at least ${expectLive}`);
  assert.ok(list.every((s) => s.state === 'new'));
}

/**
 * n client/server pairs that complete a handshake (datagrams handed over synchronously, in batches) and are
 * then dropped without close(). Returns the number of pairs that connected.
 */
function createConnectedPairs(n: number): number {
  let connected = 0;
  for (let i = 0; i < n; i++) {
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const client = new DtlsSession({ role: 'client', context, send: (d) => void toServer.push(d) });
    const server = new DtlsSession({ role: 'server', context, send: (d) => void toClient.push(d) });
    // (a failure shows as fewer connected pairs, asserted by the caller)
    client.handshake().catch(() => {});
    server.handshake().catch(() => {});
    for (let round = 0; round < 20 && toServer.length + toClient.length > 0; round++) {
      if (toServer.length > 0) server.receive(toServer.splice(0));
      if (toClient.length > 0) client.receive(toClient.splice(0));
    }
    if (client.state === 'connected' && server.state === 'connected') connected++;
  }
  return connected;
}

test('1600 idle sessions and 200 connected pairs (2000 sessions) dropped without close(): GC runs the native destructors, liveSessions() returns to baseline, memory does not grow per round', async (t) => {
  const baseline = binding.liveSessions();
  await settle();
  const before = process.memoryUsage();
  // What is measured: process.memoryUsage() after forced full GCs, once per round. Each round creates and
  // drops 1600 sessions in state 'new' (800 client, 800 server) plus 200 pairs that completed a handshake
  // (400 sessions, each with its SSL, record buffers and keys). Round 1 pays the one-off costs (code, OpenSSL
  // lazy tables, V8 heap growth); a per-session leak would show as growth from round 1 to round 3, about
  // 2000 sessions' worth per round. Contexts keep no internal session cache.
  const rounds: NodeJS.MemoryUsage[] = [];
  for (let round = 1; round <= 3; round++) {
    createIdleSessions(1600, baseline + 1600);
    const pairs = createConnectedPairs(200);
    assert.equal(pairs, 200, 'every pair completed its handshake');
    const collected = await collectUntil(() => binding.liveSessions() === baseline);
    assert.ok(collected, `round ${round}: ${binding.liveSessions() - baseline} native sessions still alive after GC`);
    await settle();
    rounds.push(process.memoryUsage());
  }
  const [r1, , r3] = rounds as [NodeJS.MemoryUsage, NodeJS.MemoryUsage, NodeJS.MemoryUsage];
  const show = (m: NodeJS.MemoryUsage) =>
    `rss ${(m.rss / MB).toFixed(1)} MB, external ${(m.external / MB).toFixed(1)} MB, heapUsed ${(m.heapUsed / MB).toFixed(1)} MB`;
  const report = [`before: ${show(before)}`, ...rounds.map((m, i) => `after round ${i + 1}: ${show(m)}`)].join('\n');
  t.diagnostic(report.replace(/\n/g, '; '));
  assert.ok(r3.external - r1.external <= 20 * MB, `external memory grew by more than 20 MB from round 1 to round 3\n${report}`);
  assert.ok(r3.heapUsed - r1.heapUsed <= 20 * MB, `the JS heap grew by more than 20 MB from round 1 to round 3\n${report}`);
  assert.equal(binding.liveSessions(), baseline);
  // Under ASan (scripts/sanitize.sh) freed memory sits in the quarantine: rss cannot show a leak there.
  if (process.env.DTLS_SANITIZER) return t.skip('rss bound not checked under a sanitizer (ASan quarantine holds freed memory)');
  assert.ok(r3.rss - r1.rss <= 20 * MB, `rss grew by more than 20 MB from round 1 to round 3\n${report}`);
});

// ---- collectability of the JS object ------------------------------------------------------------------

interface Tracked {
  refs: Map<string, WeakRef<DtlsSession>>;
  finalized: Set<string>;
  registry: FinalizationRegistry<string>;
}

function tracker(): Tracked {
  const finalized = new Set<string>();
  return { refs: new Map(), finalized, registry: new FinalizationRegistry<string>((label) => finalized.add(label)) };
}

function track(t: Tracked, label: string, s: DtlsSession): void {
  t.refs.set(label, new WeakRef(s));
  t.registry.register(s, label);
}

/** Sessions in each state that holds no timer, registered with `t` and then dropped. */
function createAndDropTracked(t: Tracked): void {
  track(t, 'new client', new DtlsSession({ role: 'client', context, send: () => {} }));
  track(t, 'new server (with listeners)', new DtlsSession({ role: 'server', context, send: () => {} }).on('message', () => {}).on('error', () => {}));
  // Keylog listener: native holds a keylog flag, not a reference to JS.
  track(t, 'new client (keylog listener)', new DtlsSession({ role: 'client', context, send: () => {} }).on('keylog', () => {}));

  const wire = (labelPrefix: string, then: (c: DtlsSession, s: DtlsSession) => void, signal?: AbortSignal) => {
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const c = new DtlsSession({ role: 'client', context, send: (d) => void toServer.push(d), ...(signal !== undefined ? { signal } : {}) });
    const s = new DtlsSession({ role: 'server', context, send: (d) => void toClient.push(d) });
    c.on('error', () => {});
    s.on('error', () => {});
    c.handshake().catch(() => {});
    s.handshake().catch(() => {});
    for (let round = 0; round < 20 && toServer.length + toClient.length > 0; round++) {
      if (toServer.length > 0) s.receive(toServer.splice(0));
      if (toClient.length > 0) c.receive(toClient.splice(0));
    }
    assert.equal(c.state, 'connected');
    then(c, s);
    track(t, `${labelPrefix} client`, c);
    track(t, `${labelPrefix} server`, s);
  };
  wire('connected', (c) => c.send('hello'));
  wire('closed', (c) => void c.close());
  wire('destroyed', (c, s) => {
    c.destroy(new Error('bye'));
    s.destroy();
  });
  // A signal that outlives its sessions must not keep them alive once they are closed.
  wire('closed (signal still alive)', (c) => void c.close(), longLivedSignal.signal);
  // Mid-handshake, then closed: close() must clear every timer that referenced it.
  const mid = new DtlsSession({ role: 'client', context, send: () => {} });
  mid.handshake().catch(() => {});
  void mid.close();
  track(t, 'closed mid-handshake client', mid);
}
const longLivedSignal = new AbortController();

test('a dropped DtlsSession is collected (WeakRef cleared, FinalizationRegistry called) in every timer-free state', async () => {
  const baseline = binding.liveSessions();
  const t = tracker();
  createAndDropTracked(t);
  const labels = [...t.refs.keys()];
  const ok = await collectUntil(() => labels.every((l) => t.finalized.has(l)));
  const missing = labels.filter((l) => !t.finalized.has(l));
  assert.ok(ok, `not collected after GC: ${missing.join(', ')}`);
  for (const [label, ref] of t.refs) assert.equal(ref.deref(), undefined, `${label}: WeakRef still set`);
  assert.ok(await collectUntil(() => binding.liveSessions() === baseline), 'native sessions were freed');
  assert.equal(binding.liveSessions(), baseline);
});

function createMidHandshake(t: Tracked): void {
  const s = new DtlsSession({ role: 'client', context, send: () => {} });
  s.handshake().catch(() => {});
  track(t, 'mid-handshake', s);
}

/** Checks the session behind `ref` is alive and connecting, then closes it; keeps no reference afterwards. */
async function closeTracked(ref: WeakRef<DtlsSession>, expectLive: number): Promise<void> {
  const s = ref.deref();
  assert.ok(s !== undefined, 'a session with a pending retransmission timer is kept alive');
  assert.equal(s.state, 'connecting');
  assert.equal(binding.liveSessions(), expectLive);
  await s.close();
}

test('a dropped mid-handshake session stays alive while its timers run, and is collected once close() stops them', async () => {
  const baseline = binding.liveSessions();
  const t = tracker();
  createMidHandshake(t);
  // Its retransmission timer holds it: the handshake must not silently stop because nobody holds the object.
  await settle();
  assert.equal(t.finalized.has('mid-handshake'), false);
  await closeTracked(t.refs.get('mid-handshake')!, baseline + 1);
  assert.equal(binding.liveSessions(), baseline, 'close() freed the native session at once');
  const ok = await collectUntil(() => t.finalized.has('mid-handshake'));
  assert.ok(ok, 'the closed session was collected');
  assert.equal(t.refs.get('mid-handshake')!.deref(), undefined);
});
