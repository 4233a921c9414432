// offloadHandshake: handshake steps on the libuv thread pool. One job per session at a time; what arrives
// meanwhile is fed afterwards, in arrival order; the error queue of the worker thread is what alerts carry;
// close()/destroy() during a job discard its output; a worker thread may exit with a job in flight.
//
// Sessions are wired by hand: datagrams queue up and are delivered only when the test says so, so a test can
// hand a datagram to a session and look at what happened before the job finished.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { Worker } from 'node:worker_threads';

import { createSecureContext, DtlsError, DtlsSession, type DtlsAlert, type SessionOptions } from '../../lib/index.js';
import { binding } from '../../lib/binding.js';
import { ecPair } from '../support/fixtures';

interface Wired {
  client: DtlsSession;
  server: DtlsSession;
  toServer: Buffer[];
  toClient: Buffer[];
  dispose(): void;
}

function wire(opts: { client?: Partial<SessionOptions>; server?: Partial<SessionOptions> } = {}): Wired {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const s = new DtlsSession({ role: 'server', ...ecPair(), ...opts.server, send: (d) => void toClient.push(d) } as SessionOptions);
  const c = new DtlsSession({ role: 'client', rejectUnauthorized: false, ...opts.client, send: (d) => void toServer.push(d) } as SessionOptions);
  return {
    client: c,
    server: s,
    toServer,
    toClient,
    dispose: () => {
      c.destroy();
      s.destroy();
    },
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Waits, a turn at a time, until `cond()` holds (at most 5 s / 20000 turns). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (let i = 0; i < 20000 && Date.now() < deadline; i++) {
    if (cond()) return;
    await turn();
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Delivers datagrams both ways until the server is connected; its final flight is left undelivered. */
function untilServerConnected(w: Wired): Promise<void> {
  return until(() => {
    for (const d of w.toServer.splice(0)) w.server.receive(d);
    if (w.server.state === 'connected') return true;
    for (const d of w.toClient.splice(0)) w.client.receive(d);
    return false;
  }, 'the server to connect');
}

/** Delivers queued datagrams both ways (each in its own receive() call) until `done()` holds. */
async function pump(w: Wired, done: () => boolean): Promise<void> {
  await until(() => {
    for (const d of w.toServer.splice(0)) w.server.receive(d);
    for (const d of w.toClient.splice(0)) w.client.receive(d);
    return done();
  }, 'the handshake');
}

const bothConnected = (w: Wired) => () => w.client.state === 'connected' && w.server.state === 'connected';

test('offloadHandshake on the server: receive() returns before the step has run; the handshake completes as without it', async () => {
  const sync = wire();
  const off = wire({ server: { offloadHandshake: true } });
  try {
    void sync.client.handshake();
    void off.client.handshake();
    assert.equal(off.toServer.length, 1, 'one ClientHello');
    off.server.receive(off.toServer.shift()!);
    assert.equal(off.toClient.length, 0, 'no flight yet: the step runs on the thread pool');
    assert.equal(off.server.state, 'connecting');
    await until(() => off.toClient.length > 0, "the server's flight");
    const [ci, si] = await Promise.all([off.client.handshake(), off.server.handshake(), pump(off, bothConnected(off))]);
    await pump(sync, bothConnected(sync));
    const [cs, ss] = await Promise.all([sync.client.handshake(), sync.server.handshake()]);
    assert.equal(si.cipher.name, ss.cipher.name);
    assert.equal(ci.protocol, cs.protocol);
    assert.equal(si.extendedMasterSecret, true);
    // Records stay synchronous once connected.
    const got: string[] = [];
    off.server.on('message', (m) => got.push(m.toString()));
    off.client.send('after');
    off.server.receive(off.toServer.shift()!);
    assert.deepEqual(got, ['after']);
  } finally {
    sync.dispose();
    off.dispose();
  }
});

test('datagrams that arrive during a job wait for it and are fed in arrival order (client offload: the final flight, then 10 records)', async () => {
  const w = wire({ client: { offloadHandshake: true } });
  try {
    void w.client.handshake();
    // Up to the server's final flight: the server is connected, its flight not yet delivered.
    await untilServerConnected(w);
    const flight = w.toClient.splice(0);
    assert.ok(flight.length >= 1, 'the final flight is waiting');
    for (let i = 0; i < 10; i++) w.server.send(`m${i}`);
    const records = w.toClient.splice(0);
    assert.equal(records.length, 10);
    const got: string[] = [];
    w.client.on('message', (m) => got.push(m.toString()));
    // One receive() per datagram, all in this turn: the first starts a job, the others queue behind it.
    for (const d of [...flight, ...records]) w.client.receive(d);
    assert.equal(w.client.state, 'connecting', 'the job has not finished');
    assert.deepEqual(got, [], 'nothing was read past the job');
    await w.client.handshake();
    await until(() => got.length === 10, 'the 10 records');
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
    assert.equal(w.client.getStats().dropped, 0);
  } finally {
    w.dispose();
  }
});

test('a queued datagram is a copy: the caller may reuse its buffer once receive() returns', async () => {
  const w = wire({ client: { offloadHandshake: true } });
  try {
    void w.client.handshake();
    await untilServerConnected(w);
    const flight = w.toClient.splice(0);
    w.server.send('intact');
    const record = w.toClient.shift()!;
    const got: string[] = [];
    w.client.on('message', (m) => got.push(m.toString()));
    for (const d of flight) w.client.receive(d);
    const reused = Buffer.from(record);
    w.client.receive(reused); // queued behind the job
    reused.fill(0); // the caller's buffer is its own again
    await w.client.handshake();
    await until(() => got.length === 1, 'the record');
    assert.deepEqual(got, ['intact']);
  } finally {
    w.dispose();
  }
});

for (const how of ['close', 'destroy'] as const) {
  test(`${how}() while a job is in flight: the job's output is discarded, 'close' once, the SSL freed after the job`, async () => {
    const w = wire({ server: { offloadHandshake: true } });
    const barrier = wire({ server: { offloadHandshake: true } });
    try {
      const before = binding.liveSessions();
      void w.client.handshake().catch(() => {});
      const events: string[] = [];
      w.server.on('close', () => events.push('close'));
      w.server.on('error', (e) => events.push(`error:${(e as DtlsError).code}`));
      const rejected = w.server.handshake().then(
        () => 'resolved',
        (e: DtlsError) => e.code,
      );
      w.server.receive(w.toServer.shift()!);
      assert.equal(w.toClient.length, 0);
      if (how === 'close') await w.server.close();
      else w.server.destroy(new Error('gone'));
      assert.equal(w.server.state, how === 'close' ? 'closed' : 'failed');
      assert.equal(binding.liveSessions(), before - 1, 'the native session is gone (destroy waited for a running job)');
      // A later job on another session completes: the pool has moved past ours.
      void barrier.client.handshake();
      await pump(barrier, bothConnected(barrier));
      await until(() => events.length >= 1, "'close'");
      await turn();
      assert.deepEqual(w.toClient, [], 'nothing sent after close');
      assert.equal(await rejected, how === 'close' ? 'ERR_DTLS_CLOSED' : 'ERR_DTLS_INTERNAL');
      assert.deepEqual(events, how === 'close' ? ['close'] : ['error:ERR_DTLS_INTERNAL', 'close']);
      assert.doesNotThrow(() => w.server.getStats());
      assert.ok(Array.isArray(w.server.timeline()));
    } finally {
      w.dispose();
      barrier.dispose();
    }
  });
}

function project(a: DtlsAlert | undefined) {
  return {
    direction: a?.direction,
    description: a?.description,
    errors: a?.opensslErrors.map((e) => ({ library: e.library, reason: e.reason, function: e.function })),
  };
}

async function refusedClientAlert(offloadHandshake: boolean, stale: boolean): Promise<{ alert: DtlsAlert | undefined; err: DtlsError }> {
  const w = wire({ server: { offloadHandshake, requestCert: true, rejectUnauthorized: true, ca: ecPair().cert } });
  try {
    let alert: DtlsAlert | undefined;
    w.server.on('alert', (a) => {
      if (a.direction === 'sent') alert = a;
    });
    const failed = w.server.handshake().then(
      () => assert.fail('the server accepted a client without a certificate'),
      (e: DtlsError) => e,
    );
    void w.client.handshake().catch(() => {});
    await until(() => {
      if (stale) {
        // A stale entry on the main thread's queue before each delivery: never blamed on the session.
        try {
          tls.createSecureContext({ ecdhCurve: 'nope' });
        } catch {
          // expected
        }
      }
      for (const d of w.toServer.splice(0)) w.server.receive(d);
      for (const d of w.toClient.splice(0)) w.client.receive(d);
      return w.server.state === 'failed';
    }, 'the server to refuse the client');
    return { alert, err: await failed };
  } finally {
    w.dispose();
  }
}

test("an alert sent inside a job carries the worker thread's error queue: the same entries as without offload, no stale main-thread entry", async () => {
  const sync = await refusedClientAlert(false, false);
  const off = await refusedClientAlert(true, true);
  assert.equal(off.err.code, 'ERR_DTLS_ALERT_SENT');
  assert.deepEqual(project(off.alert), project(sync.alert));
  const last = off.alert?.opensslErrors.at(-1);
  assert.equal(last?.library, 'SSL routines');
  assert.equal(last?.reason, 'peer did not return a certificate');
  assert.equal(last?.function, 'tls_process_client_certificate');
  assert.equal(off.err.reason, 'peer did not return a certificate');
});

test('a server with a pskCallback ignores offloadHandshake (the callback runs in JavaScript) and still connects', async () => {
  const key = Buffer.alloc(16, 7);
  const w = wire({
    server: { offloadHandshake: true, cert: undefined, key: undefined, ciphers: 'PSK-AES128-GCM-SHA256', pskCallback: (id: string) => (id === 'me' ? key : null) } as Partial<SessionOptions>,
    client: { ciphers: 'PSK-AES128-GCM-SHA256', psk: { identity: 'me', key } } as Partial<SessionOptions>,
  });
  try {
    void w.client.handshake();
    w.server.receive(w.toServer.shift()!);
    assert.ok(w.toClient.length > 0, 'the step ran synchronously');
    await pump(w, bothConnected(w));
    assert.equal(w.server.getCipher()?.name, 'PSK-AES128-GCM-SHA256');
  } finally {
    w.dispose();
  }
});

test('options.offloadHandshake must be a boolean', () => {
  assert.throws(() => new DtlsSession({ role: 'server', ...ecPair(), offloadHandshake: 'yes' as unknown as boolean, send: () => {} }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
  });
});

test('a worker thread that exits with a job in flight: the worker ends cleanly, this thread is unaffected', async () => {
  const lib = require.resolve('../../lib/index.js');
  const { cert, key } = ecPair();
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { DtlsSession, createSecureContext } = require(workerData.lib);
    const ctx = createSecureContext({ cert: workerData.cert, key: workerData.key });
    const toServer = [];
    const sessions = [];
    for (let i = 0; i < 8; i++) {
      const s = new DtlsSession({ role: 'server', context: ctx, offloadHandshake: true, send: () => {} });
      const c = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => s.receive(d) });
      c.handshake().catch(() => {});
      sessions.push(s, c);
    }
    parentPort.postMessage('jobs queued');
    process.exit(0);
  `;
  const worker = new Worker(code, { eval: true, workerData: { lib, cert, key } });
  const messages: unknown[] = [];
  worker.on('message', (m) => messages.push(m));
  const exitCode = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  assert.equal(exitCode, 0);
  assert.deepEqual(messages, ['jobs queued']);
  // This thread still handshakes with offload.
  const w = wire({ server: { offloadHandshake: true } });
  try {
    void w.client.handshake();
    await pump(w, bothConnected(w));
  } finally {
    w.dispose();
  }
});

test('a shared context: offloaded handshakes of many sessions at once all complete', async () => {
  const context = createSecureContext({ ...ecPair() });
  const pairs = Array.from({ length: 12 }, () => wire({ server: { context, offloadHandshake: true }, client: { offloadHandshake: true } }));
  try {
    for (const p of pairs) void p.client.handshake();
    await until(() => {
      let all = true;
      for (const p of pairs) {
        for (const d of p.toServer.splice(0)) p.server.receive(d);
        for (const d of p.toClient.splice(0)) p.client.receive(d);
        all &&= bothConnected(p)();
      }
      return all;
    }, 'every handshake');
  } finally {
    for (const p of pairs) p.dispose();
  }
});
