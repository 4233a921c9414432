// Fatal alerts asserted on both sides: the side that sends the alert and the side that receives it.
// For each failure: the 'alert' event (direction, level, description, code), the handshake() rejection
// (DtlsError, code, alert, opensslErrors), the 'error' event, the (function, reason) of the last
// "SSL routines" entry, and explanation.path. OpenSSL paths as verified on 3.0.19 (openssl-alert-paths.md).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { DtlsError, explain, fingerprint, opensslVersion, type DtlsAlert, type HandshakeInfo, type OpenSSLErrorEntry } from '../lib/index.js';
import { caCert, clientPair, ecPair, expiredPair, fixturePath, rsa2048Pair, serverPair, type CertKeyPair } from './support/fixtures';
import { makePair, type PairOptions } from './support/pair';
import { requirePeer, which, withTimeout } from './support/peers';

const SSL = 'SSL routines';
const HANDSHAKE_LIMIT_MS = 10_000;

interface Side {
  result: PromiseSettledResult<HandshakeInfo>;
  alerts: DtlsAlert[];
  errors: DtlsError[];
  state: string;
}

/** Runs one handshake between a fresh pair and collects what each side saw. Always disposes the pair. */
async function runPair(opts: PairOptions): Promise<{ client: Side; server: Side }> {
  const p = makePair({
    ...opts,
    client: { handshakeTimeout: HANDSHAKE_LIMIT_MS, ...opts.client },
    server: { handshakeTimeout: HANDSHAKE_LIMIT_MS, ...opts.server },
  });
  const seen = {
    client: { alerts: [] as DtlsAlert[], errors: [] as DtlsError[] },
    server: { alerts: [] as DtlsAlert[], errors: [] as DtlsError[] },
  };
  p.client.on('alert', (a) => seen.client.alerts.push(a));
  p.server.on('alert', (a) => seen.server.alerts.push(a));
  p.client.on('error', (e) => seen.client.errors.push(e));
  p.server.on('error', (e) => seen.server.errors.push(e));
  try {
    const [c, s] = await Promise.allSettled([
      withTimeout(p.client.handshake(), HANDSHAKE_LIMIT_MS + 2000, 'client handshake'),
      withTimeout(p.server.handshake(), HANDSHAKE_LIMIT_MS + 2000, 'server handshake'),
    ]);
    return {
      client: { result: c, ...seen.client, state: p.client.state },
      server: { result: s, ...seen.server, state: p.server.state },
    };
  } finally {
    p.dispose();
  }
}

function lastSslEntry(entries: readonly OpenSSLErrorEntry[]): OpenSSLErrorEntry {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.library === SSL) return entries[i]!;
  assert.fail(`no "${SSL}" entry in ${JSON.stringify(entries)}`);
}

function rejection(side: Side, who: string): DtlsError {
  if (side.result.status === 'fulfilled') assert.fail(`${who}: handshake() resolved, expected a rejection`);
  const err = side.result.reason as unknown;
  assert.ok(err instanceof DtlsError, `${who}: rejection is not a DtlsError: ${String(err)}`);
  return err;
}

function fulfilled(side: Side, who: string): HandshakeInfo {
  if (side.result.status === 'rejected') {
    const e = side.result.reason as DtlsError;
    assert.fail(`${who}: handshake() rejected: ${e.code} ${e.message}`);
  }
  return side.result.value;
}

interface Expect {
  direction: 'sent' | 'received';
  description: string;
  code: number;
  errorCode: string;
  function: string;
  reason: string;
  /** path suffix of the raising file (build prefixes differ) */
  file?: string;
  data?: string;
  verifyResult?: { code: number; message: string };
  lastMessageSent?: string | undefined;
  lastMessageReceived?: string | undefined;
}

/** The shared assertions for one failing side; returns the alert and the rejection. */
function expectFailure(side: Side, who: string, x: Expect): { alert: DtlsAlert; err: DtlsError; last: OpenSSLErrorEntry } {
  assert.equal(side.state, 'failed', `${who}: state`);
  const fatal = side.alerts.filter((a) => a.level === 'fatal');
  assert.equal(fatal.length, 1, `${who}: exactly one fatal alert, got ${JSON.stringify(side.alerts.map((a) => a.description))}`);
  const alert = fatal[0]!;
  assert.equal(alert.direction, x.direction, `${who}: alert direction`);
  assert.equal(alert.level, 'fatal');
  assert.equal(alert.description, x.description, `${who}: alert description`);
  assert.equal(alert.code, x.code, `${who}: alert code`);

  const err = rejection(side, who);
  assert.equal(err.code, x.errorCode, `${who}: error code (${err.message})`);
  assert.ok(err.alert !== undefined, `${who}: error carries the alert`);
  assert.equal(err.alert.direction, x.direction);
  assert.equal(err.alert.description, x.description);
  assert.equal(err.alert.code, x.code);
  assert.deepEqual(err.opensslErrors, alert.opensslErrors, `${who}: the error and the alert carry the same queue`);

  // The 'error' event carries the same error as the rejection.
  assert.equal(side.errors.length, 1, `${who}: one 'error' event`);
  assert.equal(side.errors[0], err, `${who}: 'error' and the rejection are the same DtlsError`);

  const last = lastSslEntry(alert.opensslErrors);
  assert.equal(last.function, x.function, `${who}: function of the last SSL entry`);
  assert.equal(last.reason, x.reason, `${who}: reason of the last SSL entry`);
  assert.equal(err.library, SSL);
  assert.equal(err.reason, x.reason);
  assert.equal(last.code >>> 24, 0x0a, `${who}: packed code is an ERR_LIB_SSL code (0x0A......)`);
  assert.equal(last.code & 0x7fffff, last.reasonCode, `${who}: reasonCode is the packed reason`);
  if (x.file !== undefined) assert.ok(last.file.endsWith(x.file), `${who}: file ${last.file} should end with ${x.file}`);
  assert.ok(Number.isInteger(last.line) && last.line > 0, `${who}: line ${last.line}`);
  if (x.data !== undefined) assert.equal(last.data, x.data, `${who}: data`);

  assert.equal(alert.explanation.path, last.function, `${who}: alert.explanation.path`);
  assert.ok(err.explanation !== undefined, `${who}: error explanation`);
  assert.equal(err.explanation.path, last.function, `${who}: err.explanation.path`);
  assert.ok(alert.explanation.summary.length > 0);

  if (x.verifyResult !== undefined) {
    assert.deepEqual(alert.verifyResult, x.verifyResult, `${who}: alert.verifyResult`);
    assert.deepEqual(err.verifyResult, x.verifyResult, `${who}: err.verifyResult`);
  }
  if ('lastMessageSent' in x) assert.equal(alert.lastMessageSent, x.lastMessageSent, `${who}: lastMessageSent`);
  if ('lastMessageReceived' in x) assert.equal(alert.lastMessageReceived, x.lastMessageReceived, `${who}: lastMessageReceived`);
  return { alert, err, last };
}

/** What every received fatal alert looks like in OpenSSL 3.0: one dtls1_read_bytes entry. */
function received(description: string, code: number, reason: string, extra: Partial<Expect> = {}): Expect {
  return {
    direction: 'received',
    description,
    code,
    errorCode: 'ERR_DTLS_ALERT_RECEIVED',
    function: 'dtls1_read_bytes',
    reason,
    file: 'ssl/record/rec_layer_d1.c',
    data: `SSL alert number ${code}`,
    ...extra,
  };
}

function expectSuccess(r: { client: Side; server: Side }): [HandshakeInfo, HandshakeInfo] {
  const c = fulfilled(r.client, 'client');
  const s = fulfilled(r.server, 'server');
  assert.deepEqual(r.client.alerts, [], 'client: no alerts');
  assert.deepEqual(r.server.alerts, [], 'server: no alerts');
  assert.deepEqual(r.client.errors, []);
  assert.deepEqual(r.server.errors, []);
  return [c, s];
}

// ------------------------------------------------------------------------------------- no shared cipher

test(`no shared cipher: server sends handshake_failure from tls_post_process_client_hello, client receives it (${opensslVersion})`, async () => {
  const r = await runPair({
    client: { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' },
    server: { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
  });
  const server = expectFailure(r.server, 'server', {
    direction: 'sent',
    description: 'handshake_failure',
    code: 40,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_post_process_client_hello',
    reason: 'no shared cipher',
    file: 'ssl/statem/statem_srvr.c',
    lastMessageSent: undefined,
    lastMessageReceived: 'ClientHello',
  });
  // The sender's queue holds only the cause, nothing stale and nothing from the peer.
  assert.equal(server.alert.opensslErrors.length, 1);
  assert.equal(server.alert.verifyResult, undefined, 'no verify result on a non-certificate alert');

  const client = expectFailure(r.client, 'client', received('handshake_failure', 40, 'sslv3 alert handshake failure', {
    lastMessageSent: 'ClientHello',
    lastMessageReceived: undefined,
  }));
  assert.equal(client.alert.opensslErrors.length, 1);
  assert.equal(client.alert.role, 'client');
  assert.equal(server.alert.role, 'server');
});

test('explain(alert) matches alert.explanation; explain(err.opensslErrors) works on the raw list', async () => {
  const r = await runPair({
    client: { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' },
    server: { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
  });
  const serverErr = rejection(r.server, 'server');
  const clientErr = rejection(r.client, 'client');
  const serverAlert = r.server.alerts[0]!;
  const clientAlert = r.client.alerts[0]!;

  for (const [who, alert, err] of [['server', serverAlert, serverErr], ['client', clientAlert, clientErr]] as const) {
    const fromAlert = explain(alert);
    assert.equal(fromAlert.path, alert.explanation.path, `${who}: explain(alert).path`);
    assert.deepEqual(fromAlert, alert.explanation, `${who}: explain(alert) is the attached explanation`);
    assert.equal(explain(err).path, alert.explanation.path, `${who}: explain(err).path`);
    const raw = explain(err.opensslErrors);
    assert.equal(raw.path, lastSslEntry(err.opensslErrors).function, `${who}: explain(list).path`);
    for (const k of ['summary', 'meaning'] as const) assert.equal(typeof raw[k], 'string');
    assert.ok(Array.isArray(raw.likelyCauses) && Array.isArray(raw.checks));
  }
  // The sent-side path is in the table: the raw list gives the same explanation as the alert.
  const raw = explain(serverErr.opensslErrors);
  assert.equal(raw.path, 'tls_post_process_client_hello');
  assert.equal(raw.summary, serverAlert.explanation.summary);
  assert.equal(explain(clientErr.opensslErrors).path, 'dtls1_read_bytes');
  // An empty list is not a crash.
  assert.equal(typeof explain([]).path, 'string');
});

// ---------------------------------------------------------------------------------------- fingerprints

test('client fingerprint mismatch: client sends handshake_failure (verify result 50), ERR_DTLS_FINGERPRINT_MISMATCH; server receives it', async () => {
  const r = await runPair({
    client: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(rsa2048Pair().cert) }] },
  });
  const client = expectFailure(r.client, 'client', {
    direction: 'sent',
    description: 'handshake_failure',
    code: 40,
    errorCode: 'ERR_DTLS_FINGERPRINT_MISMATCH',
    function: 'tls_post_process_server_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_clnt.c',
    verifyResult: { code: 50, message: 'application verification failure' },
    lastMessageSent: 'ClientHello',
    lastMessageReceived: 'Certificate',
  });
  assert.equal(client.alert.explanation.path, 'tls_post_process_server_certificate');
  expectFailure(r.server, 'server', received('handshake_failure', 40, 'sslv3 alert handshake failure', {
    lastMessageSent: 'ServerHelloDone',
    lastMessageReceived: 'ClientHello',
  }));
});

test('matching fingerprint: a self-signed server is accepted with rejectUnauthorized left at its default', async () => {
  const serverCert = ecPair().cert;
  const r = await runPair({
    // makePair defaults the client to rejectUnauthorized: false; undefined restores the library default (true).
    client: { rejectUnauthorized: undefined, remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(serverCert) }] },
  });
  const [c] = expectSuccess(r);
  assert.ok(c.peerCertificate !== undefined);
  assert.equal(fingerprint(c.peerCertificate), fingerprint(serverCert));
});

test('any listed fingerprint algorithm may match: a wrong sha-256 and a right sha-384', async () => {
  const serverCert = ecPair().cert;
  const r = await runPair({
    client: {
      rejectUnauthorized: undefined,
      remoteFingerprints: [
        { algorithm: 'sha-256', value: fingerprint(rsa2048Pair().cert) },
        { algorithm: 'sha-384', value: fingerprint(serverCert, 'sha-384') },
      ],
    },
  });
  expectSuccess(r);
});

test('fingerprint values are case-insensitive (lowercase works)', async () => {
  const value = fingerprint(ecPair().cert).toLowerCase();
  assert.match(value, /^[0-9a-f:]+$/);
  const r = await runPair({ client: { rejectUnauthorized: undefined, remoteFingerprints: [{ algorithm: 'sha-256', value }] } });
  expectSuccess(r);
});

test('server remoteFingerprints of the client certificate: accepted', async () => {
  const r = await runPair({
    client: { ...clientPair() },
    server: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(clientPair().cert) }] },
  });
  const [, s] = expectSuccess(r);
  assert.ok(s.peerCertificate !== undefined, 'server saw the client certificate');
  assert.equal(fingerprint(s.peerCertificate), fingerprint(clientPair().cert));
});

test('server fingerprint mismatch: server sends handshake_failure from tls_process_client_certificate, ERR_DTLS_FINGERPRINT_MISMATCH', async () => {
  const r = await runPair({
    client: { ...clientPair() },
    server: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(rsa2048Pair().cert) }] },
  });
  expectFailure(r.server, 'server', {
    direction: 'sent',
    description: 'handshake_failure',
    code: 40,
    errorCode: 'ERR_DTLS_FINGERPRINT_MISMATCH',
    function: 'tls_process_client_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_srvr.c',
    verifyResult: { code: 50, message: 'application verification failure' },
    lastMessageSent: 'ServerHelloDone',
    lastMessageReceived: 'Certificate',
  });
  expectFailure(r.client, 'client', received('handshake_failure', 40, 'sslv3 alert handshake failure', {
    lastMessageSent: 'Finished',
    lastMessageReceived: 'ServerHelloDone',
  }));
});

test('server remoteFingerprints and a client without a certificate: server sends handshake_failure ("peer did not return a certificate")', async () => {
  // OpenSSL 3.0 raises SSL_AD_CERTIFICATE_REQUIRED here, but tls1_alert_code() maps it to handshake_failure
  // (40) for (D)TLS 1.2, so 40 is what goes on the wire and what the info callback reports.
  const r = await runPair({
    server: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(clientPair().cert) }] },
  });
  const server = expectFailure(r.server, 'server', {
    direction: 'sent',
    description: 'handshake_failure',
    code: 40,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_process_client_certificate',
    reason: 'peer did not return a certificate',
    file: 'ssl/statem/statem_srvr.c',
    lastMessageSent: 'ServerHelloDone',
    lastMessageReceived: 'Certificate',
  });
  assert.equal(server.alert.opensslErrors.length, 1);
  expectFailure(r.client, 'client', received('handshake_failure', 40, 'sslv3 alert handshake failure', {
    lastMessageSent: 'Finished',
  }));
});

// ----------------------------------------------------------------------------------- chain verification

test('expired server certificate, client verifying: client sends certificate_expired (verify result 10)', async () => {
  const r = await runPair({
    client: { ca: caCert(), rejectUnauthorized: undefined },
    server: { ...expiredPair() },
  });
  const client = expectFailure(r.client, 'client', {
    direction: 'sent',
    description: 'certificate_expired',
    code: 45,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_post_process_server_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_clnt.c',
    verifyResult: { code: 10, message: 'certificate has expired' },
    lastMessageSent: 'ClientHello',
    lastMessageReceived: 'Certificate',
  });
  assert.equal(client.alert.opensslErrors.length, 1, 'X.509 failures queue only "certificate verify failed"');
  expectFailure(r.server, 'server', received('certificate_expired', 45, 'sslv3 alert certificate expired', {
    lastMessageSent: 'ServerHelloDone',
  }));
});

test('expiredPair() as a client certificate: the server rejects it as unsupported_certificate (serverAuth-only EKU, verify result 26)', async () => {
  // The expired fixture is a *server* leaf (EKU serverAuth). OpenSSL checks the purpose before the validity
  // dates, so a server verifying it as a client certificate stops at X509_V_ERR_INVALID_PURPOSE (26), which
  // ssl_x509err2alert() maps to unsupported_certificate, not at "certificate has expired".
  const r = await runPair({
    client: { ...expiredPair() },
    server: { requestCert: true, ca: caCert() },
  });
  expectFailure(r.server, 'server', {
    direction: 'sent',
    description: 'unsupported_certificate',
    code: 43,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_process_client_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_srvr.c',
    verifyResult: { code: 26, message: 'unsuitable certificate purpose' },
    lastMessageReceived: 'Certificate',
  });
  expectFailure(r.client, 'client', received('unsupported_certificate', 43, 'sslv3 alert unsupported certificate', {
    lastMessageSent: 'Finished',
  }));
});

/** An expired clientAuth leaf signed by the test CA, made with the openssl CLI in a temporary directory. */
function expiredClientPair(openssl: string): CertKeyPair {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtls-expired-client-'));
  try {
    const cnf = path.join(dir, 'openssl.cnf');
    fs.writeFileSync(
      cnf,
      [
        '[ req ]', 'distinguished_name = req_dn', 'prompt = no', '[ req_dn ]', 'CN = placeholder',
        '[ client_leaf ]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = clientAuth',
        '[ ca ]', 'default_ca = test_ca', '[ test_ca ]', `dir = ${dir}`, 'database = $dir/index.txt',
        'new_certs_dir = $dir', 'serial = $dir/serial', 'default_md = sha256', 'policy = policy_any',
        'unique_subject = no', 'copy_extensions = none', 'email_in_dn = no', '[ policy_any ]', 'commonName = supplied', '',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(dir, 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'serial'), '7A01\n');
    const env = { ...process.env, OPENSSL_CONF: cnf };
    const run = (args: string[]): void => {
      execFileSync(openssl, args, { cwd: dir, env, stdio: 'pipe', timeout: 20_000 });
    };
    run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem']);
    run(['req', '-config', cnf, '-new', '-key', 'key.pem', '-subj', '/CN=expired-client.test', '-out', 'req.csr']);
    run([
      'ca', '-config', cnf, '-batch', '-notext', '-cert', fixturePath('ca-cert.pem'), '-keyfile', fixturePath('ca-key.pem'),
      '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extfile', cnf, '-extensions', 'client_leaf',
      '-in', 'req.csr', '-out', 'cert.pem',
    ]);
    return { cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('expired client certificate (clientAuth, made with the openssl CLI): server sends certificate_expired from tls_process_client_certificate', async (t) => {
  const openssl = which('openssl');
  if (!requirePeer(t, 'openssl', openssl !== null, 'openssl CLI not installed (needed to make an expired clientAuth certificate)')) return;
  const expired = expiredClientPair(openssl!);
  const r = await runPair({
    client: { ...expired },
    server: { requestCert: true, ca: caCert() },
  });
  expectFailure(r.server, 'server', {
    direction: 'sent',
    description: 'certificate_expired',
    code: 45,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_process_client_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_srvr.c',
    verifyResult: { code: 10, message: 'certificate has expired' },
    lastMessageSent: 'ServerHelloDone',
    lastMessageReceived: 'Certificate',
  });
  expectFailure(r.client, 'client', received('certificate_expired', 45, 'sslv3 alert certificate expired', {
    lastMessageSent: 'Finished',
    lastMessageReceived: 'ServerHelloDone',
  }));
});

test('self-signed server certificate, client verifying against caCert(): client sends unknown_ca (verify result 18)', async () => {
  const r = await runPair({ client: { ca: caCert(), rejectUnauthorized: undefined } });
  expectFailure(r.client, 'client', {
    direction: 'sent',
    description: 'unknown_ca',
    code: 48,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_post_process_server_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_clnt.c',
    verifyResult: { code: 18, message: 'self-signed certificate' },
    lastMessageReceived: 'Certificate',
  });
  expectFailure(r.server, 'server', received('unknown_ca', 48, 'tlsv1 alert unknown ca'));
});

test("a CA-signed server certificate verifies with servername 'localhost'", async () => {
  const r = await runPair({
    client: { ca: caCert(), rejectUnauthorized: undefined, servername: 'localhost' },
    server: { ...serverPair() },
  });
  const [c] = expectSuccess(r);
  assert.deepEqual(c.verifyResult, { code: 0, message: 'ok' });
  assert.ok(c.peerCertificate !== undefined);
  assert.equal(c.peerCertificate.subject, 'CN=localhost');
});

test("a wrong servername ('other.test'): client sends bad_certificate (X509_V_ERR_HOSTNAME_MISMATCH, 62)", async () => {
  const r = await runPair({
    client: { ca: caCert(), rejectUnauthorized: undefined, servername: 'other.test' },
    server: { ...serverPair() },
  });
  expectFailure(r.client, 'client', {
    direction: 'sent',
    description: 'bad_certificate',
    code: 42,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_post_process_server_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_clnt.c',
    verifyResult: { code: 62, message: 'hostname mismatch' },
    lastMessageReceived: 'Certificate',
  });
  expectFailure(r.server, 'server', received('bad_certificate', 42, 'sslv3 alert bad certificate'));
});

test('rejectUnauthorized: false accepts a self-signed certificate (verifyResult 18 reported, no alert)', async () => {
  const r = await runPair({ client: { rejectUnauthorized: false } });
  const [c] = expectSuccess(r);
  assert.equal(c.verifyResult.code, 18);
  assert.equal(c.verifyResult.message, 'self-signed certificate');
});

test("servername as an IP address is checked against the certificate's IP SANs (127.0.0.1 ok, 127.0.0.2 fails with 64)", async () => {
  const ok = await runPair({ client: { ca: caCert(), rejectUnauthorized: undefined, servername: '127.0.0.1' }, server: { ...serverPair() } });
  const [c] = expectSuccess(ok);
  assert.deepEqual(c.verifyResult, { code: 0, message: 'ok' });
  const bad = await runPair({ client: { ca: caCert(), rejectUnauthorized: undefined, servername: '127.0.0.2' }, server: { ...serverPair() } });
  expectFailure(bad.client, 'client', {
    direction: 'sent',
    description: 'bad_certificate',
    code: 42,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_post_process_server_certificate',
    reason: 'certificate verify failed',
    file: 'ssl/statem/statem_clnt.c',
    verifyResult: { code: 64, message: 'IP address mismatch' },
    lastMessageReceived: 'Certificate',
  });
});

test('requestCert with rejectUnauthorized: false accepts a self-signed client certificate and reports it', async () => {
  const r = await runPair({ client: { ...ecPair() }, server: { ...rsa2048Pair(), requestCert: true, rejectUnauthorized: false } });
  const [, s] = expectSuccess(r);
  assert.equal(s.peerCertificate?.subject, 'CN=ec.test');
  assert.equal(s.verifyResult.code, 18);
});

test('requestCert with verification on and a client without a certificate: server sends handshake_failure', async () => {
  const r = await runPair({ server: { ...serverPair(), requestCert: true, ca: caCert() } });
  expectFailure(r.server, 'server', {
    direction: 'sent',
    description: 'handshake_failure',
    code: 40,
    errorCode: 'ERR_DTLS_ALERT_SENT',
    function: 'tls_process_client_certificate',
    reason: 'peer did not return a certificate',
    file: 'ssl/statem/statem_srvr.c',
    lastMessageReceived: 'Certificate',
  });
  expectFailure(r.client, 'client', received('handshake_failure', 40, 'sslv3 alert handshake failure'));
});

test('requestCert with the CA: a CA-signed client certificate verifies (verify result 0)', async () => {
  const r = await runPair({ client: { ...clientPair() }, server: { ...serverPair(), requestCert: true, ca: caCert() } });
  const [, s] = expectSuccess(r);
  assert.equal(s.peerCertificate?.subject, 'CN=client.test');
  assert.deepEqual(s.verifyResult, { code: 0, message: 'ok' });
});

test('alerts carry how far negotiation got: version, suite, EMS and encrypt-then-MAC from the ServerHello, client auth', async () => {
  const wrong = [{ algorithm: 'sha-256' as const, value: fingerprint(rsa2048Pair().cert) }];
  // Before any ServerHello: no suite, EMS unknown.
  const early = await runPair({ client: { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }, server: { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } });
  const ea = early.server.alerts.find((a) => a.direction === 'sent')!;
  assert.deepEqual(ea.negotiated, { protocol: 'DTLSv1.2', clientCertificateRequested: false });
  // After the ServerHello, EMS as negotiated (off here), AEAD: no encrypt-then-MAC.
  const noEms = await runPair({ client: { remoteFingerprints: wrong, extendedMasterSecret: false } });
  const na = noEms.client.alerts.find((a) => a.direction === 'sent')!;
  assert.equal(na.negotiated.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
  assert.equal(na.negotiated.extendedMasterSecret, false);
  assert.equal(na.negotiated.encryptThenMac, false);
  // A CBC suite named explicitly: encrypt-then-MAC is negotiated; the server asks for a client certificate.
  const cbc = 'ECDHE-ECDSA-AES128-SHA256';
  const etm = await runPair({ client: { ciphers: cbc, remoteFingerprints: wrong }, server: { ciphers: cbc, requestCert: true, rejectUnauthorized: false } });
  const ta = etm.client.alerts.find((a) => a.direction === 'sent')!;
  assert.equal(ta.negotiated.cipher, cbc);
  assert.equal(ta.negotiated.extendedMasterSecret, true);
  assert.equal(ta.negotiated.encryptThenMac, true);
  // The client rejected the server Certificate before it read the CertificateRequest behind it.
  assert.equal(ta.negotiated.clientCertificateRequested, false);
  const ra = etm.server.alerts.find((a) => a.direction === 'received')!;
  assert.equal(ra.negotiated.clientCertificateRequested, true);
});
