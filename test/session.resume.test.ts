// Session resumption (getSession() / the `session` option) and the in-session cookie exchange
// (cookieExchange: HelloVerifyRequest with an HMAC cookie bound to `peer`).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { createSecureContext, DtlsError, DtlsSession, fingerprint, type DtlsAlert, type SecureContext } from '../lib/index.js';
import { caCert, clientPair, ecPair, rsa2048Pair, serverPair } from './support/fixtures';
import { handshakeTypes, HandshakeType, parseRecords } from './support/lossy-link';
import { makePair, nextEvent, type Pair, type PairOptions } from './support/pair';
import { withTimeout } from './support/peers';

const LIMIT_MS = 10_000;

function pair(opts: PairOptions): Pair & { alerts: DtlsAlert[]; errors: Error[] } {
  const p = makePair({
    ...opts,
    client: { handshakeTimeout: LIMIT_MS, ...opts.client },
    server: { handshakeTimeout: LIMIT_MS, ...opts.server },
  });
  const alerts: DtlsAlert[] = [];
  const errors: Error[] = [];
  for (const s of [p.client, p.server]) {
    s.on('alert', (a) => alerts.push(a));
    s.on('error', (e) => errors.push(e));
  }
  return Object.assign(p, { alerts, errors });
}

function handshake(p: Pair): ReturnType<Pair['handshake']> {
  return withTimeout(p.handshake(), LIMIT_MS + 2000, 'handshake');
}

/** A full handshake on the shared contexts; returns the session Buffer and the datagram count. */
async function firstConnection(clientCtx: SecureContext, serverCtx: SecureContext): Promise<{ session: Buffer; datagrams: number; cipher: string }> {
  const p = pair({ client: { context: clientCtx }, server: { context: serverCtx } });
  try {
    const [c, s] = await handshake(p);
    assert.equal(c.resumed, false, 'first connection: client resumed');
    assert.equal(s.resumed, false, 'first connection: server resumed');
    const session = p.client.getSession();
    assert.ok(Buffer.isBuffer(session) && session.length > 0, 'getSession() returns a Buffer once connected');
    const datagrams = p.clientOut.length + p.serverOut.length;
    // Close both ends properly: close_notify from the client, the server answers it and closes.
    const serverClosed = nextEvent(p.server, 'close', LIMIT_MS);
    await p.client.close();
    await serverClosed;
    assert.equal(p.client.state, 'closed');
    assert.equal(p.server.state, 'closed');
    const after = p.client.getSession();
    assert.ok(Buffer.isBuffer(after), 'getSession() still returns a Buffer after close()');
    assert.ok(after.equals(session), 'the cached session is the one from the connection');
    assert.deepEqual(p.errors, []);
    return { session, datagrams, cipher: c.cipher.name };
  } finally {
    p.dispose();
  }
}

// ------------------------------------------------------------------------------------------ resumption

test('resumption on shared contexts: resumed on both sides, with fewer datagrams than the full handshake', async () => {
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const serverCtx = createSecureContext({ ...ecPair() });
  const first = await firstConnection(clientCtx, serverCtx);

  const p = pair({ client: { context: clientCtx, session: first.session }, server: { context: serverCtx } });
  try {
    const [c, s] = await handshake(p);
    assert.equal(c.resumed, true, 'client resumed');
    assert.equal(s.resumed, true, 'server resumed');
    assert.equal(c.cipher.name, first.cipher, 'same suite as the resumed session');
    const datagrams = p.clientOut.length + p.serverOut.length;
    assert.ok(datagrams < first.datagrams, `resumed handshake used ${datagrams} datagrams, full one ${first.datagrams}`);
    // An abbreviated handshake: the server sends no Certificate.
    assert.ok(!p.serverOut.some((d) => handshakeTypes(d).includes(HandshakeType.Certificate)), 'no Certificate in a resumed handshake');
    const got = nextEvent<Buffer>(p.server, 'message');
    p.client.send('resumed');
    assert.equal((await got).toString(), 'resumed');
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.alerts, []);
  } finally {
    p.dispose();
  }
});

test('a garbage session Buffer is a DtlsError at construction, not a crash', async () => {
  const p = pair({});
  let real: Buffer;
  try {
    await handshake(p);
    real = p.client.getSession()!;
  } finally {
    p.dispose();
  }
  const bad: Array<[string, Buffer]> = [
    ['text', Buffer.from('garbage')],
    ['empty', Buffer.alloc(0)],
    ['truncated', real.subarray(0, real.length >> 1)],
    ['tiny DER', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])],
  ];
  for (const [what, session] of bad) {
    assert.throws(
      () => new DtlsSession({ role: 'client', rejectUnauthorized: false, session, send: () => {} }),
      (err: unknown) => {
        assert.ok(err instanceof DtlsError, `${what}: ${String(err)}`);
        assert.ok(err.opensslErrors.length > 0, `${what}: carries the OpenSSL entries`);
        assert.equal(err.library, 'asn1 encoding routines', `${what}: library`);
        assert.match(err.code, /^ERR_OSSL_ASN1_/, `${what}: code`);
        return true;
      },
      what,
    );
  }
});

for (const ems of [true, false]) {
  test(`resumption with extendedMasterSecret ${ems ? 'on' : 'off'} on both sides`, async () => {
    const clientCtx = createSecureContext({ rejectUnauthorized: false, extendedMasterSecret: ems });
    const serverCtx = createSecureContext({ ...ecPair(), extendedMasterSecret: ems });
    const first = await firstConnection(clientCtx, serverCtx);
    const p = pair({ client: { context: clientCtx, session: first.session }, server: { context: serverCtx } });
    try {
      const [c, s] = await handshake(p);
      assert.equal(c.resumed, true);
      assert.equal(s.resumed, true);
      assert.equal(c.extendedMasterSecret, ems, 'client: EMS on the resumed connection');
      assert.equal(s.extendedMasterSecret, ems, 'server: EMS on the resumed connection');
      assert.deepEqual(p.alerts, []);
    } finally {
      p.dispose();
    }
  });
}

test('a session from a different server context (different certificate): full handshake, no failure', async () => {
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const first = await firstConnection(clientCtx, createSecureContext({ ...ecPair() }));
  const other = createSecureContext({ ...rsa2048Pair() });
  const p = pair({ client: { context: clientCtx, session: first.session }, server: { context: other } });
  try {
    const [c, s] = await handshake(p);
    assert.equal(c.resumed, false);
    assert.equal(s.resumed, false);
    assert.ok(p.serverOut.some((d) => handshakeTypes(d).includes(HandshakeType.Certificate)), 'a full handshake sends the Certificate');
    assert.equal(c.peerCertificate?.subject, 'CN=rsa2048.test');
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.alerts, []);
  } finally {
    p.dispose();
  }
});

// ------------------------------------------------------------- resumption must not bypass peer checks

/** Settles both handshakes; for tests where one side must refuse to connect. */
async function settle(p: Pair): Promise<[PromiseSettledResult<unknown>, PromiseSettledResult<unknown>]> {
  const [c, s] = await Promise.allSettled([
    withTimeout(p.client.handshake(), LIMIT_MS + 2000, 'client handshake'),
    withTimeout(p.server.handshake(), LIMIT_MS + 2000, 'server handshake'),
  ]);
  return [c, s];
}

function describeOutcome(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'rejected') return `rejected ${(r.reason as DtlsError).code}`;
  const info = r.value as { resumed: boolean; peerCertificate?: { subject: string } };
  return `connected (resumed ${info.resumed}, peer ${info.peerCertificate?.subject ?? 'none'})`;
}

test('resuming with the matching remoteFingerprints works', async () => {
  const serverCtx = createSecureContext({ ...ecPair() });
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const fp = [{ algorithm: 'sha-256' as const, value: fingerprint(ecPair().cert) }];
  const p1 = pair({ client: { context: clientCtx, remoteFingerprints: fp }, server: { context: serverCtx } });
  let session: Buffer;
  try {
    await handshake(p1);
    session = p1.client.getSession()!;
  } finally {
    p1.dispose();
  }
  const p2 = pair({ client: { context: clientCtx, session, remoteFingerprints: fp }, server: { context: serverCtx } });
  try {
    const [c] = await handshake(p2);
    assert.equal(c.resumed, true);
    assert.ok(c.peerCertificate !== undefined && fingerprint(c.peerCertificate) === fp[0]!.value);
  } finally {
    p2.dispose();
  }
});

test('client: resuming a session does not bypass remoteFingerprints (fail closed)', async () => {
  // The session was made with a server whose certificate is ecPair(); the new connection expects another
  // certificate. A resumed handshake has no Certificate message, so the verify callback never runs: the
  // fingerprint must still be checked against the session's peer certificate.
  const serverCtx = createSecureContext({ ...ecPair() });
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const first = await firstConnection(clientCtx, serverCtx);
  const p = pair({
    client: { context: clientCtx, session: first.session, remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(rsa2048Pair().cert) }] },
    server: { context: serverCtx },
  });
  try {
    const [c] = await settle(p);
    assert.equal(c.status, 'rejected', `client: ${describeOutcome(c)}; expected ERR_DTLS_FINGERPRINT_MISMATCH`);
    assert.equal((c.reason as DtlsError).code, 'ERR_DTLS_FINGERPRINT_MISMATCH');
  } finally {
    p.dispose();
  }
});

test('server: a client resuming a session ticket does not bypass the server remoteFingerprints (fail closed)', async () => {
  // WebRTC-style server: one context for all calls, per-call expected client fingerprint. A client that
  // authenticated with clientPair() on an earlier call must not skip the check on a call that expects another
  // certificate by presenting its old ticket.
  const serverCtx = createSecureContext({ ...ecPair() });
  const clientCtx = createSecureContext({ rejectUnauthorized: false, ...clientPair() });
  const p1 = pair({
    client: { context: clientCtx },
    server: { context: serverCtx, remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(clientPair().cert) }] },
  });
  let session: Buffer;
  try {
    await handshake(p1);
    session = p1.client.getSession()!;
  } finally {
    p1.dispose();
  }
  const p2 = pair({
    client: { context: clientCtx, session },
    server: { context: serverCtx, remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(rsa2048Pair().cert) }] },
  });
  try {
    const [, s] = await settle(p2);
    assert.equal(s.status, 'rejected', `server: ${describeOutcome(s)}; expected ERR_DTLS_FINGERPRINT_MISMATCH`);
    assert.equal((s.reason as DtlsError).code, 'ERR_DTLS_FINGERPRINT_MISMATCH');
  } finally {
    p2.dispose();
  }
});

test('client: resuming a session accepted with rejectUnauthorized: false does not bypass chain verification', async () => {
  const serverCtx = createSecureContext({ ...ecPair() }); // self-signed: unknown_ca (18) for a verifying client
  const first = await firstConnection(createSecureContext({ rejectUnauthorized: false }), serverCtx);
  const p = pair({
    client: { session: first.session, rejectUnauthorized: undefined, ca: caCert() },
    server: { context: serverCtx },
  });
  try {
    const [c] = await settle(p);
    assert.equal(c.status, 'rejected', `client: ${describeOutcome(c)}; a verifying client must not accept the unverified session`);
    assert.ok(c.reason instanceof DtlsError);
  } finally {
    p.dispose();
  }
});

test("client: resuming a session does not bypass the servername check", async () => {
  const serverCtx = createSecureContext({ ...serverPair() }); // CN/SAN localhost, signed by the test CA
  const clientCtx = createSecureContext({ ca: caCert() });
  const p1 = pair({ client: { context: clientCtx, rejectUnauthorized: undefined, servername: 'localhost' }, server: { context: serverCtx } });
  let session: Buffer;
  try {
    await handshake(p1);
    session = p1.client.getSession()!;
  } finally {
    p1.dispose();
  }
  const p2 = pair({
    client: { context: clientCtx, rejectUnauthorized: undefined, servername: 'other.test', session },
    server: { context: serverCtx },
  });
  try {
    const [c] = await settle(p2);
    assert.equal(c.status, 'rejected', `client: ${describeOutcome(c)}; 'other.test' does not match the certificate`);
    assert.ok(c.reason instanceof DtlsError);
  } finally {
    p2.dispose();
  }
});

// --------------------------------------------------------------------------------------- cookie exchange

const PEER_5000 = { address: '127.0.0.1', port: 5000 };

/** The cookie of a ClientHello datagram (one plaintext handshake record holding one ClientHello). */
function clientHelloCookie(dgram: Buffer): Buffer {
  const [rec] = parseRecords(dgram);
  assert.ok(rec !== undefined && rec.type === 22 && rec.epoch === 0);
  const body = rec.body;
  assert.equal(body[0], HandshakeType.ClientHello);
  let off = 12 + 2 + 32; // handshake header, client_version, random
  off += 1 + body[off]!; // session_id
  const len = body[off]!;
  return body.subarray(off + 1, off + 1 + len);
}

test('cookieExchange: the first answer is a HelloVerifyRequest and the handshake completes', async () => {
  const p = pair({ server: { cookieExchange: true, peer: PEER_5000 } });
  try {
    await handshake(p);
    assert.deepEqual(handshakeTypes(p.serverOut[0]!), [HandshakeType.HelloVerifyRequest]);
    assert.deepEqual(handshakeTypes(p.clientOut[0]!), [HandshakeType.ClientHello]);
    assert.deepEqual(handshakeTypes(p.clientOut[1]!), [HandshakeType.ClientHello]);
    assert.equal(clientHelloCookie(p.clientOut[0]!).length, 0, 'the first ClientHello has no cookie');
    assert.ok(clientHelloCookie(p.clientOut[1]!).length > 0, 'the second ClientHello carries the cookie');
    assert.ok(p.serverOut[1] !== undefined && handshakeTypes(p.serverOut[1]).includes(HandshakeType.ServerHello));
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.alerts, []);
  } finally {
    p.dispose();
  }
});

test('cookieExchange: a lost HelloVerifyRequest is recovered by retransmission', async () => {
  let dropped = 0;
  const p = pair({
    client: { retransmitTimeout: 20 },
    server: { cookieExchange: true, peer: PEER_5000 },
    link: {
      seed: 1,
      drop: (d, _i, dir) => {
        if (dir === 'b->a' && dropped === 0 && handshakeTypes(d).includes(HandshakeType.HelloVerifyRequest)) {
          dropped++;
          return true;
        }
        return false;
      },
    },
  });
  try {
    await handshake(p);
    assert.equal(dropped, 1);
    const hvrs = p.serverOut.filter((d) => handshakeTypes(d).includes(HandshakeType.HelloVerifyRequest));
    assert.equal(hvrs.length, 2, 'the server answered the retransmitted ClientHello with a new HelloVerifyRequest');
    assert.ok(p.client.getStats().retransmits >= 1, 'the client retransmitted its ClientHello');
    assert.deepEqual(p.errors, []);
  } finally {
    p.dispose();
  }
});

test('a ClientHello with the cookie of peer port 5000, replayed to a server session for port 5001', async () => {
  const serverCtx = createSecureContext({ ...ecPair() });
  const p = pair({ server: { context: serverCtx, cookieExchange: true, peer: PEER_5000 } });
  let hello2: Buffer;
  try {
    await handshake(p);
    hello2 = Buffer.from(p.clientOut[1]!);
  } finally {
    p.dispose();
  }
  assert.ok(clientHelloCookie(hello2).length > 0);
  assert.equal(parseRecords(hello2)[0]!.body.readUInt16BE(4), 1, 'ClientHello#2 has message_seq 1');

  /** A fresh server session (same context, so the same cookie secret) fed one datagram. */
  const feed = async (port: number, dgram: Buffer) => {
    const out: Buffer[] = [];
    const alerts: DtlsAlert[] = [];
    const errors: DtlsError[] = [];
    const s = new DtlsSession({ role: 'server', context: serverCtx, cookieExchange: true, peer: { address: '127.0.0.1', port }, handshakeTimeout: LIMIT_MS, send: (d) => out.push(d) });
    s.on('alert', (a) => alerts.push(a));
    s.on('error', (e) => errors.push(e));
    const done = s.handshake().then(
      () => 'connected',
      (e: DtlsError) => e,
    );
    s.receive(dgram);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const state = s.state;
    const stats = s.getStats();
    s.destroy();
    return { out, alerts, errors, state, stats, result: await done };
  };

  // 1. Verbatim replay: a ClientHello with message_seq 1 is a "future" message for a session that never
  //    sent a HelloVerifyRequest (no DTLSv1_listen state). OpenSSL buffers it: no answer, no alert, no error.
  const verbatim = await feed(5001, hello2);
  assert.deepEqual(verbatim.out, [], 'verbatim replay: nothing is sent (no HelloVerifyRequest, no alert)');
  assert.deepEqual(verbatim.alerts, []);
  assert.deepEqual(verbatim.errors, []);
  assert.equal(verbatim.state, 'connecting');
  assert.equal(verbatim.stats.datagramsIn, 1);
  assert.ok(verbatim.result instanceof DtlsError && verbatim.result.code === 'ERR_DTLS_CLOSED', 'pending until destroyed');

  // 2. The same ClientHello with message_seq 0 reaches the cookie check and fails it for port 5001.
  const seq0 = Buffer.from(hello2);
  seq0.writeUInt16BE(0, 13 + 4);
  const replayed = await feed(5001, seq0);
  assert.equal(replayed.state, 'failed');
  assert.equal(replayed.out.length, 1, 'one datagram: the alert');
  assert.deepEqual(parseRecords(replayed.out[0]!).map((r) => r.type), [21]);
  assert.equal(replayed.alerts.length, 1);
  const alert = replayed.alerts[0]!;
  assert.equal(alert.direction, 'sent');
  assert.equal(alert.level, 'fatal');
  assert.equal(alert.description, 'handshake_failure');
  assert.equal(alert.code, 40);
  assert.deepEqual(
    alert.opensslErrors.map((e) => [e.library, e.function, e.reason]),
    [['SSL routines', 'tls_early_post_process_client_hello', 'cookie mismatch']],
  );
  assert.ok(alert.opensslErrors[0]!.file.endsWith('ssl/statem/statem_srvr.c'));
  assert.equal(alert.explanation.path, 'tls_early_post_process_client_hello');
  assert.equal(alert.lastMessageReceived, 'ClientHello');
  assert.ok(replayed.result instanceof DtlsError);
  assert.equal(replayed.result.code, 'ERR_DTLS_ALERT_SENT');
  assert.equal(replayed.result.reason, 'cookie mismatch');

  // 3. Control: the same seq-0 ClientHello for the port the cookie was made for passes the check.
  const control = await feed(5000, seq0);
  assert.deepEqual(control.alerts, []);
  assert.deepEqual(control.errors, []);
  assert.ok(control.out.length > 0 && handshakeTypes(control.out[0]!).includes(HandshakeType.ServerHello), 'the cookie is accepted: ServerHello');
});
