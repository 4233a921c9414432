// Fingerprints for WebRTC: localFingerprints()/parseSdpFingerprint() in SDP form, remote fingerprints that
// fail closed, fingerprints that arrive after the handshake (awaitRemoteFingerprints: nothing delivered,
// nothing sent, no keys until they match; a late mismatch fails the session), and generated certificates.
// In-handshake checks (alerts, verify result 50, paths) are covered in session.alerts.test.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';

import { DtlsSession, fingerprint, generateCertificate, localFingerprints, parseSdpFingerprint, type DtlsError, type HandshakeInfo } from '../lib/index.js';
import { clientPair, ecPair, rsa2048Pair } from './support/fixtures';
import { makePair, nextEvent, type Pair, type PairOptions } from './support/pair';

const VALUE = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };
const INVALID_STATE = { code: 'ERR_DTLS_INVALID_STATE' };
const SRTP = ['SRTP_AEAD_AES_128_GCM'] as const;

/** sha-256 SDP fingerprint list of a PEM certificate */
const fps = (cert: string) => [{ algorithm: 'sha-256' as const, value: fingerprint(cert) }];

/** Settles `p` into { ok, value | error } without an unhandled rejection. */
function settle<T>(p: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: DtlsError } = { settled: false };
  const done = p.then(
    (v) => Object.assign(state, { settled: true, value: v }),
    (e: DtlsError) => Object.assign(state, { settled: true, error: e }),
  );
  return { state, done };
}

/** Delivery in support/pair.ts is one setImmediate per datagram: a few turns let everything in flight land. */
async function drain(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/** Waits (bounded) until the session's native layer has read `n` application messages. */
async function untilRead(s: DtlsSession, n: number): Promise<void> {
  for (let i = 0; i < 200 && s.getStats().messagesIn < n; i++) await new Promise((r) => setImmediate(r));
  assert.equal(s.getStats().messagesIn, n, 'messages read by OpenSSL');
}

function collect(s: DtlsSession): Buffer[] {
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  return got;
}

async function withPendingServer(extra: PairOptions, fn: (p: Pair, server: ReturnType<typeof settle<HandshakeInfo>>) => Promise<void>): Promise<void> {
  const p = makePair({
    ...extra,
    client: { ...clientPair(), remoteFingerprints: fps(ecPair().cert), ...extra.client },
    server: { awaitRemoteFingerprints: true, ...extra.server },
  });
  try {
    const server = settle(p.server.handshake());
    await p.client.handshake();
    await fn(p, server);
  } finally {
    p.dispose();
  }
}

// ------------------------------------------------------------------------------------------ SDP form

test('localFingerprints: sha-256, sha-384, sha-512, sha-1 of the DER certificate, uppercase hex pairs (SDP a=fingerprint)', () => {
  const { cert } = ecPair();
  const x509 = new X509Certificate(cert);
  // The DER straight from the PEM, hashed here (not through the library).
  const der = Buffer.from(cert.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const hex = (alg: string) => createHash(alg).update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
  const list = localFingerprints(cert);
  assert.deepEqual(list.map((f) => f.algorithm), ['sha-256', 'sha-384', 'sha-512', 'sha-1']);
  assert.deepEqual(list, [
    { algorithm: 'sha-256', value: x509.fingerprint256 },
    { algorithm: 'sha-384', value: hex('sha384') },
    { algorithm: 'sha-512', value: x509.fingerprint512 },
    { algorithm: 'sha-1', value: x509.fingerprint },
  ]);
  for (const f of list) assert.match(`a=fingerprint:${f.algorithm} ${f.value}`, /^a=fingerprint:sha-(1|256|384|512) ([0-9A-F]{2}:)+[0-9A-F]{2}$/);
  assert.deepEqual(localFingerprints(x509, ['sha-1']), [{ algorithm: 'sha-1', value: fingerprint(cert, 'sha-1') }]);
  assert.throws(() => localFingerprints(cert, ['md5' as never]), VALUE);
});

test('parseSdpFingerprint: with or without "a=fingerprint:", hash name case-insensitive; malformed input throws', () => {
  const value = fingerprint(ecPair().cert);
  assert.deepEqual(parseSdpFingerprint(`sha-256 ${value}`), { algorithm: 'sha-256', value });
  assert.deepEqual(parseSdpFingerprint(`a=fingerprint:SHA-256 ${value.toLowerCase()}`), { algorithm: 'sha-256', value });
  for (const bad of ['', 'sha-256', `md5 ${value}`, `sha-256 ${value.slice(3)}`, `sha-1 ${value}`, `sha-256 ${value} extra`]) {
    assert.throws(() => parseSdpFingerprint(bad), VALUE, JSON.stringify(bad));
  }
});

test('remote fingerprints fail closed: an empty list matches nothing', async () => {
  const p = makePair({ client: { remoteFingerprints: [] } });
  try {
    const [c] = await Promise.allSettled([p.client.handshake(), p.server.handshake()]);
    assert.equal(c.status, 'rejected');
    assert.equal((c as PromiseRejectedResult).reason.code, 'ERR_DTLS_FINGERPRINT_MISMATCH');
    assert.deepEqual((c as PromiseRejectedResult).reason.verifyResult, { code: 50, message: 'application verification failure' });
  } finally {
    p.dispose();
  }
});

// ------------------------------------------------------------------------ fingerprints after the handshake

test('awaitRemoteFingerprints (server): after the handshake nothing is delivered, sent or exported until setRemoteFingerprints() matches', async () => {
  await withPendingServer({ client: { srtpProfiles: [...SRTP] }, server: { srtpProfiles: [...SRTP] } }, async (p, server) => {
    const got = collect(p.server);
    const connects: unknown[] = [];
    p.server.on('secureConnect', (i) => connects.push(i));
    p.client.send('early');
    await untilRead(p.server, 1);
    // The DTLS handshake is done on both sides; the server is still waiting for the fingerprints.
    assert.equal(p.client.state, 'connected');
    assert.equal(p.server.state, 'connecting');
    assert.equal(server.state.settled, false, 'handshake() pending');
    assert.deepEqual(got, [], 'not delivered');
    assert.deepEqual(connects, []);
    assert.throws(() => p.server.send('too early'), INVALID_STATE);
    assert.throws(() => p.server.exportKeyingMaterial(16, 'EXTRACTOR-dtls_srtp'), INVALID_STATE);
    assert.equal(p.server.getSrtpKeys(), undefined, 'no SRTP keys before verification');
    assert.equal(p.server.getPeerCertificate(), undefined);
    assert.equal(p.server.getCipher(), undefined);

    p.server.setRemoteFingerprints(fps(clientPair().cert));
    assert.equal(p.server.state, 'connected');
    assert.equal(connects.length, 1, "'secureConnect' once verified");
    assert.deepEqual(got.map(String), ['early'], 'the held message is delivered, in order');
    await server.done;
    assert.equal(server.state.error, undefined);
    assert.equal(server.state.value?.peerCertificate?.fingerprint256, fingerprint(clientPair().cert));
    assert.deepEqual(p.server.getSrtpKeys()?.localKey, p.client.getSrtpKeys()?.remoteKey);

    const reply = nextEvent<Buffer>(p.client, 'message');
    p.server.send('now');
    assert.equal(String(await reply), 'now');
  });
});

test('awaitRemoteFingerprints (server): a late mismatch fails the session with ERR_DTLS_FINGERPRINT_MISMATCH, drops what was held, and closes the peer', async () => {
  await withPendingServer({}, async (p, server) => {
    const got = collect(p.server);
    const clientClosed = nextEvent(p.client, 'close');
    p.client.send('early');
    await untilRead(p.server, 1);
    p.server.setRemoteFingerprints(fps(rsa2048Pair().cert));
    await server.done;
    assert.equal(server.state.error?.code, 'ERR_DTLS_FINGERPRINT_MISMATCH');
    assert.equal(p.server.state, 'failed');
    assert.deepEqual(got, []);
    await clientClosed;
    assert.equal(p.client.state, 'closed', 'our close_notify reached the peer');
  });
});

test('awaitRemoteFingerprints: fingerprints that never come fail the session at handshakeTimeout', async () => {
  await withPendingServer({ server: { handshakeTimeout: 300 } }, async (p, server) => {
    const clientClosed = nextEvent(p.client, 'close', 5000);
    await server.done;
    assert.equal(server.state.error?.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
    assert.equal(p.server.state, 'failed');
    await clientClosed;
  });
});

test('awaitRemoteFingerprints: at most 32 messages are held; the rest are dropped and counted', async () => {
  await withPendingServer({}, async (p) => {
    const got = collect(p.server);
    for (let i = 0; i < 40; i++) p.client.send(`m${i}`);
    await untilRead(p.server, 40);
    p.server.setRemoteFingerprints(fps(clientPair().cert));
    assert.deepEqual(got.map(String), Array.from({ length: 32 }, (_, i) => `m${i}`));
    assert.ok(p.server.getStats().dropped >= 8, `dropped ${p.server.getStats().dropped}`);
  });
});

test('awaitRemoteFingerprints (client): the same for a DTLS client; close() while waiting sends close_notify', async () => {
  const p = makePair({ client: { awaitRemoteFingerprints: true } });
  try {
    const client = settle(p.client.handshake());
    await p.server.handshake();
    const got = collect(p.client);
    p.server.send('hello');
    await untilRead(p.client, 1);
    assert.equal(p.client.state, 'connecting');
    assert.deepEqual(got, []);
    p.client.setRemoteFingerprints(localFingerprints(ecPair().cert));
    await client.done;
    assert.equal(p.client.state, 'connected');
    assert.deepEqual(got.map(String), ['hello']);
  } finally {
    p.dispose();
  }
  const q = makePair({ client: { awaitRemoteFingerprints: true } });
  try {
    const client = settle(q.client.handshake());
    await q.server.handshake();
    await drain();
    const serverClosed = nextEvent(q.server, 'close');
    await q.client.close();
    await client.done;
    assert.equal(client.state.error?.code, 'ERR_DTLS_CLOSED');
    await serverClosed;
    assert.equal(q.server.state, 'closed');
  } finally {
    q.dispose();
  }
});

test('awaitRemoteFingerprints: fingerprints given before the certificate arrives are checked inside the handshake (handshake_failure, verify result 50)', async () => {
  const p = makePair({ client: { awaitRemoteFingerprints: true } });
  try {
    p.client.setRemoteFingerprints(fps(rsa2048Pair().cert));
    const alerts: string[] = [];
    p.client.on('alert', (a) => alerts.push(`${a.direction} ${a.description}`));
    const [c] = await Promise.allSettled([p.client.handshake(), p.server.handshake()]);
    assert.equal(c.status, 'rejected');
    assert.equal((c as PromiseRejectedResult).reason.code, 'ERR_DTLS_FINGERPRINT_MISMATCH');
    assert.deepEqual((c as PromiseRejectedResult).reason.verifyResult, { code: 50, message: 'application verification failure' });
    assert.deepEqual(alerts, ['sent handshake_failure']);
  } finally {
    p.dispose();
  }
});

test('setRemoteFingerprints() after the certificate was checked but before the handshake ends: the new list decides (fail closed)', async () => {
  // Wired by hand so the call lands between the client's processing of the server flight and the Finished.
  for (const initial of [fps(ecPair().cert), undefined]) {
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const client = new DtlsSession({ role: 'client', rejectUnauthorized: false, ...(initial ? { remoteFingerprints: initial } : {}), send: (d) => toServer.push(d) });
    const server = new DtlsSession({ role: 'server', ...ecPair(), send: (d) => toClient.push(d) });
    try {
      const c = settle(client.handshake());
      const s = settle(server.handshake());
      server.receive(toServer.splice(0)); // ClientHello
      client.receive(toClient.splice(0)); // ServerHello .. ServerHelloDone: the certificate is checked here
      assert.ok(toServer.length > 0, 'the client answered with its second flight');
      client.setRemoteFingerprints(fps(rsa2048Pair().cert));
      server.receive(toServer.splice(0)); // the server connects
      client.receive(toClient.splice(0)); // its Finished: the client would connect now
      await Promise.all([c.done, s.done]);
      assert.equal(c.state.error?.code, 'ERR_DTLS_FINGERPRINT_MISMATCH', `initial fingerprints ${initial ? 'matching' : 'none'}`);
      assert.equal(client.state, 'failed');
      assert.equal(s.state.error, undefined);
      server.receive(toServer.splice(0)); // our close_notify
      assert.equal(server.state, 'closed');
    } finally {
      client.destroy();
      server.destroy();
    }
  }
});

test('a connected session (no fingerprints at first): setRemoteFingerprints() that matches keeps it; a mismatch fails it and closes the peer', async () => {
  const p = makePair();
  try {
    await p.handshake();
    p.client.setRemoteFingerprints(fps(ecPair().cert));
    assert.equal(p.client.state, 'connected');
    const serverClosed = nextEvent(p.server, 'close');
    const err = nextEvent<DtlsError>(p.client, 'error');
    p.client.setRemoteFingerprints(fps(rsa2048Pair().cert));
    assert.equal((await err).code, 'ERR_DTLS_FINGERPRINT_MISMATCH');
    assert.equal(p.client.state, 'failed');
    await serverClosed;
  } finally {
    p.dispose();
  }
});

// ---------------------------------------------------------------------------------- generated certificates

test('generateCertificate: ECDSA P-256 by default, a random positive serial and a unique CN per certificate', async () => {
  const [a, b] = await Promise.all([generateCertificate(), generateCertificate()]);
  const xa = new X509Certificate(a.cert);
  const xb = new X509Certificate(b.cert);
  for (const x of [xa, xb]) {
    assert.equal(x.publicKey.asymmetricKeyType, 'ec');
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(x.subject, /^CN=openssl-dtls-[0-9a-f]{16}$/);
    assert.equal(x.subject, x.issuer, 'self-signed');
    assert.ok(x.checkPrivateKey(createPrivateKey(x === xa ? a.key : b.key)));
    // 128 random bits, top bit clear (positive): at least 31 hex digits.
    assert.match(x.serialNumber, /^[0-7]?[0-9A-F]{31}$/);
  }
  assert.notEqual(xa.serialNumber, xb.serialNumber);
  assert.notEqual(xa.subject, xb.subject);
  assert.notEqual(xa.fingerprint256, xb.fingerprint256);
});
