// Lifetime of one DtlsSession: use after close()/destroy(), close and destroy while work is pending
// (mid-handshake, inside listeners, inside a batch of messages), AbortSignal, the send callback throwing,
// 'error' vs handshake() rejection, and the native live-session registry (binding.liveSessions()).
//
// Sessions here are wired by hand (ManualPair): datagrams queue up and are delivered only when the test says
// so, which lets a test stop a handshake between two flights or hand a whole batch to one receive() call.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';

import { createSecureContext, DtlsError, DtlsSession, type SecureContext, type SessionOptions } from '../../lib/index.js';
import { binding } from '../../lib/binding.js';
import { nativeContextOf } from '../../lib/secure-context.js';
import { ecPair } from '../support/fixtures';

interface ManualPair {
  client: DtlsSession;
  server: DtlsSession;
  /** datagrams sent by the client, not yet delivered */
  toServer: Buffer[];
  /** datagrams sent by the server, not yet delivered */
  toClient: Buffer[];
  /** hands everything queued for the server to server.receive() in one call; returns how many */
  deliverToServer(): number;
  deliverToClient(): number;
  /** delivers both queues back and forth until both are empty (bounded) */
  pump(): void;
  dispose(): void;
}

let serverContext: SecureContext | undefined;
function sharedServerContext(): SecureContext {
  serverContext ??= createSecureContext({ ...ecPair() });
  return serverContext;
}

interface ManualPairOptions {
  client?: Partial<SessionOptions>;
  server?: Partial<SessionOptions>;
  /** called with each server datagram before it is queued (it may throw: that is the send callback throwing) */
  onServerSend?: (d: Buffer) => void;
}

function manualPair(opts: ManualPairOptions = {}): ManualPair {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const client = new DtlsSession({ role: 'client', rejectUnauthorized: false, ...opts.client, send: (d) => void toServer.push(d) } as SessionOptions);
  const server = new DtlsSession({
    role: 'server',
    context: sharedServerContext(),
    ...opts.server,
    send: (d) => {
      opts.onServerSend?.(d);
      toClient.push(d);
    },
  } as SessionOptions);
  const deliverToServer = (): number => {
    const batch = toServer.splice(0);
    if (batch.length > 0) server.receive(batch);
    return batch.length;
  };
  const deliverToClient = (): number => {
    const batch = toClient.splice(0);
    if (batch.length > 0) client.receive(batch);
    return batch.length;
  };
  return {
    client,
    server,
    toServer,
    toClient,
    deliverToServer,
    deliverToClient,
    pump() {
      for (let i = 0; i < 50; i++) {
        if (deliverToServer() + deliverToClient() === 0) return;
      }
      throw new Error('pump: the sessions were still talking after 50 rounds');
    },
    dispose() {
      client.destroy();
      server.destroy();
    },
  };
}

async function connectedPair(opts?: ManualPairOptions): Promise<ManualPair> {
  const p = manualPair(opts);
  const hs = Promise.all([p.client.handshake(), p.server.handshake()]);
  p.pump();
  await withTimeout(hs, 5000, 'handshake');
  assert.equal(p.client.state, 'connected');
  assert.equal(p.server.state, 'connected');
  return p;
}

/** Rejects after `ms` (and clears its timer either way) so no await can hang the file. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Attaches a handler at once (no unhandled rejection while the test does other things) and resolves with the
 * rejection reason; rejects with an AssertionError when the promise fulfils instead.
 */
function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  return withTimeout(
    promise.then(
      (v) => {
        throw new assert.AssertionError({ message: `${what} resolved (${String(v)}) but was expected to reject` });
      },
      (e: unknown) => e,
    ),
    5000,
    what,
  );
}

function dtlsError(err: unknown, code: string): DtlsError {
  assert.ok(err instanceof DtlsError, `expected a DtlsError, got ${String(err)}`);
  assert.equal(err.code, code);
  return err;
}

/** Active timers (setTimeout/setInterval) of this thread, as Node reports them. */
function timeoutCount(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

// A server datagram from a connected server: the client fed it after close must drop it.
function lateDatagrams(p: ManualPair, n: number): Buffer[] {
  for (let i = 0; i < n; i++) p.server.send(`late ${i}`);
  const out = p.toClient.splice(0);
  assert.equal(out.length, n, 'one datagram per send()');
  return out;
}

for (const how of ['close', 'destroy'] as const) {
  test(`use after ${how}(): send/exportKeyingMaterial throw ERR_DTLS_INVALID_STATE, handshake() rejects ERR_DTLS_CLOSED, getters keep working`, async () => {
    const baseline = binding.liveSessions();
    const p = await connectedPair();
    try {
      assert.equal(binding.liveSessions(), baseline + 2);
      const cipher = p.client.getCipher();
      const protocol = p.client.getProtocol();
      const peerCert = p.client.getPeerCertificate();
      const ekm = p.client.exportKeyingMaterial(32, 'EXTRACTOR-lifetime');
      assert.equal(ekm.length, 32);
      assert.ok(cipher !== undefined && cipher.name.length > 0);
      assert.equal(protocol, 'DTLSv1.2');
      assert.ok(peerCert !== undefined);
      const maxPayload = p.client.maxPayload;
      assert.ok(maxPayload > 0);
      const late = lateDatagrams(p, 3);

      let closes = 0;
      p.client.on('close', () => closes++);
      const messages: Buffer[] = [];
      p.client.on('message', (m) => messages.push(m));
      const statsBefore = p.client.getStats();

      if (how === 'close') {
        assert.equal(await p.client.close(), undefined);
      } else {
        p.client.destroy();
      }
      assert.equal(p.client.state, 'closed');
      assert.equal(closes, 1);
      assert.equal(binding.liveSessions(), baseline + 1, 'the native session is freed at once');

      // close() sends close_notify (one datagram) and the peer closes on it; destroy() sends nothing.
      if (how === 'close') {
        assert.equal(p.toServer.length, 1, 'close() sends one close_notify datagram');
        const serverClosed = new Promise<void>((resolve) => p.server.once('close', resolve));
        p.deliverToServer();
        await withTimeout(serverClosed, 5000, "the server's 'close'");
        assert.equal(p.server.state, 'closed');
      } else {
        assert.equal(p.toServer.length, 0, 'destroy() sends nothing');
      }

      assert.throws(() => p.client.send('after'), (e: unknown) => dtlsError(e, 'ERR_DTLS_INVALID_STATE') !== undefined);
      assert.throws(() => p.client.send(Buffer.from([1, 2, 3])), (e: unknown) => dtlsError(e, 'ERR_DTLS_INVALID_STATE') !== undefined);
      assert.throws(
        () => p.client.exportKeyingMaterial(32, 'EXTRACTOR-lifetime'),
        (e: unknown) => dtlsError(e, 'ERR_DTLS_INVALID_STATE') !== undefined,
      );
      dtlsError(await rejection(p.client.handshake(), 'handshake() after close'), 'ERR_DTLS_CLOSED');

      // Getters answer from what was kept at close time.
      assert.deepEqual(p.client.getCipher(), cipher);
      assert.equal(p.client.getProtocol(), protocol);
      assert.equal(p.client.getPeerCertificate()?.fingerprint256, peerCert.fingerprint256);
      assert.equal(p.client.maxPayload, maxPayload);
      const stats = p.client.getStats();
      assert.equal(stats.datagramsIn, statsBefore.datagramsIn);
      assert.equal(stats.messagesIn, statsBefore.messagesIn);
      assert.ok(stats.datagramsOut >= statsBefore.datagramsOut);
      assert.ok(typeof stats.handshakeMs === 'number' && stats.handshakeMs >= 0);
      const timeline = p.client.timeline();
      assert.ok(timeline.some((e) => e.type === 'message' && e.direction === 'out' && e.message === 'ClientHello'), 'timeline kept the handshake');
      assert.ok(timeline.some((e) => e.type === 'message' && e.direction === 'in' && e.message === 'Finished'));
      const session = p.client.getSession();
      assert.ok(Buffer.isBuffer(session) && session.length > 0, 'getSession() still returns the negotiated session');

      // Late datagrams: a no-op (late datagrams after close are normal on a datagram transport). That they are
      // counted in getStats().dropped is asserted by its own test below.
      assert.doesNotThrow(() => p.client.receive(late[0]!));
      assert.doesNotThrow(() => p.client.receive([late[1]!, late[2]!]));
      assert.deepEqual(messages, [], 'nothing is delivered after close');
      assert.equal(p.client.state, 'closed');

      // Idempotence.
      assert.equal(await p.client.close(), undefined);
      assert.doesNotThrow(() => p.client.destroy());
      assert.doesNotThrow(() => p.client.destroy(new Error('ignored')));
      assert.equal(p.client.state, 'closed');
      assert.equal(closes, 1, "'close' is emitted once");

      // The kept session really resumes (getSession() after close is usable, not just non-empty).
      const r = manualPair({ client: { session } });
      try {
        const hs = Promise.all([r.client.handshake(), r.server.handshake()]);
        r.pump();
        const [info] = await withTimeout(hs, 5000, 'resumed handshake');
        assert.equal(info.resumed, true);
      } finally {
        r.dispose();
      }
    } finally {
      p.dispose();
    }
    assert.equal(binding.liveSessions(), baseline);
  });
}

for (const how of ['close', 'destroy'] as const) {
  test(`receive() after ${how}() is a no-op counted in getStats().dropped`, async () => {
    const p = await connectedPair();
    try {
      const late = lateDatagrams(p, 3);
      const messages: Buffer[] = [];
      p.client.on('message', (m) => messages.push(m));
      if (how === 'close') await p.client.close();
      else p.client.destroy();
      const droppedBefore = p.client.getStats().dropped;
      p.client.receive(late[0]!);
      p.client.receive([late[1]!, late[2]!]);
      assert.deepEqual(messages, []);
      assert.equal(p.client.getStats().dropped, droppedBefore + 3, 'datagrams received after close count in getStats().dropped');
    } finally {
      p.dispose();
    }
  });
}

test('close() mid-handshake (client flight sent, answer not yet delivered): handshake() rejects ERR_DTLS_CLOSED, no timers left', async () => {
  const baseline = binding.liveSessions();
  const timersBefore = timeoutCount();
  const p = manualPair();
  try {
    const clientHs = rejection(p.client.handshake(), 'client handshake()');
    const serverHs = rejection(p.server.handshake(), 'server handshake()');
    assert.ok(p.toServer.length >= 1, "the client's first flight was sent");
    assert.equal(p.client.state, 'connecting');
    // retransmission timer + handshake deadline (client), handshake deadline (server) at least
    assert.ok(timeoutCount() >= timersBefore + 3, `timers are running (${timeoutCount()} vs ${timersBefore})`);
    p.deliverToServer();
    assert.ok(p.toClient.length >= 1, "the server's answer is on its way");

    let closes = 0;
    p.client.on('close', () => closes++);
    await p.client.close();
    dtlsError(await clientHs, 'ERR_DTLS_CLOSED');
    assert.equal(p.client.state, 'closed');
    assert.equal(closes, 1);
    assert.equal(p.toServer.length, 0, 'no close_notify before the handshake completed');

    // The answer arrives after close: ignored without a crash.
    assert.doesNotThrow(() => p.deliverToClient());
    assert.equal(p.client.state, 'closed');

    // The server, waiting for the client's second flight, closes too.
    await p.server.close();
    dtlsError(await serverHs, 'ERR_DTLS_CLOSED');
    assert.equal(p.server.state, 'closed');
    assert.equal(timeoutCount(), timersBefore, 'every retransmission and handshake timer was cleared');
    assert.equal(binding.liveSessions(), baseline);
  } finally {
    p.dispose();
  }
});

test("destroy(new Error('x')) mid-handshake: handshake() rejects with a DtlsError whose cause is x, 'error' listeners get the same object, 'close' is emitted", async () => {
  const baseline = binding.liveSessions();
  const timersBefore = timeoutCount();
  const p = manualPair();
  try {
    const hs = rejection(p.client.handshake(), 'client handshake()');
    p.deliverToServer();
    const errors: unknown[] = [];
    p.client.on('error', (e) => errors.push(e));
    let closes = 0;
    p.client.on('close', () => closes++);
    const x = new Error('x');
    p.client.destroy(x);
    const err = await hs;
    assert.ok(err instanceof DtlsError);
    assert.equal(err.cause, x);
    assert.equal(typeof err.code, 'string');
    assert.match(err.code, /^ERR_/);
    assert.equal(errors.length, 1);
    assert.equal(errors[0], err, "'error' and handshake() carry the same object");
    assert.equal(closes, 1);
    assert.equal(p.client.state, 'failed');
    // A DtlsError passed to destroy() is used as is.
    const own = new DtlsError('mine', { code: 'ERR_DTLS_ABORTED' });
    const serverHs = rejection(p.server.handshake(), 'server handshake()');
    p.server.on('error', () => {});
    p.server.destroy(own);
    assert.equal(await serverHs, own);
    assert.equal(timeoutCount(), timersBefore);
    assert.equal(binding.liveSessions(), baseline);
  } finally {
    p.dispose();
  }
});

for (const how of ['close', 'destroy'] as const) {
  test(`${how}() inside a 'message' listener while a batch of 5 messages is delivered by one receive(): later messages are not delivered`, async () => {
    const p = await connectedPair();
    try {
      const got: string[] = [];
      let closes = 0;
      p.client.on('close', () => closes++);
      p.client.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 2) {
          if (how === 'close') void p.client.close();
          else p.client.destroy();
        }
      });
      for (let i = 0; i < 5; i++) p.server.send(`m${i}`);
      assert.equal(p.toClient.length, 5, 'five datagrams, one per message');
      assert.doesNotThrow(() => p.deliverToClient());
      assert.deepEqual(got, ['m0', 'm1']);
      assert.equal(p.client.state, 'closed');
      assert.equal(closes, 1);
      assert.equal(p.toServer.length, how === 'close' ? 1 : 0, 'close() answers with one close_notify, destroy() with nothing');
      // Nothing more is delivered later either.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(got, ['m0', 'm1']);
    } finally {
      p.dispose();
    }
  });
}

test("destroy() inside a client 'secureConnect' listener: no crash, the session ends closed, handshake() resolves (the handshake did complete)", async () => {
  const baseline = binding.liveSessions();
  const p = manualPair();
  try {
    let closes = 0;
    let connectInfo: unknown;
    p.client.on('close', () => closes++);
    p.client.on('secureConnect', (info) => {
      connectInfo = info;
      p.client.destroy();
    });
    const clientHs = p.client.handshake().then(
      (info) => ({ ok: true as const, info }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const serverHs = p.server.handshake();
    assert.doesNotThrow(() => p.pump());
    assert.equal(p.client.state, 'closed');
    assert.equal(closes, 1);
    assert.ok(connectInfo !== undefined, "'secureConnect' was emitted");
    const serverInfo = await withTimeout(serverHs, 5000, 'server handshake()');
    assert.equal(serverInfo.protocol, 'DTLSv1.2');
    const outcome = await withTimeout(clientHs, 5000, 'client handshake()');
    assert.ok(
      outcome.ok,
      `client handshake() rejected with ${outcome.ok ? '' : (outcome.error as DtlsError).code} although 'secureConnect' was emitted (the handshake completed)`,
    );
    assert.equal(outcome.info, connectInfo);
  } finally {
    p.dispose();
  }
  assert.equal(binding.liveSessions(), baseline);
});

test("destroy() inside a server 'secureConnect' listener: its final flight was already sent, so the client still connects", async () => {
  const p = manualPair();
  try {
    let closes = 0;
    p.server.on('close', () => closes++);
    p.server.on('secureConnect', () => p.server.destroy());
    const clientHs = p.client.handshake();
    void p.server.handshake().catch(() => {});
    assert.doesNotThrow(() => p.pump());
    assert.equal(p.server.state, 'closed');
    assert.equal(closes, 1);
    const info = await withTimeout(clientHs, 5000, 'client handshake()');
    assert.equal(info.protocol, 'DTLSv1.2');
    assert.equal(p.client.state, 'connected');
    // Datagrams to the destroyed server are dropped quietly.
    p.client.send('hello?');
    assert.doesNotThrow(() => p.deliverToServer());
  } finally {
    p.dispose();
  }
});

test('a send callback that throws during the handshake: the session fails with ERR_DTLS_SEND_FAILED (cause is the thrown error), no crash, no timers left', async () => {
  const baseline = binding.liveSessions();
  const timersBefore = timeoutCount();
  const thrown = new Error('transport is gone');
  let calls = 0;
  const s = new DtlsSession({
    role: 'client',
    rejectUnauthorized: false,
    send: () => {
      calls++;
      throw thrown;
    },
  });
  try {
    const closed = new Promise<void>((resolve) => s.once('close', resolve));
    const err = dtlsError(await rejection(s.handshake(), 'handshake()'), 'ERR_DTLS_SEND_FAILED');
    assert.equal(err.cause, thrown);
    await withTimeout(closed, 5000, "'close'");
    assert.equal(s.state, 'failed');
    assert.equal(calls, 1, 'the callback is not called again after it threw');
    assert.equal(timeoutCount(), timersBefore);
    assert.equal(binding.liveSessions(), baseline);
  } finally {
    s.destroy();
  }
});

test("a send callback that throws after the handshake: 'error' gets ERR_DTLS_SEND_FAILED (cause is the thrown error), state 'failed'", async () => {
  const thrown = new TypeError('socket closed');
  let failing = false;
  const p = await connectedPair({
    onServerSend: () => {
      if (failing) throw thrown;
    },
  });
  try {
    const errors: DtlsError[] = [];
    p.server.on('error', (e) => errors.push(e));
    failing = true;
    assert.doesNotThrow(() => p.server.send('boom'));
    assert.equal(errors.length, 1);
    dtlsError(errors[0], 'ERR_DTLS_SEND_FAILED');
    assert.equal(errors[0]!.cause, thrown);
    assert.equal(p.server.state, 'failed');
    assert.throws(() => p.server.send('again'), (e: unknown) => dtlsError(e, 'ERR_DTLS_INVALID_STATE') !== undefined);
  } finally {
    p.dispose();
  }
});

test('an already-aborted AbortSignal: the session fails with ERR_DTLS_ABORTED at once, handshake() rejects, nothing is sent', async () => {
  const baseline = binding.liveSessions();
  const reason = new Error('user went away');
  const ac = new AbortController();
  ac.abort(reason);
  let sent = 0;
  let s: DtlsSession | undefined;
  try {
    assert.doesNotThrow(() => {
      s = new DtlsSession({ role: 'client', rejectUnauthorized: false, signal: ac.signal, send: () => void sent++ });
    }, 'the constructor must not throw: the failure is reported through handshake() / "error"');
    const err = dtlsError(await rejection(s!.handshake(), 'handshake()'), 'ERR_DTLS_ABORTED');
    assert.equal(err.cause, reason);
    assert.equal(s!.state, 'failed');
    assert.equal(sent, 0);
  } finally {
    s?.destroy();
    assert.equal(binding.liveSessions(), baseline, 'no native session is left behind');
  }
});

test('aborting mid-handshake: handshake() rejects ERR_DTLS_ABORTED (cause is the abort reason), timers and the abort listener are removed', async () => {
  const baseline = binding.liveSessions();
  const timersBefore = timeoutCount();
  const ac = new AbortController();
  const p = manualPair({ client: { signal: ac.signal } });
  try {
    const hs = rejection(p.client.handshake(), 'handshake()');
    p.deliverToServer();
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    const reason = new Error('changed my mind');
    ac.abort(reason);
    const err = dtlsError(await hs, 'ERR_DTLS_ABORTED');
    assert.equal(err.cause, reason);
    assert.equal(p.client.state, 'failed');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    p.server.destroy();
    assert.equal(timeoutCount(), timersBefore);
    assert.equal(binding.liveSessions(), baseline);
  } finally {
    p.dispose();
  }
});

test('a session with a signal that closes normally removes its abort listener; a later abort does nothing', async () => {
  const ac = new AbortController();
  const p = await connectedPair({ client: { signal: ac.signal } });
  try {
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    await p.client.close();
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    const errors: unknown[] = [];
    p.client.on('error', (e) => errors.push(e));
    ac.abort();
    assert.equal(p.client.state, 'closed');
    assert.deepEqual(errors, []);
  } finally {
    p.dispose();
  }
});

test("a handshake failure with an 'error' listener and a handshake() promise: both get the same DtlsError, on both sides", async () => {
  // The client verifies (rejectUnauthorized: true) a self-signed server certificate: it sends a fatal alert.
  const p = manualPair({ client: { rejectUnauthorized: true } });
  try {
    const clientErrors: DtlsError[] = [];
    const serverErrors: DtlsError[] = [];
    p.client.on('error', (e) => clientErrors.push(e));
    p.server.on('error', (e) => serverErrors.push(e));
    const clientHs = rejection(p.client.handshake(), 'client handshake()');
    const serverHs = rejection(p.server.handshake(), 'server handshake()');
    p.pump();
    const ce = dtlsError(await clientHs, 'ERR_DTLS_ALERT_SENT');
    const se = dtlsError(await serverHs, 'ERR_DTLS_ALERT_RECEIVED');
    assert.equal(clientErrors.length, 1);
    assert.equal(clientErrors[0], ce);
    assert.equal(serverErrors.length, 1);
    assert.equal(serverErrors[0], se);
    assert.equal(ce.alert?.direction, 'sent');
    assert.equal(ce.alert?.level, 'fatal');
    assert.equal(se.alert?.direction, 'received');
    assert.equal(se.alert?.description, ce.alert?.description);
    assert.equal(p.client.state, 'failed');
    assert.equal(p.server.state, 'failed');
    // The failed handshake is remembered: a later handshake() rejects with the same object.
    assert.equal(await rejection(p.client.handshake(), 'handshake() after failure'), ce);
  } finally {
    p.dispose();
  }
});

test('binding.liveSessions() returns to its previous value once sessions in every state are closed or destroyed', async () => {
  const baseline = binding.liveSessions();
  // new (never started), both roles
  const idle = [
    new DtlsSession({ role: 'client', rejectUnauthorized: false, send: () => {} }),
    new DtlsSession({ role: 'server', context: sharedServerContext(), send: () => {} }),
  ];
  // connecting
  const mid = manualPair();
  const midHs = [rejection(mid.client.handshake(), 'mid client'), rejection(mid.server.handshake(), 'mid server')];
  mid.deliverToServer();
  // connected
  const up = await connectedPair();
  // failed (handshake failure)
  const bad = manualPair({ client: { rejectUnauthorized: true } });
  bad.client.on('error', () => {});
  bad.server.on('error', () => {});
  const badHs = [rejection(bad.client.handshake(), 'bad client'), rejection(bad.server.handshake(), 'bad server')];
  bad.pump();
  await Promise.all(badHs);
  assert.equal(bad.client.state, 'failed');
  assert.equal(binding.liveSessions(), baseline + 6, 'failed sessions are freed at once; the other six are live');

  await idle[0]!.close();
  idle[1]!.destroy();
  await mid.client.close();
  mid.server.destroy(new Error('gone'));
  await Promise.all(midHs);
  await up.client.close();
  up.deliverToServer();
  assert.equal(up.server.state, 'closed', "the server closed on the client's close_notify");
  assert.equal(binding.liveSessions(), baseline);
  for (const p of [mid, up, bad]) p.dispose();
  for (const s of idle) s.destroy();
  assert.equal(binding.liveSessions(), baseline);
});

test('SecureContext.sessionCount follows the sessions on it through close, destroy and failure', async () => {
  const ctx = createSecureContext({ rejectUnauthorized: false });
  const sessions = Array.from({ length: 4 }, () => new DtlsSession({ role: 'client', context: ctx, send: () => undefined }));
  assert.equal(ctx.sessionCount, 4);
  await sessions[0]!.close();
  sessions[1]!.destroy();
  let seen: unknown;
  sessions[2]!.on('error', (e) => (seen = e));
  sessions[2]!.destroy(new Error('gone'));
  assert.ok(seen instanceof DtlsError);
  assert.equal(ctx.sessionCount, 1);
  sessions[3]!.destroy();
  assert.equal(ctx.sessionCount, 0);
});

test('binding.step(id): a destroyed session\'s id is refused, also once its table slot serves a new session', () => {
  const ctx = sharedServerContext();
  const options = { server: true, mtu: 1200, rejectUnauthorized: false, requestCert: false, cookieExchange: false, schedule: [100], keylog: false };
  const a = new binding.SessionHandle(nativeContextOf(ctx), options);
  const id = a.stepId();
  assert.equal(binding.step(id, null, null, 0), undefined, 'a live id steps');
  a.destroy();
  assert.throws(() => binding.step(id, null, null, 0), { code: 'ERR_DTLS_INVALID_STATE' });
  // The freed slot is reused by the next session: the stale id still names the destroyed one.
  const b = new binding.SessionHandle(nativeContextOf(ctx), options);
  const idB = b.stepId();
  assert.equal(idB % 2 ** 32, id % 2 ** 32, 'same slot');
  assert.notEqual(idB, id);
  assert.throws(() => binding.step(id, null, null, 0), { code: 'ERR_DTLS_INVALID_STATE' });
  assert.equal(binding.step(idB, null, null, 0), undefined);
  for (const bad of [-1, 2 ** 52, 'x', undefined]) assert.throws(() => binding.step(bad as never, null, null, 0), { code: 'ERR_DTLS_INVALID_STATE' });
  b.destroy();
  assert.throws(() => a.stepId(), { code: 'ERR_DTLS_INVALID_STATE' });
});
