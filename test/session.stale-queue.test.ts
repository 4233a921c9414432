// Entries that other code left on this thread's OpenSSL error queue must never be blamed on a session:
// they must not show up in a session's alerts or errors, and they must not turn a would-block
// (SSL_ERROR_WANT_READ) into a failure (SSL_get_error reports SSL_ERROR_SSL whenever the queue is not empty).
//
// The "plant": on Node 20, tls.createSecureContext({ ecdhCurve: 'nope' }) throws and leaves an
// "SSL routines" entry (gid_cb, "passed invalid argument", data "group 'nope' cannot be set") behind.
// Every plant is checked with binding.errorQueueSnapshot(), which reads the queue without consuming it.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tls from 'node:tls';

import { createSecureContext, DtlsError, DtlsSession, type DtlsAlert, type HandshakeInfo, type OpenSSLErrorEntry, type SessionOptions } from '../lib/index.js';
import { binding } from '../lib/binding.js';
import { ecPair } from './support/fixtures';
import { nextEvent } from './support/pair';
import { withTimeout } from './support/peers';

const LIMIT_MS = 10_000;

function looksPlanted(e: { function: string; data?: string; reason: string }): boolean {
  return e.function === 'gid_cb' || (e.data ?? '').includes("'nope'");
}

let plants = 0;

/** Leaves a stale entry on this thread's queue and proves it is there. */
function plant(): void {
  try {
    tls.createSecureContext({ ecdhCurve: 'nope' });
  } catch {
    // expected: Node throws and leaves the OpenSSL entry behind
  }
  const q = binding.errorQueueSnapshot();
  assert.ok(q.some(looksPlanted), `the plant left nothing on the queue: ${JSON.stringify(q)}`);
  plants++;
}

function assertClean(entries: readonly OpenSSLErrorEntry[], what: string): void {
  const bad = entries.filter(looksPlanted);
  assert.deepEqual(bad, [], `${what} contains planted entries`);
}

interface Hooks {
  /** runs right before a datagram is handed to receive() */
  beforeReceive?: (to: 'client' | 'server', dgram: Buffer) => void;
  /** runs in the send callback, i.e. right after the library returned from OpenSSL */
  afterSend?: (from: 'client' | 'server', dgram: Buffer) => void;
  /** return true to lose this datagram */
  drop?: (from: 'client' | 'server', dgram: Buffer, index: number) => boolean;
}

interface Wired {
  client: DtlsSession;
  server: DtlsSession;
  alerts: { client: DtlsAlert[]; server: DtlsAlert[] };
  errors: { client: DtlsError[]; server: DtlsError[] };
  hooks: Hooks;
  handshake(): Promise<[HandshakeInfo, HandshakeInfo]>;
  /** every alert and error seen so far: no planted entries anywhere */
  assertNothingPlanted(): void;
  dispose(): void;
}

/** Two sessions wired through setImmediate deliveries, with hooks around each delivery. */
function wiredPair(opts: { client?: Partial<SessionOptions>; server?: Partial<SessionOptions> } = {}, hooks: Hooks = {}): Wired {
  const pending = new Set<NodeJS.Immediate>();
  const counts = { client: 0, server: 0 };
  let client!: DtlsSession;
  let server!: DtlsSession;
  const w: Partial<Wired> = { hooks };
  const deliver = (from: 'client' | 'server', d: Buffer): void => {
    const to = from === 'client' ? 'server' : 'client';
    if (w.hooks!.drop?.(from, d, counts[from]++) === true) return;
    const h = setImmediate(() => {
      pending.delete(h);
      w.hooks!.beforeReceive?.(to, d);
      (to === 'client' ? client : server).receive(d);
    });
    pending.add(h);
  };
  client = new DtlsSession({
    role: 'client',
    rejectUnauthorized: false,
    handshakeTimeout: LIMIT_MS,
    ...opts.client,
    send: (d) => {
      deliver('client', d);
      w.hooks!.afterSend?.('client', d);
    },
  } as SessionOptions);
  server = new DtlsSession({
    role: 'server',
    ...ecPair(),
    handshakeTimeout: LIMIT_MS,
    ...opts.server,
    send: (d) => {
      deliver('server', d);
      w.hooks!.afterSend?.('server', d);
    },
  } as SessionOptions);
  const alerts = { client: [] as DtlsAlert[], server: [] as DtlsAlert[] };
  const errors = { client: [] as DtlsError[], server: [] as DtlsError[] };
  client.on('alert', (a) => alerts.client.push(a));
  server.on('alert', (a) => alerts.server.push(a));
  client.on('error', (e) => errors.client.push(e));
  server.on('error', (e) => errors.server.push(e));
  return Object.assign(w, {
    client,
    server,
    alerts,
    errors,
    handshake: () =>
      Promise.all([
        withTimeout(client.handshake(), LIMIT_MS + 2000, 'client handshake'),
        withTimeout(server.handshake(), LIMIT_MS + 2000, 'server handshake'),
      ]),
    assertNothingPlanted: () => {
      for (const side of ['client', 'server'] as const) {
        for (const a of alerts[side]) assertClean(a.opensslErrors, `${side} alert ${a.description}`);
        for (const e of errors[side]) assertClean(e.opensslErrors, `${side} error ${e.code}`);
      }
    },
    dispose: () => {
      for (const h of pending) clearImmediate(h);
      pending.clear();
      client.destroy();
      server.destroy();
    },
  }) as Wired;
}

async function exchange(from: DtlsSession, to: DtlsSession, text: string): Promise<void> {
  const got = nextEvent<Buffer>(to, 'message', LIMIT_MS);
  from.send(text);
  assert.equal((await got).toString(), text);
}

/** A genuine failure still reports exactly its own entries: no shared cipher, as in session.alerts. */
async function assertGenuineFailureIsClean(hooks: Hooks): Promise<void> {
  const p = wiredPair(
    { client: { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }, server: { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } },
    hooks,
  );
  try {
    const [c, s] = await Promise.allSettled([
      withTimeout(p.client.handshake(), LIMIT_MS + 2000, 'client handshake'),
      withTimeout(p.server.handshake(), LIMIT_MS + 2000, 'server handshake'),
    ]);
    if (c.status === 'fulfilled' || s.status === 'fulfilled') assert.fail('a handshake without a shared cipher completed');
    const clientErr: unknown = c.reason;
    const serverErr: unknown = s.reason;
    assert.ok(serverErr instanceof DtlsError && clientErr instanceof DtlsError);
    assert.equal(serverErr.code, 'ERR_DTLS_ALERT_SENT');
    assert.deepEqual(
      serverErr.opensslErrors.map((e) => [e.library, e.function, e.reason]),
      [['SSL routines', 'tls_post_process_client_hello', 'no shared cipher']],
    );
    assert.equal(clientErr.code, 'ERR_DTLS_ALERT_RECEIVED');
    assert.deepEqual(
      clientErr.opensslErrors.map((e) => [e.library, e.function, e.reason, e.data]),
      [['SSL routines', 'dtls1_read_bytes', 'sslv3 alert handshake failure', 'SSL alert number 40']],
    );
    assert.deepEqual(p.alerts.server.map((a) => a.opensslErrors.length), [1]);
    assert.deepEqual(p.alerts.client.map((a) => a.opensslErrors.length), [1]);
    p.assertNothingPlanted();
  } finally {
    p.dispose();
  }
}

// ------------------------------------------------------------------------------------------------ tests

test('the plant: tls.createSecureContext({ ecdhCurve }) leaves gid_cb "passed invalid argument" on the queue', () => {
  plant();
  const q = binding.errorQueueSnapshot();
  const e = q.find(looksPlanted)!;
  assert.equal(e.library, 'SSL routines');
  assert.equal(e.function, 'gid_cb');
  assert.equal(e.reason, 'passed invalid argument');
  assert.equal(e.data, "group 'nope' cannot be set");
  // errorQueueSnapshot() does not consume: a second look sees the same entries.
  assert.deepEqual(binding.errorQueueSnapshot(), q);
});

test('a stale entry before new DtlsSession / createSecureContext: construction succeeds; a bad cert reports only its own entries', () => {
  plant();
  const ctx = createSecureContext({ ...ecPair() });
  assert.ok(ctx.getCiphers().length > 0);
  plant();
  const s = new DtlsSession({ role: 'server', ...ecPair(), send: () => {} });
  s.destroy();
  plant();
  try {
    createSecureContext({ cert: 'garbage', key: ecPair().key });
    assert.fail('a garbage certificate was accepted');
  } catch (err) {
    assert.ok(err instanceof DtlsError, String(err));
    assertClean(err.opensslErrors, 'createSecureContext error');
    assert.deepEqual(err.opensslErrors.map((e) => [e.library, e.reason]), [['PEM routines', 'no start line']]);
  }
});

test("a stale entry before the client's handshake() start: the handshake completes", async () => {
  const p = wiredPair();
  try {
    plant();
    const [c, s] = await p.handshake();
    assert.equal(c.protocol, 'DTLSv1.2');
    assert.equal(s.cipher.name, c.cipher.name);
    assert.deepEqual(p.errors, { client: [], server: [] });
    assert.deepEqual(p.alerts, { client: [], server: [] });
  } finally {
    p.dispose();
  }
  await assertGenuineFailureIsClean({});
});

test('a stale entry before every handshake receive(): the handshake completes, nothing planted is reported', async () => {
  const before = plants;
  const p = wiredPair({}, { beforeReceive: () => plant() });
  try {
    await p.handshake();
    assert.ok(plants - before >= 3, `planted before ${plants - before} receives`);
    assert.deepEqual(p.errors, { client: [], server: [] });
    assert.deepEqual(p.alerts, { client: [], server: [] });
  } finally {
    p.dispose();
  }
  await assertGenuineFailureIsClean({ beforeReceive: () => plant() });
});

test('a stale entry left after every library call (incl. before a retransmission timer fires): the handshake completes', async () => {
  // Losing the server's first flight makes the handshake depend on DTLSv1_handle_timeout; the plant left in
  // each send callback is still on the queue when the next timer fires or the next datagram arrives.
  let lost = 0;
  const p = wiredPair({ client: { retransmitTimeout: 20 }, server: { retransmitTimeout: 20 } }, {
    afterSend: () => plant(),
    beforeReceive: () => plant(),
    drop: (from, _d, index) => {
      if (from === 'server' && index === 0) {
        lost++;
        return true;
      }
      return false;
    },
  });
  try {
    await p.handshake();
    assert.equal(lost, 1);
    const stats = p.client.getStats();
    assert.ok(stats.retransmits + p.server.getStats().retransmits >= 1, 'a flight was retransmitted');
    assert.deepEqual(p.errors, { client: [], server: [] });
    assert.deepEqual(p.alerts, { client: [], server: [] });
  } finally {
    p.dispose();
  }
  await assertGenuineFailureIsClean({ afterSend: () => plant(), beforeReceive: () => plant() });
});

test('after the handshake: a stale entry before receive() of application data (SSL_read) and before send() (SSL_write)', async () => {
  const p = wiredPair();
  try {
    await p.handshake();
    p.hooks.beforeReceive = () => plant();
    await exchange(p.client, p.server, 'client to server, planted before the server reads');
    await exchange(p.server, p.client, 'server to client, planted before the client reads');
    p.hooks.beforeReceive = undefined;

    plant();
    await exchange(p.client, p.server, 'planted before client.send()');
    plant();
    await exchange(p.server, p.client, 'planted before server.send()');

    plant();
    const a = p.client.exportKeyingMaterial(32, 'EXTRACTOR-test');
    plant();
    const b = p.server.exportKeyingMaterial(32, 'EXTRACTOR-test');
    assert.ok(a.equals(b), 'keying material matches');
    plant();
    assert.ok(Buffer.isBuffer(p.client.getSession()));

    assert.equal(p.client.state, 'connected');
    assert.equal(p.server.state, 'connected');
    assert.deepEqual(p.errors, { client: [], server: [] });
    assert.deepEqual(p.alerts, { client: [], server: [] });
  } finally {
    p.dispose();
  }
  await assertGenuineFailureIsClean({ beforeReceive: () => plant() });
});

test('a stale entry before close() and before the peer reads close_notify: both close cleanly', async () => {
  const p = wiredPair();
  try {
    await p.handshake();
    p.hooks.beforeReceive = () => plant();
    const serverClosed = nextEvent(p.server, 'close', LIMIT_MS);
    plant();
    await p.client.close();
    await serverClosed;
    assert.equal(p.client.state, 'closed');
    assert.equal(p.server.state, 'closed');
    assert.deepEqual(p.errors, { client: [], server: [] });
    // close_notify is reported as a warning alert on both sides, with nothing planted attached.
    for (const side of ['client', 'server'] as const) {
      for (const a of p.alerts[side]) {
        assert.equal(a.description, 'close_notify', `${side}: only close_notify alerts`);
        assert.equal(a.level, 'warning');
      }
    }
    assert.ok(p.alerts.client.some((a) => a.direction === 'sent'), 'client reported its close_notify');
    assert.ok(p.alerts.server.some((a) => a.direction === 'received'), 'server reported the peer close_notify');
    p.assertNothingPlanted();
  } finally {
    p.dispose();
  }
  await assertGenuineFailureIsClean({ beforeReceive: () => plant() });
});
