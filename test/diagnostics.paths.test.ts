// One test per OpenSSL 3.0 DTLS 1.2 alert path that can be driven (openssl-alert-paths.md §4), through the
// in-process man-in-the-middle (support/mitm.ts) or a misconfiguration. Each asserts the sender's last
// "SSL routines" entry (function, reason, file), the alert on both sides, explain().path on both sides, the
// peer-side inference for the receiver (explanation.inferredPath, from the flight it sent last), and that
// the explanation is a specific one from the table, not the generic fallback. The mutation must have been
// applied (mitm.edits / mitm.rewrites), so a rule that stops matching fails the test instead of passing it.
//
// Paths OpenSSL cannot be driven into with DTLS 1.2 are listed at the end of this file, with the reason.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { createSecureContext, DtlsError, DtlsSession, explain, opensslVersion, type DtlsAlert, type OpenSSLErrorEntry, type SessionOptions } from '../lib/index.js';
import { corruptedRsaKey, datedCertificate } from '../lib/faults.js';
import { caCert, clientPair, ecPair, expiredPair, rsa2048Pair, rsa4096Chain, rsa4096Root, serverPair } from './support/fixtures';
import {
  breakCertificateEncoding,
  breakCertificateSignature,
  breakCkePoint,
  breakSkePoint,
  ContentType,
  FAST_RETRANSMIT,
  flipCookieByte,
  flipLastByte,
  HandshakeType,
  rewriteFragmentHeaders,
  runThroughMitm,
  saturateRsaPremaster,
  setServerHelloSuite,
  setSkeGroup,
  setSkeSigalg,
  swapFirstTwoSuites,
  type MitmRunOptions,
  type RecordRule,
  type SideResult,
} from './support/mitm';

const SSL = 'SSL routines';

function lastSsl(entries: readonly OpenSSLErrorEntry[], who: string): OpenSSLErrorEntry {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.library === SSL) return entries[i]!;
  assert.fail(`${who}: no "${SSL}" entry in ${JSON.stringify(entries)}`);
}

function fatal(side: SideResult, direction: 'sent' | 'received', who: string): DtlsAlert {
  const list = side.alerts.filter((a) => a.level === 'fatal' && a.direction === direction);
  assert.equal(list.length, 1, `${who}: one fatal ${direction} alert, got ${JSON.stringify(side.alerts.map((a) => `${a.direction} ${a.level} ${a.description}`))}`);
  return list[0]!;
}

function rejection(side: SideResult, who: string): DtlsError {
  if (side.result.status === 'fulfilled') assert.fail(`${who}: handshake() resolved, expected a rejection`);
  const err = side.result.reason as unknown;
  assert.ok(err instanceof DtlsError, `${who}: not a DtlsError: ${String(err)}`);
  return err;
}

interface PathExpect {
  sender: 'client' | 'server';
  description: string;
  code: number;
  function: string;
  reason: string;
  /** path suffix of the raising file */
  file: string;
  /** X509_V_ERR_* of a certificate path */
  verifyResult?: number;
  /** the receiver's inference about the peer's path, from the flight it sent last */
  inferredPath?: string;
  /** the sender's error code, when not ERR_DTLS_ALERT_SENT */
  senderCode?: string;
  /** a lower-level (non-SSL) entry precedes the SSL one: true, false, or undefined for "not asserted" */
  lowerLevel?: boolean;
  /** a word the receiver's explanation summary names (e.g. 'CertificateVerify') */
  receiverSays?: RegExp;
}

/** The shared assertions for one driven path. */
function expectPath(r: Awaited<ReturnType<typeof runThroughMitm>>, x: PathExpect, mutated: boolean): void {
  if (mutated) assert.ok(r.mitm.edits + r.mitm.rewrites > 0, 'the man-in-the-middle applied its mutation');
  const senderName = x.sender;
  const receiverName = x.sender === 'client' ? 'server' : 'client';
  const sender = r[senderName];
  const receiver = r[receiverName];

  // The side that detected the problem.
  assert.equal(sender.state, 'failed', `${senderName}: state`);
  const sent = fatal(sender, 'sent', senderName);
  assert.equal(sent.description, x.description, `${senderName}: alert sent`);
  assert.equal(sent.code, x.code);
  const entry = lastSsl(sent.opensslErrors, senderName);
  assert.equal(entry.function, x.function, `${senderName}: function of the last SSL entry`);
  assert.equal(entry.reason, x.reason, `${senderName}: reason of the last SSL entry`);
  assert.ok(entry.file.endsWith(x.file), `${senderName}: file ${entry.file} should end with ${x.file}`);
  assert.ok(entry.line > 0);
  if (x.lowerLevel !== undefined) {
    const lower = sent.opensslErrors.filter((e) => e.library !== SSL);
    assert.equal(lower.length > 0, x.lowerLevel, `${senderName}: lower-level entries ${JSON.stringify(lower.map((e) => `${e.library}: ${e.reason}`))}`);
  }
  if (x.verifyResult !== undefined) assert.equal(sent.verifyResult?.code, x.verifyResult, `${senderName}: verify result`);
  assert.equal(sent.explanation.path, x.function, `${senderName}: alert.explanation.path`);
  assert.doesNotMatch(sent.explanation.summary, /^OpenSSL raised/, `${senderName}: a specific explanation, not the generic fallback`);
  assert.ok(sent.explanation.likelyCauses.length > 0, `${senderName}: likely causes`);
  assert.equal(explain(sent).path, x.function, `${senderName}: explain(alert).path`);
  assert.equal(explain(sent.opensslErrors).path, x.function, `${senderName}: explain(entries).path`);
  const serr = rejection(sender, senderName);
  assert.equal(serr.code, x.senderCode ?? 'ERR_DTLS_ALERT_SENT', `${senderName}: error code`);
  assert.equal(serr.reason, x.reason);
  assert.equal(serr.explanation.path, x.function, `${senderName}: err.explanation.path`);

  // The side that was told.
  assert.equal(receiver.state, 'failed', `${receiverName}: state`);
  const got = fatal(receiver, 'received', receiverName);
  assert.equal(got.description, x.description, `${receiverName}: alert received`);
  const rentry = lastSsl(got.opensslErrors, receiverName);
  assert.equal(rentry.function, 'dtls1_read_bytes');
  assert.match(rentry.reason, /^(sslv3|tlsv1) alert /);
  assert.equal(rentry.data, `SSL alert number ${x.code}`);
  assert.equal(got.explanation.path, 'dtls1_read_bytes', `${receiverName}: explanation.path`);
  if (x.inferredPath !== undefined) assert.equal(got.explanation.inferredPath, x.inferredPath, `${receiverName}: explanation.inferredPath`);
  if (x.receiverSays !== undefined) assert.match(got.explanation.summary, x.receiverSays, `${receiverName}: explanation.summary`);
  assert.match(got.explanation.meaning, /^The peer detected the problem, not us/);
  const rerr = rejection(receiver, receiverName);
  assert.equal(rerr.code, 'ERR_DTLS_ALERT_RECEIVED');
  assert.deepEqual(rerr.explanation, got.explanation, `${receiverName}: the error carries the alert's explanation`);
}

interface PathCase extends PathExpect {
  id: string;
  title: string;
  setup: () => MitmRunOptions | Promise<MitmRunOptions>;
}

const H = HandshakeType;
const CBC = 'ECDHE-ECDSA-AES128-SHA';
const RSA_KX_GCM = 'AES128-GCM-SHA256';
const RSA_KX_CBC = 'AES128-SHA';
const clientAuth = (client: Partial<SessionOptions> = clientPair()): Pick<MitmRunOptions, 'client' | 'server'> => ({
  client,
  server: { requestCert: true, rejectUnauthorized: false },
});

/** Rewrites the body of every record of `type` in one direction. */
function recordBody(direction: 'c->s' | 's->c', type: number, edit: (body: Buffer, epoch: number) => Buffer | undefined): RecordRule {
  return {
    direction,
    rewrite(rec) {
      if (rec.type !== type) return undefined;
      const body = edit(rec.body, rec.epoch);
      return body === undefined ? undefined : [{ ...rec, body }];
    },
  };
}

/** Inserts records after the first record of the first datagram in one direction. */
function injectAfterFirst(direction: 'c->s' | 's->c', make: (version: number) => Array<{ type: number; body: Buffer }>): RecordRule {
  return {
    direction,
    rewrite(rec, where) {
      if (where.datagram !== 0 || where.index !== 0) return undefined;
      return [rec, ...make(rec.version).map((m, i) => ({ type: m.type, version: rec.version, epoch: 0, seq: 1000 + i, body: m.body }))];
    },
  };
}

function flipLastByteOfEpoch1Handshake(body: Buffer, epoch: number): Buffer | undefined {
  if (epoch === 0) return undefined;
  const b = Buffer.from(body);
  b[b.length - 1] ^= 0x01;
  return b;
}

async function resumableSession(serverCtx: ReturnType<typeof createSecureContext>): Promise<Buffer> {
  let client!: DtlsSession;
  let server!: DtlsSession;
  server = new DtlsSession({ role: 'server', context: serverCtx, send: (d) => setImmediate(() => server.state !== 'closed' && client.receive(d)) });
  client = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => setImmediate(() => server.receive(d)) });
  try {
    await Promise.all([client.handshake(), server.handshake()]);
    const s = client.getSession();
    assert.ok(s !== undefined, 'a resumable session');
    return s;
  } finally {
    client.destroy();
    server.destroy();
  }
}

const CASES: PathCase[] = [
  // ---------------------------------------------------------------------------- decrypt_error (§4.1)
  {
    id: 'D1',
    title: 'tampered ServerKeyExchange signature: the client sends decrypt_error from tls_process_key_exchange',
    setup: () => ({ rules: [{ direction: 's->c', message: H.ServerKeyExchange, mutate: flipLastByte }] }),
    sender: 'client', description: 'decrypt_error', code: 51, function: 'tls_process_key_exchange', reason: 'bad signature', file: 'ssl/statem/statem_clnt.c',
    inferredPath: 'tls_process_key_exchange', receiverSays: /ServerKeyExchange/, lowerLevel: false,
  },
  {
    id: 'D1 (S27)',
    title: "server RSA key corrupted (same n and e, wrong d), ECDHE-RSA: the client rejects the ServerKeyExchange, with rsa-level entries first",
    setup: () => ({ server: { cert: rsa2048Pair().cert, key: corruptedRsaKey(rsa2048Pair().key) } }),
    sender: 'client', description: 'decrypt_error', code: 51, function: 'tls_process_key_exchange', reason: 'bad signature', file: 'ssl/statem/statem_clnt.c',
    inferredPath: 'tls_process_key_exchange', lowerLevel: true,
  },
  {
    id: 'D2',
    title: 'tampered CertificateVerify (ECDSA client certificate): the server sends decrypt_error from tls_process_cert_verify, no lower-level entry',
    setup: () => ({ ...clientAuth(), rules: [{ direction: 'c->s', message: H.CertificateVerify, mutate: flipLastByte }] }),
    sender: 'server', description: 'decrypt_error', code: 51, function: 'tls_process_cert_verify', reason: 'bad signature', file: 'ssl/statem/statem_lib.c',
    inferredPath: 'tls_process_cert_verify', receiverSays: /CertificateVerify: our key or our transcript/, lowerLevel: false,
  },
  {
    id: 'D2 (S28, the gateway case)',
    title: 'client RSA key corrupted: the server rejects our CertificateVerify; the client is told "our key or our transcript"',
    setup: () => clientAuth({ cert: rsa2048Pair().cert, key: corruptedRsaKey(rsa2048Pair().key) }),
    sender: 'server', description: 'decrypt_error', code: 51, function: 'tls_process_cert_verify', reason: 'bad signature', file: 'ssl/statem/statem_lib.c',
    inferredPath: 'tls_process_cert_verify', receiverSays: /CertificateVerify: our key or our transcript/, lowerLevel: true,
  },
  {
    id: 'D2 (S06)',
    title: 'transcript changed (ClientHello suites swapped) with client authentication: caught at CertificateVerify, before Finished',
    setup: () => ({ ...clientAuth(), rules: [{ direction: 'c->s', message: H.ClientHello, mutate: swapFirstTwoSuites }] }),
    sender: 'server', description: 'decrypt_error', code: 51, function: 'tls_process_cert_verify', reason: 'bad signature', file: 'ssl/statem/statem_lib.c',
    inferredPath: 'tls_process_cert_verify',
  },
  {
    id: 'D4 (S03b)',
    title: 'transcript changed (ClientHello suites swapped) with extended master secret off: the server sends decrypt_error from tls_process_finished',
    setup: () => ({ client: { extendedMasterSecret: false }, rules: [{ direction: 'c->s', message: H.ClientHello, mutate: swapFirstTwoSuites }] }),
    sender: 'server', description: 'decrypt_error', code: 51, function: 'tls_process_finished', reason: 'digest check failed', file: 'ssl/statem/statem_lib.c',
    inferredPath: 'tls_process_finished', receiverSays: /same keys, different transcript/,
  },
  {
    id: 'D4 (S21)',
    title: 'resumed handshake with a changed transcript: the client, which checks Finished second when resuming, sends decrypt_error',
    setup: async () => {
      const server = createSecureContext(ecPair());
      const session = await resumableSession(server);
      return { client: { session }, server: { context: server }, rules: [{ direction: 'c->s', message: H.ClientHello, mutate: swapFirstTwoSuites }] };
    },
    sender: 'client', description: 'decrypt_error', code: 51, function: 'tls_process_finished', reason: 'digest check failed', file: 'ssl/statem/statem_lib.c',
    inferredPath: 'tls_process_finished',
  },
  {
    id: 'D6 (S07b)',
    title: 'RSA key exchange, encrypted premaster not below the modulus: the server sends decrypt_error from tls_process_cke_rsa',
    setup: () => ({
      client: { ciphers: RSA_KX_GCM },
      server: { ...rsa2048Pair(), ciphers: RSA_KX_GCM },
      rules: [{ direction: 'c->s', message: H.ClientKeyExchange, mutate: saturateRsaPremaster }],
    }),
    sender: 'server', description: 'decrypt_error', code: 51, function: 'tls_process_cke_rsa', reason: 'decryption failed', file: 'ssl/statem/statem_srvr.c',
    lowerLevel: true,
  },
  {
    id: 'D8 (S29)',
    title: 'a certificate signature broken in transit (RSA-4096 chain fragmented at mtu 576): the client sends decrypt_error, verify result 7',
    setup: () => ({
      client: { rejectUnauthorized: true, ca: rsa4096Root(), mtu: 576 },
      server: { ...rsa4096Chain(), mtu: 576 },
      rules: [{ direction: 's->c', message: H.Certificate, mutate: breakCertificateSignature }],
    }),
    sender: 'client', description: 'decrypt_error', code: 51, function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', file: 'ssl/statem/statem_clnt.c',
    verifyResult: 7,
  },
  // ----------------------------------------------------------------------------- bad_record_mac (§4.2)
  {
    id: 'bad_record_mac (S05)',
    title: 'CBC with encrypt-then-MAC, tampered encrypted Finished: the server sends bad_record_mac from dtls1_process_record',
    setup: () => ({ client: { ciphers: CBC }, server: { ciphers: CBC }, rules: [recordBody('c->s', ContentType.Handshake, flipLastByteOfEpoch1Handshake)] }),
    sender: 'server', description: 'bad_record_mac', code: 20, function: 'dtls1_process_record', reason: 'decryption failed or bad record mac', file: 'ssl/record/ssl3_record.c',
    inferredPath: 'dtls1_process_record',
  },
  {
    id: 'bad_record_mac (S25)',
    title: 'RSA key exchange with a corrupted server key, CBC with encrypt-then-MAC: a random premaster, then bad_record_mac',
    setup: () => ({ client: { ciphers: RSA_KX_CBC }, server: { cert: rsa2048Pair().cert, key: corruptedRsaKey(rsa2048Pair().key), ciphers: RSA_KX_CBC } }),
    sender: 'server', description: 'bad_record_mac', code: 20, function: 'dtls1_process_record', reason: 'decryption failed or bad record mac', file: 'ssl/record/ssl3_record.c',
    inferredPath: 'dtls1_process_record',
  },
  // -------------------------------------------------------------------------- handshake_failure (§4.3)
  {
    id: 'no shared cipher (S17)',
    title: 'no shared cipher: the server sends handshake_failure from tls_post_process_client_hello',
    setup: () => ({ client: { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }, server: { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } }),
    sender: 'server', description: 'handshake_failure', code: 40, function: 'tls_post_process_client_hello', reason: 'no shared cipher', file: 'ssl/statem/statem_srvr.c',
    inferredPath: 'tls_post_process_client_hello',
  },
  {
    id: 'cookie mismatch (S18)',
    title: 'a rewritten cookie in the second ClientHello: the server sends handshake_failure (cookie mismatch)',
    setup: () => ({
      server: { cookieExchange: true, peer: { address: '127.0.0.1', port: 40000 } },
      rules: [{ direction: 'c->s', message: H.ClientHello, messageSeq: 1, mutate: flipCookieByte }],
    }),
    sender: 'server', description: 'handshake_failure', code: 40, function: 'tls_early_post_process_client_hello', reason: 'cookie mismatch', file: 'ssl/statem/statem_srvr.c',
    receiverSays: /HelloVerifyRequest: its cookie/,
  },
  {
    id: 'inconsistent extms',
    title: 'resuming an extended-master-secret session without the extension: the server sends handshake_failure from ssl_get_prev_session',
    setup: async () => {
      const server = createSecureContext(ecPair());
      const session = await resumableSession(server);
      return { client: { session, extendedMasterSecret: false }, server: { context: server } };
    },
    sender: 'server', description: 'handshake_failure', code: 40, function: 'ssl_get_prev_session', reason: 'inconsistent extms', file: 'ssl/ssl_sess.c',
  },
  {
    id: 'wrong signature type',
    title: 'a ServerKeyExchange signature algorithm the client did not offer: the client sends handshake_failure from tls12_check_peer_sigalg',
    setup: () => ({ client: { sigalgs: 'ECDSA+SHA256' }, rules: [{ direction: 's->c', message: H.ServerKeyExchange, mutate: setSkeSigalg(0x0603) }] }),
    sender: 'client', description: 'handshake_failure', code: 40, function: 'tls12_check_peer_sigalg', reason: 'wrong signature type', file: 'ssl/t1_lib.c',
  },
  {
    id: 'fingerprint (S15)',
    title: 'fingerprint mismatch: the client sends handshake_failure with verify result 50',
    setup: () => ({ client: { remoteFingerprints: [{ algorithm: 'sha-256', value: '00:'.repeat(31) + '00' }] } }),
    sender: 'client', description: 'handshake_failure', code: 40, function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', file: 'ssl/statem/statem_clnt.c',
    verifyResult: 50, senderCode: 'ERR_DTLS_FINGERPRINT_MISMATCH', inferredPath: 'tls_post_process_server_certificate', receiverSays: /fingerprint/,
  },
  {
    id: 'no client certificate',
    title: 'a client certificate required and none sent: the server sends handshake_failure (peer did not return a certificate)',
    setup: () => ({ server: { requestCert: true } }),
    sender: 'server', description: 'handshake_failure', code: 40, function: 'tls_process_client_certificate', reason: 'peer did not return a certificate', file: 'ssl/statem/statem_srvr.c',
    inferredPath: 'tls_process_client_certificate',
  },
  // -------------------------------------------------------------------------- illegal_parameter (§4.4)
  {
    id: 'wrong cipher returned (S19)',
    title: 'a ServerHello suite the client did not offer: the client sends illegal_parameter from set_client_ciphersuite',
    setup: () => ({ client: { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, rules: [{ direction: 's->c', message: H.ServerHello, mutate: setServerHelloSuite(0xc02c) }] }),
    sender: 'client', description: 'illegal_parameter', code: 47, function: 'set_client_ciphersuite', reason: 'wrong cipher returned', file: 'ssl/statem/statem_clnt.c',
    receiverSays: /ServerHello or Certificate or ServerKeyExchange/,
  },
  {
    id: 'unknown cipher returned',
    title: 'a ServerHello suite code OpenSSL does not know: illegal_parameter (unknown cipher returned)',
    setup: () => ({ rules: [{ direction: 's->c', message: H.ServerHello, mutate: setServerHelloSuite(0xfefe) }] }),
    sender: 'client', description: 'illegal_parameter', code: 47, function: 'set_client_ciphersuite', reason: 'unknown cipher returned', file: 'ssl/statem/statem_clnt.c',
  },
  {
    id: 'wrong curve',
    title: 'a ServerKeyExchange group the client did not offer: illegal_parameter from tls_process_ske_ecdhe',
    setup: () => ({ client: { groups: 'P-256' }, rules: [{ direction: 's->c', message: H.ServerKeyExchange, mutate: setSkeGroup(29) }] }),
    sender: 'client', description: 'illegal_parameter', code: 47, function: 'tls_process_ske_ecdhe', reason: 'wrong curve', file: 'ssl/statem/statem_clnt.c',
  },
  {
    id: 'bad ecpoint',
    title: 'an invalid P-256 point in the ServerKeyExchange: illegal_parameter from tls_process_ske_ecdhe',
    setup: () => ({ client: { groups: 'P-256' }, rules: [{ direction: 's->c', message: H.ServerKeyExchange, mutate: breakSkePoint }] }),
    sender: 'client', description: 'illegal_parameter', code: 47, function: 'tls_process_ske_ecdhe', reason: 'bad ecpoint', file: 'ssl/statem/statem_clnt.c',
    lowerLevel: true,
  },
  {
    id: 'bad key share',
    title: 'an invalid P-256 point in the ClientKeyExchange: the server sends illegal_parameter from tls_process_cke_ecdhe',
    setup: () => ({ client: { groups: 'P-256' }, rules: [{ direction: 'c->s', message: H.ClientKeyExchange, mutate: breakCkePoint }] }),
    sender: 'server', description: 'illegal_parameter', code: 47, function: 'tls_process_cke_ecdhe', reason: 'bad key share', file: 'ssl/statem/statem_srvr.c',
    receiverSays: /ClientKeyExchange/,
  },
  {
    id: 'excessive message size',
    title: 'a fragment that reaches beyond its message length: illegal_parameter from dtls1_preprocess_fragment',
    setup: () => ({ rules: [rewriteFragmentHeaders('s->c', (f) => (f.msgType === H.ServerHello ? ((f.msgLength = f.fragmentLength - 1), true) : false))] }),
    sender: 'client', description: 'illegal_parameter', code: 47, function: 'dtls1_preprocess_fragment', reason: 'excessive message size', file: 'ssl/statem/statem_dtls.c',
  },
  {
    id: 'bad length',
    title: 'a fragment length larger than its record: illegal_parameter from dtls_get_reassembled_message',
    setup: () => ({
      rules: [rewriteFragmentHeaders('s->c', (f) => (f.msgType === H.ServerHello ? ((f.fragmentLength += 40), (f.msgLength += 40), true) : false))],
    }),
    sender: 'client', description: 'illegal_parameter', code: 47, function: 'dtls_get_reassembled_message', reason: 'bad length', file: 'ssl/statem/statem_dtls.c',
  },
  {
    id: 'unknown alert type',
    title: 'an alert record with level 3: illegal_parameter from dtls1_read_bytes',
    setup: () => ({ rules: [injectAfterFirst('s->c', () => [{ type: ContentType.Alert, body: Buffer.from([3, 40]) }])] }),
    sender: 'client', description: 'illegal_parameter', code: 47, function: 'dtls1_read_bytes', reason: 'unknown alert type', file: 'ssl/record/rec_layer_d1.c',
  },
  // ------------------------------------------------------------------------- unexpected_message (§4.5)
  {
    id: 'unexpected message (S20)',
    title: 'a ServerHelloDone where the ECDHE suite needs a ServerKeyExchange: unexpected_message from ossl_statem_client_read_transition',
    setup: () => ({ rules: [rewriteFragmentHeaders('s->c', (f) => (f.msgType === H.ServerKeyExchange ? ((f.msgType = H.ServerHelloDone), true) : false))] }),
    sender: 'client', description: 'unexpected_message', code: 10, function: 'ossl_statem_client_read_transition', reason: 'unexpected message', file: 'ssl/statem/statem_clnt.c',
  },
  {
    id: 'handshake header cut short',
    title: 'a handshake record shorter than the 12-byte header: unexpected_message from dtls_get_reassembled_message',
    setup: () => ({ rules: [{ direction: 's->c', rewrite: (rec, w) => (w.datagram === 0 && w.index === 0 ? [{ ...rec, body: rec.body.subarray(0, 5) }] : undefined) }] }),
    sender: 'client', description: 'unexpected_message', code: 10, function: 'dtls_get_reassembled_message', reason: 'unexpected message', file: 'ssl/statem/statem_dtls.c',
  },
  {
    id: 'bad change cipher spec',
    title: 'a ChangeCipherSpec with value 2: unexpected_message from dtls_get_reassembled_message',
    setup: () => ({ rules: [recordBody('c->s', ContentType.ChangeCipherSpec, () => Buffer.from([2]))] }),
    sender: 'server', description: 'unexpected_message', code: 10, function: 'dtls_get_reassembled_message', reason: 'bad change cipher spec', file: 'ssl/statem/statem_dtls.c',
  },
  {
    id: 'bad change cipher spec (length)',
    title: 'a two-byte ChangeCipherSpec: decode_error from tls_process_change_cipher_spec',
    setup: () => ({ rules: [recordBody('c->s', ContentType.ChangeCipherSpec, () => Buffer.from([1, 1]))] }),
    sender: 'server', description: 'decode_error', code: 50, function: 'tls_process_change_cipher_spec', reason: 'bad change cipher spec', file: 'ssl/statem/statem_lib.c',
  },
  {
    id: 'invalid alert',
    title: 'a one-byte alert record: unexpected_message (invalid alert) from dtls1_read_bytes',
    setup: () => ({ rules: [injectAfterFirst('s->c', () => [{ type: ContentType.Alert, body: Buffer.from([1]) }])] }),
    sender: 'client', description: 'unexpected_message', code: 10, function: 'dtls1_read_bytes', reason: 'invalid alert', file: 'ssl/record/rec_layer_d1.c',
  },
  {
    id: 'too many warn alerts',
    title: 'six warning alerts in a row: unexpected_message (too many warn alerts) from dtls1_read_bytes',
    setup: () => ({ rules: [injectAfterFirst('s->c', () => Array.from({ length: 6 }, () => ({ type: ContentType.Alert, body: Buffer.from([1, 90]) })))] }),
    sender: 'client', description: 'unexpected_message', code: 10, function: 'dtls1_read_bytes', reason: 'too many warn alerts', file: 'ssl/record/rec_layer_d1.c',
  },
  {
    id: 'unexpected record (type)',
    title: 'a record of content type 25 during the handshake: unexpected_message (unexpected record)',
    setup: () => ({ rules: [injectAfterFirst('s->c', () => [{ type: 25, body: Buffer.from([1, 2, 3]) }])] }),
    sender: 'client', description: 'unexpected_message', code: 10, function: 'dtls1_read_bytes', reason: 'unexpected record', file: 'ssl/record/rec_layer_d1.c',
  },
  {
    id: 'unexpected record (application data)',
    title: 'plaintext application data during the handshake: unexpected_message (unexpected record)',
    setup: () => ({ rules: [injectAfterFirst('s->c', () => [{ type: ContentType.ApplicationData, body: Buffer.from([1, 2, 3]) }])] }),
    sender: 'client', description: 'unexpected_message', code: 10, function: 'dtls1_read_bytes', reason: 'unexpected record', file: 'ssl/record/rec_layer_d1.c',
  },
  // ----------------------------------------------------------------------- certificate alerts (§4.6)
  {
    id: 'certificate_expired (S16)',
    title: 'an expired server certificate, the client verifying: certificate_expired, verify result 10',
    setup: () => ({ client: { rejectUnauthorized: true, ca: caCert() }, server: expiredPair() }),
    sender: 'client', description: 'certificate_expired', code: 45, function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', file: 'ssl/statem/statem_clnt.c',
    verifyResult: 10, inferredPath: 'tls_post_process_server_certificate', receiverSays: /expired/,
  },
  {
    id: 'certificate_expired (generated)',
    title: "a self-signed certificate dated January 2020 (faults.datedCertificate), trusted as itself: certificate_expired, verify result 10",
    setup: () => {
      const dated = datedCertificate();
      return { client: { rejectUnauthorized: true, ca: dated.cert }, server: dated };
    },
    sender: 'client', description: 'certificate_expired', code: 45, function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', file: 'ssl/statem/statem_clnt.c',
    verifyResult: 10,
  },
  {
    id: 'unknown_ca (S13)',
    title: 'a self-signed server certificate not in the trust store: unknown_ca, verify result 18',
    setup: () => ({ client: { rejectUnauthorized: true, ca: caCert() } }),
    sender: 'client', description: 'unknown_ca', code: 48, function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', file: 'ssl/statem/statem_clnt.c',
    verifyResult: 18, receiverSays: /does not trust/,
  },
  {
    id: 'bad_certificate (host name)',
    title: 'a certificate for another host name: bad_certificate, verify result 62',
    setup: () => ({ client: { rejectUnauthorized: true, ca: caCert(), servername: 'other.test' }, server: serverPair() }),
    sender: 'client', description: 'bad_certificate', code: 42, function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', file: 'ssl/statem/statem_clnt.c',
    verifyResult: 62,
  },
  {
    id: 'bad_certificate (DER)',
    title: 'a server certificate that does not parse: bad_certificate from tls_process_server_certificate',
    setup: () => ({ rules: [{ direction: 's->c', message: H.Certificate, mutate: breakCertificateEncoding }] }),
    sender: 'client', description: 'bad_certificate', code: 42, function: 'tls_process_server_certificate', reason: 'ASN1 lib', file: 'ssl/statem/statem_clnt.c',
    lowerLevel: true,
  },
  {
    id: 'unsupported_certificate',
    title: 'a serverAuth-only certificate as the client certificate: the server sends unsupported_certificate, verify result 26',
    setup: () => ({ client: expiredPair(), server: { requestCert: true, ca: caCert() } }),
    sender: 'server', description: 'unsupported_certificate', code: 43, function: 'tls_process_client_certificate', reason: 'certificate verify failed', file: 'ssl/statem/statem_srvr.c',
    verifyResult: 26, inferredPath: 'tls_process_client_certificate',
  },
  // -------------------------------------------------------------------------------- version and ALPN
  {
    id: 'protocol_version',
    title: 'a DTLS 1.0-only client against the 1.2 default: protocol_version',
    setup: () => ({ client: { minVersion: 'DTLSv1', maxVersion: 'DTLSv1', ciphers: 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0' } }),
    sender: 'server', description: 'protocol_version', code: 70, function: 'tls_early_post_process_client_hello', reason: 'unsupported protocol', file: 'ssl/statem/statem_srvr.c',
    inferredPath: 'tls_early_post_process_client_hello',
  },
  {
    id: 'no_application_protocol',
    title: 'no ALPN overlap: no_application_protocol from tls_handle_alpn',
    setup: () => ({ client: { alpnProtocols: ['a'] }, server: { alpnProtocols: ['b'] } }),
    sender: 'server', description: 'no_application_protocol', code: 120, function: 'tls_handle_alpn', reason: 'no application protocol', file: 'ssl/statem/statem_srvr.c',
    inferredPath: 'tls_handle_alpn',
  },
];

for (const c of CASES) {
  test(`${c.id}: ${c.title} (${opensslVersion})`, async () => {
    const opts = await c.setup();
    const r = await runThroughMitm(opts);
    expectPath(r, c, (opts.rules ?? []).length > 0);
  });
}

test('role conflict (S20, janus-gateway#2742): two clients each send unexpected_message from ossl_statem_client_read_transition', async () => {
  let a!: DtlsSession;
  let b!: DtlsSession;
  a = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => setImmediate(() => b.receive(d)) });
  b = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => setImmediate(() => a.receive(d)) });
  const alerts: DtlsAlert[] = [];
  a.on('alert', (x) => alerts.push(x));
  b.on('alert', (x) => alerts.push(x));
  try {
    const [ra, rb] = await Promise.allSettled([a.handshake(), b.handshake()]);
    assert.equal(ra.status, 'rejected');
    assert.equal(rb.status, 'rejected');
    const sent = alerts.filter((x) => x.direction === 'sent');
    assert.equal(sent.length, 2, 'both clients object to the other ClientHello');
    for (const x of sent) {
      assert.equal(x.description, 'unexpected_message');
      const e = lastSsl(x.opensslErrors, 'client');
      assert.equal(e.function, 'ossl_statem_client_read_transition');
      assert.equal(e.reason, 'unexpected message');
      assert.equal(x.explanation.path, 'ossl_statem_client_read_transition');
      assert.ok(x.explanation.likelyCauses.some((s) => /role conflict/.test(s)));
    }
  } finally {
    a.destroy();
    b.destroy();
  }
});

// ------------------------------------------------------------------- silent failures (§3, §4.2, §9.4)

interface SilentCase {
  id: string;
  title: string;
  setup: () => MitmRunOptions;
  /** which side counted the peer's undecryptable records */
  counter: 'client' | 'server';
}

const SILENT: SilentCase[] = [
  {
    id: 'S04',
    title: 'extended master secret on, ClientHello suites swapped: the session hashes and so the keys differ',
    setup: () => ({ rules: [{ direction: 'c->s', message: H.ClientHello, mutate: swapFirstTwoSuites }] }),
    counter: 'server',
  },
  {
    id: 'S08',
    title: "AES-GCM, the client's encrypted Finished tampered with",
    setup: () => ({ rules: [recordBody('c->s', ContentType.Handshake, flipLastByteOfEpoch1Handshake)] }),
    counter: 'server',
  },
  {
    id: 'S26',
    title: 'RSA key exchange (AES-GCM) and a corrupted server key: the premaster decrypts to garbage, OpenSSL carries on with a random one',
    setup: () => ({ client: { ciphers: RSA_KX_GCM }, server: { cert: rsa2048Pair().cert, key: corruptedRsaKey(rsa2048Pair().key), ciphers: RSA_KX_GCM } }),
    counter: 'server',
  },
];

for (const c of SILENT) {
  test(`silent ${c.id}: ${c.title} — no alert on either side, "read timeout expired", diagnosed as a key mismatch, not loss`, async () => {
    const opts = c.setup();
    const r = await runThroughMitm({ ...opts, client: { ...FAST_RETRANSMIT, ...opts.client }, server: { ...FAST_RETRANSMIT, ...opts.server } });
    if ((opts.rules ?? []).length > 0) assert.ok(r.mitm.edits + r.mitm.rewrites > 0, 'the mutation was applied');
    for (const who of ['client', 'server'] as const) {
      assert.deepEqual(r[who].alerts, [], `${who}: no alert (OpenSSL drops undecryptable DTLS records silently)`);
      const err = rejection(r[who], who);
      assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT', `${who}: ${err.message}`);
      const e = lastSsl(err.opensslErrors, who);
      assert.equal(e.function, 'dtls1_check_timeout_num');
      assert.equal(e.reason, 'read timeout expired');
      assert.equal(err.explanation.path, 'dtls1_check_timeout_num');
    }
    const counting = r[c.counter];
    const other = r[c.counter === 'server' ? 'client' : 'server'];
    assert.ok(counting.stats.undecryptedRecords > 0, `${c.counter}: undecryptedRecords ${counting.stats.undecryptedRecords}`);
    const err = rejection(counting, c.counter);
    assert.equal(err.explanation.inferredPath, 'dtls1_process_record');
    assert.match(err.explanation.summary, /could not be decrypted: the two sides derived different keys/);
    assert.match(err.explanation.meaning, /not packet loss/);
    // The timeline shows the encrypted records that never became a message.
    const records = counting.timeline.filter((e) => e.type === 'record');
    assert.ok(records.length > 0 && records.every((e) => e.type === 'record' && e.epoch === 1), 'epoch-1 records in the timeline');
    assert.ok(!counting.timeline.some((e) => e.type === 'message' && e.direction === 'in' && e.message === 'Finished'), 'no Finished ever decrypted');
    // The other side only saw its peer repeat a flight: it must not claim a key mismatch of its own.
    assert.equal(other.stats.undecryptedRecords, 0);
    assert.equal(rejection(other, 'other').explanation.inferredPath, undefined);
  });
}

test('plain loss: a client whose every datagram is dropped times out with "the peer never answered", not a key mismatch', async () => {
  const r = await runThroughMitm({
    client: FAST_RETRANSMIT,
    server: FAST_RETRANSMIT,
    // The server hears nothing and waits for its handshakeTimeout; OpenSSL's retransmissions end the client first.
    handshakeTimeout: 1500,
    rules: [{ direction: 'c->s', rewrite: () => [] }],
  });
  assert.equal(rejection(r.server, 'server').code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
  const err = rejection(r.client, 'client');
  assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
  assert.equal(lastSsl(err.opensslErrors, 'client').reason, 'read timeout expired');
  assert.equal(r.client.stats.datagramsIn, 0);
  assert.equal(r.client.stats.undecryptedRecords, 0);
  assert.equal(err.explanation.inferredPath, undefined);
  assert.match(err.explanation.summary, /never answered/);
  assert.equal(r.client.stats.retransmits, 12, 'OpenSSL gave up after 12 retransmissions');
});

test('a handshakeTimeout that fires first carries the same diagnosis (no OpenSSL entry at all)', async () => {
  const r = await runThroughMitm({
    client: { retransmitTimeout: 20 },
    server: { retransmitTimeout: 20 },
    handshakeTimeout: 400,
    rules: [{ direction: 'c->s', message: H.ClientHello, mutate: swapFirstTwoSuites }],
  });
  const err = rejection(r.server, 'server');
  assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
  assert.deepEqual(err.opensslErrors, []);
  assert.equal(err.explanation.path, 'unknown');
  assert.equal(err.explanation.inferredPath, 'dtls1_process_record');
  assert.ok(r.server.stats.undecryptedRecords > 0);
});

test('OpenSSL quirk: a fragment announcing a 16 MB message fails the client with no alert and no error entry; the timeline shows the fragment', async () => {
  const r = await runThroughMitm({
    handshakeTimeout: 500,
    rules: [rewriteFragmentHeaders('s->c', (f) => (f.msgType === H.ServerHello ? ((f.msgLength = 0xffffff), true) : false))],
  });
  assert.ok(r.mitm.rewrites > 0);
  const err = rejection(r.client, 'client');
  assert.deepEqual(err.opensslErrors, [], 'dtls1_reassemble_fragment gives up without SSLfatal');
  assert.deepEqual(r.client.alerts, []);
  assert.equal(err.explanation.path, 'unknown');
  assert.match(err.explanation.summary, /without an error entry or an alert/);
  const frag = r.client.timeline.find((e) => e.type === 'fragment' && e.direction === 'in' && e.message === 'ServerHello');
  assert.ok(frag !== undefined && frag.type === 'fragment' && frag.messageLength === 0xffffff, JSON.stringify(frag));
  // The server was never told: it waits for its handshakeTimeout.
  assert.equal(rejection(r.server, 'server').code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
});

test('received warning alerts carry no error entries (the queue after the call belongs to the fatal alert only)', async () => {
  const r = await runThroughMitm({ rules: [injectAfterFirst('s->c', () => Array.from({ length: 6 }, () => ({ type: ContentType.Alert, body: Buffer.from([1, 90]) })))] });
  const warnings = r.client.alerts.filter((a) => a.direction === 'received' && a.level === 'warning');
  assert.equal(warnings.length, 5, 'OpenSSL processes five warnings before it gives up');
  for (const w of warnings) {
    assert.equal(w.description, 'user_canceled');
    assert.deepEqual(w.opensslErrors, []);
  }
  const sent = fatal(r.client, 'sent', 'client');
  assert.equal(lastSsl(sent.opensslErrors, 'client').reason, 'too many warn alerts');
});

// Paths of §4 that DTLS 1.2 on OpenSSL 3.0 cannot be driven into from outside (checked against the source):
//  - D3 tls_process_cert_verify:539: the SSLv3 branch.
//  - D5 tls_process_cke_rsa:2918 and D7 :2945: a provider without RSA_PKCS1_WITH_TLS_PADDING, and an internal
//    length double-check ("should never fail"); no input reaches them with the default provider.
//  - D9: application callbacks (custom extensions, verify callbacks choosing their own error): openssl-dtls
//    has no custom-extension API and its verify callback always sets APPLICATION_VERIFICATION (S15, not S14).
//  - tls_process_change_cipher_spec "ccs received early" and tls_process_finished "got a fin before a ccs":
//    the DTLS read transitions only accept ChangeCipherSpec once the suite is known and Finished only after
//    ChangeCipherSpec; an early ChangeCipherSpec record is dropped by dtls1_read_bytes (tried: the
//    handshake completes after a retransmission).
//  - tls_process_key_exchange "unexpected message" (2220): the read transition rejects a ServerKeyExchange
//    the suite does not use before it gets there (the S20 case above).
//  - tls1_set_server_sigalgs "no shared signature algorithms": ssl3_choose_cipher already weighs the
//    signature algorithms, so "no shared cipher" is raised first (tried: client sigalgs RSA+SHA256 against
//    an ECDSA server).
//  - final_renegotiate / tls_parse_ctos_renegotiate / dtls1_read_bytes "no renegotiation" / SCSV when
//    renegotiating: openssl-dtls refuses renegotiation (SSL_OP_NO_RENEGOTIATION) and a length-preserving
//    rewrite cannot remove renegotiation_info.
//  - ssl_choose_client_version "inappropriate fallback": the TLS 1.3 downgrade sentinel; DTLS 1.3 is not in
//    OpenSSL 3.0.
//  - the DH paths (tls_process_ske_dhe, tls_process_cke_dhe, tls_construct_server_key_exchange "dh key too
//    small"): contexts carry no DH parameters, so even a named DHE suite gives "no shared cipher" (tried).
