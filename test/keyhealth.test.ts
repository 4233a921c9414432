// The key self-test (keyHealth / 'keyhealth' / SecureContext.checkKey()): the gateway case of a key that is
// corrupted in memory (right public half, wrong private operations) is detected after repeated failures that
// implicate the key, and only then; a sound key under a tampering path reports ok.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { createSecureContext, type DtlsError, type KeyHealthReport } from '../lib/index.js';
import { corruptedRsaKey } from '../lib/faults.js';
import { ecPair, ed25519Pair, rsa2048Pair } from './support/fixtures';
import { flipLastByte, HandshakeType, runThroughMitm } from './support/mitm';
import { connectFails, listeningServer } from './support/servers';
import { withTimeout } from './support/peers';

const badRsa = () => ({ cert: rsa2048Pair().cert, key: corruptedRsaKey(rsa2048Pair().key) });

test('SecureContext.checkKey(): sound EC, RSA and Ed25519 keys pass; a corrupted RSA key fails; a context without a key says so', () => {
  for (const [pair, type] of [[ecPair(), 'EC'], [rsa2048Pair(), 'RSA'], [ed25519Pair(), 'ED25519']] as const) {
    const r = createSecureContext(pair).checkKey();
    assert.equal(r.ok, true, `${type}: ${r.detail}`);
    assert.equal(r.keyType, type);
    assert.match(r.detail, /verifies with the certificate's public key/);
  }
  const bad = createSecureContext(badRsa()).checkKey();
  assert.equal(bad.ok, false);
  assert.equal(bad.keyType, 'RSA');
  assert.match(bad.detail, /does not verify with the certificate's public key/);
  const none = createSecureContext({ rejectUnauthorized: false }).checkKey();
  assert.equal(none.ok, false);
  assert.match(none.detail, /no certificate and key/);
});

test("a server context with a corrupted RSA key: the third rejected ServerKeyExchange within the window runs the self-test, which fails ('keyhealth' on that session)", async () => {
  const context = createSecureContext({ ...badRsa(), keyHealth: { failures: 3, windowMs: 60_000 } });
  const seen: Array<{ round: number; report: KeyHealthReport }> = [];
  for (let round = 1; round <= 4; round++) {
    const r = await runThroughMitm({ server: { context }, onServer: (s) => s.on('keyhealth', (report) => seen.push({ round, report })) });
    const alert = r.server.alerts.find((a) => a.direction === 'received');
    assert.equal(alert?.description, 'decrypt_error');
    assert.equal(alert?.explanation.inferredPath, 'tls_process_key_exchange');
  }
  assert.equal(seen.length, 1, 'one self-test per window, on the third failure');
  const { round, report } = seen[0]!;
  assert.equal(round, 3);
  assert.equal(report.ok, false);
  assert.equal(report.keyType, 'RSA');
  assert.equal(report.failures, 3);
  assert.equal(report.windowMs, 60_000);
  assert.match(report.trigger, /rejected our ServerKeyExchange signature/);
});

test("the gateway case from the client side: a client context whose key signs wrongly gets 'keyhealth' { ok: false } after its CertificateVerify is rejected twice", async () => {
  const context = createSecureContext({ ...badRsa(), rejectUnauthorized: false, keyHealth: { failures: 2 } });
  const seen: KeyHealthReport[] = [];
  for (let i = 0; i < 2; i++) {
    await runThroughMitm({
      client: { context },
      server: { requestCert: true, rejectUnauthorized: false },
      onClient: (c) => c.on('keyhealth', (r) => seen.push(r)),
    });
  }
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.ok, false);
  assert.match(seen[0]!.trigger, /CertificateVerify/);
});

test("a sound key whose ServerKeyExchange is tampered with on the path: the self-test runs and reports ok (the fault is elsewhere)", async () => {
  const context = createSecureContext({ ...ecPair(), keyHealth: { failures: 2 } });
  const seen: KeyHealthReport[] = [];
  for (let i = 0; i < 2; i++) {
    await runThroughMitm({
      server: { context },
      rules: [{ direction: 's->c', message: HandshakeType.ServerKeyExchange, mutate: flipLastByte }],
      onServer: (s) => s.on('keyhealth', (r) => seen.push(r)),
    });
  }
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.ok, true);
  assert.equal(seen[0]!.keyType, 'EC');
});

test('RSA key exchange with a corrupted key (CBC, encrypt-then-MAC): the bad_record_mac the server sends counts too', async () => {
  const context = createSecureContext({ ...badRsa(), ciphers: 'AES128-SHA', keyHealth: { failures: 2 } });
  const seen: KeyHealthReport[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await runThroughMitm({ server: { context }, client: { ciphers: 'AES128-SHA' }, onServer: (s) => s.on('keyhealth', (x) => seen.push(x)) });
    assert.equal(r.server.alerts.find((a) => a.direction === 'sent')?.description, 'bad_record_mac');
  }
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.ok, false);
});

test('failures that do not implicate our key never trigger it; keyHealth: false switches it off', async () => {
  const context = createSecureContext({ ...ecPair(), ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', keyHealth: { failures: 1 } });
  let fired = 0;
  for (let i = 0; i < 2; i++) {
    await runThroughMitm({ server: { context }, client: { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }, onServer: (s) => s.on('keyhealth', () => fired++) });
  }
  assert.equal(fired, 0, 'no shared cipher says nothing about the key');
  const off = createSecureContext({ ...badRsa(), keyHealth: false });
  for (let i = 0; i < 2; i++) await runThroughMitm({ server: { context: off }, onServer: (s) => s.on('keyhealth', () => fired++) });
  assert.equal(fired, 0);
  assert.throws(() => createSecureContext({ ...ecPair(), keyHealth: { failures: 0 } }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => createSecureContext({ ...ecPair(), keyHealth: { windowMs: 'x' as unknown as number } }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => createSecureContext({ ...ecPair(), keyHealth: 3 as unknown as false }), { code: 'ERR_INVALID_ARG_TYPE' });
});

test("DtlsServer re-emits 'keyhealth' with the remote address: createServer() with a corrupted key, three connect() clients", async () => {
  const { server, port } = await listeningServer({ ...badRsa(), keyHealth: { failures: 3 } });
  try {
    const got = new Promise<[KeyHealthReport, { address: string; port: number }]>((resolve) => server.once('keyhealth', (r, remote) => resolve([r, remote])));
    server.on('tlsClientError', () => undefined);
    const errors: DtlsError[] = [];
    for (let i = 0; i < 3; i++) errors.push(await connectFails({ port }));
    for (const e of errors) assert.equal(e.alert?.description, 'decrypt_error');
    const [report, remote] = await withTimeout(got, 5000, 'keyhealth');
    assert.equal(report.ok, false);
    assert.equal(remote.address, '127.0.0.1');
  } finally {
    await server.close();
  }
});
