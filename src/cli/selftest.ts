// dtls-probe selftest: on 127.0.0.1, a clean handshake and failures induced on
// purpose — by the in-process man-in-the-middle (src/mitm.ts) sitting in the
// send path between two UDP sockets, or by misconfiguration — each checked
// against the OpenSSL path it must raise (the verified path tables of
// openssl-alert-paths.md). The JSON report is versioned: see SelftestReport.
import * as dgram from 'node:dgram';

import { classifyingEntry } from '../errors';
import { corruptedRsaKey, datedCertificate } from '../faults';
import {
  DtlsSession,
  fingerprint,
  generateCertificate,
  type DtlsAlert,
  type DtlsError,
  type Explanation,
  type HandshakeInfo,
  type OpenSSLErrorEntry,
  type SessionOptions,
  type SessionStats,
} from '../index';
import {
  ContentType,
  flipCookieByte,
  flipLastByte,
  HandshakeType,
  Mitm,
  swapFirstTwoSuites,
  type MitmRule,
} from '../mitm';

export const SELFTEST_SCHEMA = 'dtls-probe/selftest@1';

type Role = 'client' | 'server';

export type Expectation =
  | { outcome: 'connected' }
  | {
      outcome: 'alert';
      /** who must send the fatal alert */
      sender: Role;
      description: string;
      function: string;
      reason: string;
      verifyResult?: number;
      /** the receiver's explanation must point at this path of the sender */
      inferredPath?: string;
      /** DtlsError codes each side must fail with (default ERR_DTLS_ALERT_SENT / ERR_DTLS_ALERT_RECEIVED) */
      errors?: Partial<Record<Role, string>>;
    }
  | {
      outcome: 'silent';
      /** the side that saw its peer's encrypted records arrive and fail */
      counter: Role;
      function: string;
      reason: string;
      inferredPath: string;
    };

export interface Scenario {
  name: string;
  what: string;
  client: Partial<SessionOptions>;
  server: Partial<SessionOptions>;
  rules?: MitmRule[];
  expect: Expectation;
}

export interface SideReport {
  state: string;
  error: { code: string; message: string; opensslErrors: OpenSSLErrorEntry[]; explanation: Explanation } | null;
  stats: SessionStats;
}

export interface ScenarioReport {
  name: string;
  what: string;
  ok: boolean;
  expected: Expectation;
  /** what happened: both connected, a fatal alert, no alert at all (both gave up), or something else */
  outcome: 'connected' | 'alert' | 'silent' | 'other';
  alert: {
    sender: Role;
    level: 'warning' | 'fatal';
    description: string;
    code: number;
    lastMessageReceived: string | null;
    opensslErrors: OpenSSLErrorEntry[];
    verifyResult: { code: number; message: string } | null;
    negotiated: DtlsAlert['negotiated'];
    explanation: Explanation;
  } | null;
  received: { side: Role; description: string; opensslErrors: OpenSSLErrorEntry[]; explanation: Explanation } | null;
  client: SideReport;
  server: SideReport;
  handshake: { protocol: string; cipher: string; extendedMasterSecret: boolean; handshakeMs: number; echo: string | null } | null;
  /** man-in-the-middle edits and record rewrites applied (0 for a misconfiguration) */
  mitm: { edits: number; rewrites: number };
  checks: Array<{ label: string; pass: boolean }>;
  /** set only when the scenario itself threw */
  crashed?: string;
}

export interface SelftestReport {
  schema: typeof SELFTEST_SCHEMA;
  openssl: string;
  node: string;
  passed: number;
  failed: number;
  scenarios: ScenarioReport[];
}

const HANDSHAKE_LIMIT_MS = 5000;
const FAST = { retransmitTimeout: () => 20 } as const;

/** The scenarios `dtls-probe selftest` runs (fresh certificates and keys each time). */
export async function builtinScenarios(): Promise<Scenario[]> {
  const [server, other, client, rsa] = await Promise.all([
    generateCertificate({ commonName: 'dtls-probe server' }),
    generateCertificate({ commonName: 'dtls-probe other' }),
    generateCertificate({ commonName: 'dtls-probe client' }),
    generateCertificate({ keyType: 'rsa-2048', commonName: 'dtls-probe rsa' }),
  ]);
  const badRsa = { cert: rsa.cert, key: corruptedRsaKey(rsa.key) };
  const expired = datedCertificate({ commonName: 'dtls-probe expired' });
  const H = HandshakeType;
  const clientAuth = { requestCert: true, rejectUnauthorized: false };
  return [
    {
      name: 'clean handshake',
      what: 'ECDHE-ECDSA, cookie exchange, server fingerprint checked, one message echoed',
      client: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(server.cert) }] },
      server: { ...server, cookieExchange: true },
      expect: { outcome: 'connected' },
    },
    {
      name: 'tampered ServerKeyExchange',
      what: "the man-in-the-middle flips the last byte of the server's ServerKeyExchange signature",
      client: { rejectUnauthorized: false },
      server,
      rules: [{ direction: 's->c', message: H.ServerKeyExchange, mutate: flipLastByte }],
      expect: { outcome: 'alert', sender: 'client', description: 'decrypt_error', function: 'tls_process_key_exchange', reason: 'bad signature', inferredPath: 'tls_process_key_exchange' },
    },
    {
      name: 'tampered CertificateVerify',
      what: "the man-in-the-middle flips the last byte of the client's CertificateVerify signature",
      client: { ...client, rejectUnauthorized: false },
      server: { ...server, ...clientAuth },
      rules: [{ direction: 'c->s', message: H.CertificateVerify, mutate: flipLastByte }],
      expect: { outcome: 'alert', sender: 'server', description: 'decrypt_error', function: 'tls_process_cert_verify', reason: 'bad signature', inferredPath: 'tls_process_cert_verify' },
    },
    {
      name: 'transcript changed, EMS off',
      what: 'the man-in-the-middle swaps two cipher suites in the ClientHello; extended master secret is off',
      client: { rejectUnauthorized: false, extendedMasterSecret: false },
      server,
      rules: [{ direction: 'c->s', message: H.ClientHello, mutate: swapFirstTwoSuites }],
      expect: { outcome: 'alert', sender: 'server', description: 'decrypt_error', function: 'tls_process_finished', reason: 'digest check failed', inferredPath: 'tls_process_finished' },
    },
    {
      name: 'corrupted server key',
      what: 'the server RSA key has the right public half but a wrong private exponent (ECDHE-RSA)',
      client: { rejectUnauthorized: false },
      server: badRsa,
      expect: { outcome: 'alert', sender: 'client', description: 'decrypt_error', function: 'tls_process_key_exchange', reason: 'bad signature', inferredPath: 'tls_process_key_exchange' },
    },
    {
      name: 'corrupted client key',
      what: 'the gateway case: the client RSA key signs wrongly; the server checks our CertificateVerify',
      client: { ...badRsa, rejectUnauthorized: false },
      server: { ...server, ...clientAuth },
      expect: { outcome: 'alert', sender: 'server', description: 'decrypt_error', function: 'tls_process_cert_verify', reason: 'bad signature', inferredPath: 'tls_process_cert_verify' },
    },
    {
      name: 'corrupted key, RSA key exchange',
      what: 'the same corrupted server key with RSA key exchange and a CBC suite (encrypt-then-MAC)',
      client: { rejectUnauthorized: false, ciphers: 'AES128-SHA' },
      server: { ...badRsa, ciphers: 'AES128-SHA' },
      expect: { outcome: 'alert', sender: 'server', description: 'bad_record_mac', function: 'dtls1_process_record', reason: 'decryption failed or bad record mac', inferredPath: 'dtls1_process_record' },
    },
    {
      name: 'silent key mismatch',
      what: 'the same corrupted server key with RSA key exchange and AES-GCM: records fail silently',
      client: { rejectUnauthorized: false, ciphers: 'AES128-GCM-SHA256', ...FAST },
      server: { ...badRsa, ciphers: 'AES128-GCM-SHA256', ...FAST },
      expect: { outcome: 'silent', counter: 'server', function: 'dtls1_check_timeout_num', reason: 'read timeout expired', inferredPath: 'dtls1_process_record' },
    },
    {
      name: 'expired certificate',
      what: 'the client verifies a server certificate that expired on 2020-02-01',
      client: { ca: expired.cert },
      server: expired,
      expect: { outcome: 'alert', sender: 'client', description: 'certificate_expired', function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', verifyResult: 10 },
    },
    {
      name: 'unknown CA',
      what: 'the client verifies a self-signed server certificate against a CA store that lacks it',
      client: { ca: other.cert },
      server,
      expect: { outcome: 'alert', sender: 'client', description: 'unknown_ca', function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', verifyResult: 18 },
    },
    {
      name: 'no shared cipher',
      what: 'the client offers only AES-256-GCM, the server only AES-128-GCM',
      client: { rejectUnauthorized: false, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' },
      server: { ...server, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
      expect: { outcome: 'alert', sender: 'server', description: 'handshake_failure', function: 'tls_post_process_client_hello', reason: 'no shared cipher' },
    },
    {
      name: 'fingerprint mismatch',
      what: "the client expects another certificate's sha-256 fingerprint",
      client: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(other.cert) }] },
      server,
      expect: {
        outcome: 'alert', sender: 'client', description: 'handshake_failure', function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', verifyResult: 50,
        inferredPath: 'tls_post_process_server_certificate', errors: { client: 'ERR_DTLS_FINGERPRINT_MISMATCH' },
      },
    },
    {
      name: 'cookie mismatch',
      what: 'the man-in-the-middle changes the cookie the client returns after a HelloVerifyRequest',
      client: { rejectUnauthorized: false },
      server: { ...server, cookieExchange: true },
      rules: [{ direction: 'c->s', message: H.ClientHello, messageSeq: 1, mutate: flipCookieByte }],
      expect: { outcome: 'alert', sender: 'server', description: 'handshake_failure', function: 'tls_early_post_process_client_hello', reason: 'cookie mismatch' },
    },
    {
      name: 'tampered Finished record',
      what: "the man-in-the-middle flips a byte of the client's encrypted Finished (CBC, encrypt-then-MAC)",
      client: { rejectUnauthorized: false, ciphers: 'ECDHE-ECDSA-AES128-SHA' },
      server: { ...server, ciphers: 'ECDHE-ECDSA-AES128-SHA' },
      rules: [
        {
          direction: 'c->s',
          rewrite: (rec) => {
            if (rec.type !== ContentType.Handshake || rec.epoch === 0) return undefined;
            const body = Buffer.from(rec.body);
            body[body.length - 1] ^= 0x01;
            return [{ ...rec, body }];
          },
        },
      ],
      expect: { outcome: 'alert', sender: 'server', description: 'bad_record_mac', function: 'dtls1_process_record', reason: 'decryption failed or bad record mac' },
    },
  ];
}

async function bindSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

interface Run {
  results: Record<Role, PromiseSettledResult<HandshakeInfo>>;
  alerts: Array<{ side: Role; alert: DtlsAlert }>;
  sessions: Record<Role, DtlsSession>;
  echo: string | undefined;
  mitm: Mitm;
}

/** One client/server handshake over two UDP sockets on 127.0.0.1, through the man-in-the-middle. */
async function runOverUdp(sc: Scenario): Promise<Run> {
  const cs = await bindSocket();
  const ss = await bindSocket();
  const cport = cs.address().port;
  const sport = ss.address().port;
  const mitm = new Mitm(sc.rules ?? []);
  const alerts: Run['alerts'] = [];
  const server = new DtlsSession({
    role: 'server',
    handshakeTimeout: HANDSHAKE_LIMIT_MS,
    ...sc.server,
    peer: { address: '127.0.0.1', port: cport },
    send: (d) => {
      for (const x of mitm.process(d, 's->c')) ss.send(x, cport, '127.0.0.1');
    },
  } as SessionOptions);
  const client = new DtlsSession({
    role: 'client',
    handshakeTimeout: HANDSHAKE_LIMIT_MS,
    ...sc.client,
    send: (d) => {
      for (const x of mitm.process(d, 'c->s')) cs.send(x, sport, '127.0.0.1');
    },
  } as SessionOptions);
  ss.on('message', (m) => server.receive(m));
  cs.on('message', (m) => client.receive(m));
  server.on('alert', (alert) => alerts.push({ side: 'server', alert }));
  client.on('alert', (alert) => alerts.push({ side: 'client', alert }));
  // Failures are read from the handshake() results; these keep an unhandled 'error' from throwing.
  server.on('error', () => undefined);
  client.on('error', () => undefined);
  server.on('message', (m) => server.send(Buffer.concat([Buffer.from('echo:'), m])));
  try {
    const [c, s] = await Promise.allSettled([client.handshake(), server.handshake()]);
    let echo: string | undefined;
    if (c.status === 'fulfilled' && s.status === 'fulfilled') {
      echo = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no echo within 2 s')), 2000);
        client.once('message', (m) => {
          clearTimeout(t);
          resolve(m.toString());
        });
        client.send('hello over DTLS');
      });
    }
    await client.close();
    await server.close();
    return { results: { client: c, server: s }, alerts, sessions: { client, server }, echo, mitm };
  } finally {
    client.destroy();
    server.destroy();
    // Let a last datagram (close_notify) leave before the sockets close.
    await new Promise((r) => setImmediate(r));
    cs.close();
    ss.close();
  }
}

function sideReport(run: Run, role: Role): SideReport {
  const r = run.results[role];
  const e = r.status === 'rejected' ? (r.reason as DtlsError) : undefined;
  return {
    state: run.sessions[role].state,
    error: e === undefined ? null : { code: e.code, message: e.message, opensslErrors: e.opensslErrors ?? [], explanation: e.explanation },
    stats: run.sessions[role].getStats(),
  };
}

function evaluate(sc: Scenario, run: Run): ScenarioReport {
  const sent = run.alerts.find((a) => a.alert.direction === 'sent' && a.alert.level === 'fatal');
  const received = run.alerts.find((a) => a.alert.direction === 'received' && a.alert.level === 'fatal');
  const client = sideReport(run, 'client');
  const server = sideReport(run, 'server');
  const connected = run.results.client.status === 'fulfilled' && run.results.server.status === 'fulfilled';
  const outcome: ScenarioReport['outcome'] = connected ? 'connected' : sent !== undefined ? 'alert' : run.alerts.length === 0 && client.error !== null && server.error !== null ? 'silent' : 'other';
  const info = run.results.client.status === 'fulfilled' ? run.results.client.value : undefined;
  const report: ScenarioReport = {
    name: sc.name,
    what: sc.what,
    ok: false,
    expected: sc.expect,
    outcome,
    alert:
      sent === undefined
        ? null
        : {
            sender: sent.side,
            level: sent.alert.level,
            description: sent.alert.description,
            code: sent.alert.code,
            lastMessageReceived: sent.alert.lastMessageReceived ?? null,
            opensslErrors: sent.alert.opensslErrors,
            verifyResult: sent.alert.verifyResult ?? null,
            negotiated: sent.alert.negotiated,
            explanation: sent.alert.explanation,
          },
    received: received === undefined ? null : { side: received.side, description: received.alert.description, opensslErrors: received.alert.opensslErrors, explanation: received.alert.explanation },
    client,
    server,
    handshake:
      info === undefined
        ? null
        : { protocol: info.protocol, cipher: info.cipher.standardName, extendedMasterSecret: info.extendedMasterSecret, handshakeMs: info.handshakeMs, echo: run.echo ?? null },
    mitm: { edits: run.mitm.edits, rewrites: run.mitm.rewrites },
    checks: [],
  };
  const check = (label: string, pass: boolean) => report.checks.push({ label, pass });
  const ex = sc.expect;
  if (sc.rules !== undefined && sc.rules.length > 0) check('the man-in-the-middle changed what it was told to', run.mitm.edits + run.mitm.rewrites > 0);
  if (ex.outcome === 'connected') {
    check('both sides connected', connected);
    check('the message came back', run.echo === 'echo:hello over DTLS');
    check('no alert before close_notify', run.alerts.every((a) => a.alert.description === 'close_notify'));
  } else if (ex.outcome === 'alert') {
    const receiver: Role = ex.sender === 'client' ? 'server' : 'client';
    const entry = sent !== undefined ? classifyingEntry(sent.alert.opensslErrors) : undefined;
    check(`the ${ex.sender} sent ${ex.description}`, sent?.side === ex.sender && sent.alert.description === ex.description);
    check(`raised in ${ex.function} (${ex.reason})`, entry?.function === ex.function && entry.reason === ex.reason);
    if (ex.verifyResult !== undefined) check(`verify result ${ex.verifyResult}`, sent?.alert.verifyResult?.code === ex.verifyResult);
    check(`explained as ${ex.function}`, sent?.alert.explanation.path === ex.function && !sent.alert.explanation.summary.startsWith('OpenSSL raised'));
    check(`the ${receiver} received ${ex.description}`, received?.side === receiver && received.alert.description === ex.description);
    if (ex.inferredPath !== undefined) check(`the ${receiver} infers ${ex.inferredPath}`, received?.alert.explanation.inferredPath === ex.inferredPath);
    const codes = { [ex.sender]: 'ERR_DTLS_ALERT_SENT', [receiver]: 'ERR_DTLS_ALERT_RECEIVED', ...ex.errors } as Record<Role, string>;
    for (const role of ['client', 'server'] as const) check(`${role} error ${codes[role]}`, report[role].error?.code === codes[role]);
  } else {
    check('no alert on either side', run.alerts.length === 0);
    for (const role of ['client', 'server'] as const) {
      const e = report[role].error;
      const entry = e !== null ? classifyingEntry(e.opensslErrors) : undefined;
      check(`${role} gave up: ${ex.function} (${ex.reason})`, entry?.function === ex.function && entry.reason === ex.reason);
    }
    const counter = report[ex.counter];
    check(`the ${ex.counter} counted undecryptable records`, counter.stats.undecryptedRecords > 0);
    check(`the ${ex.counter} explains a key mismatch (${ex.inferredPath})`, counter.error?.explanation.inferredPath === ex.inferredPath);
  }
  report.ok = report.checks.every((c) => c.pass);
  return report;
}

export interface SelftestOptions {
  /** default: builtinScenarios() */
  scenarios?: Scenario[];
  /** sees each report as soon as it is ready */
  onScenario?: (r: ScenarioReport) => void;
  openssl?: string;
}

/** Runs the scenarios in turn over UDP on 127.0.0.1. */
export async function runSelftest(options: SelftestOptions = {}): Promise<SelftestReport> {
  const list = options.scenarios ?? (await builtinScenarios());
  const onScenario = options.onScenario;
  const out: ScenarioReport[] = [];
  for (const sc of list) {
    let r: ScenarioReport;
    try {
      r = evaluate(sc, await runOverUdp(sc));
    } catch (e) {
      const blank: SideReport = { state: 'unknown', error: null, stats: {} as SessionStats };
      r = {
        name: sc.name, what: sc.what, ok: false, expected: sc.expect, outcome: 'other', alert: null, received: null,
        client: blank, server: blank, handshake: null, mitm: { edits: 0, rewrites: 0 }, checks: [], crashed: (e as Error)?.stack ?? String(e),
      };
    }
    out.push(r);
    onScenario?.(r);
  }
  const passed = out.filter((r) => r.ok).length;
  return { schema: SELFTEST_SCHEMA, openssl: options.openssl ?? '', node: process.version, passed, failed: out.length - passed, scenarios: out };
}
