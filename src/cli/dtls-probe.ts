#!/usr/bin/env node
// dtls-probe: diagnose DTLS handshakes with OpenSSL's own account of what
// went wrong. `selftest` runs loopback handshakes over UDP on 127.0.0.1 and
// failures induced on purpose, and checks that each raised the expected path.
import * as dgram from 'node:dgram';

import {
  DtlsError,
  DtlsSession,
  fingerprint,
  generateCertificate,
  opensslVersion,
  type DtlsAlert,
  type OpenSSLErrorEntry,
  type SessionOptions,
} from '../index';
import { classifyingEntry, shortSourcePath } from '../errors';

interface Expectation {
  /** who must send the fatal alert */
  sender: 'client' | 'server';
  description: string;
  function: string;
  reason: string;
  clientCode: string;
  verifyResult?: number;
}

interface Scenario {
  name: string;
  what: string;
  client: Partial<SessionOptions>;
  server: Partial<SessionOptions>;
  expect?: Expectation;
}

interface Outcome {
  name: string;
  ok: boolean;
  detail: string[];
  json: Record<string, unknown>;
}

const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: string, s: string): string => (useColor ? `\u001b[${code}m${s}\u001b[0m` : s);
const green = (s: string) => paint('32', s);
const red = (s: string) => paint('31', s);
const dim = (s: string) => paint('2', s);
const bold = (s: string) => paint('1', s);


function describeEntry(e: OpenSSLErrorEntry | undefined): string {
  if (e === undefined) return '(no OpenSSL error entry)';
  return `${e.function} / ${e.reason} / ${shortSourcePath(e.file)}:${e.line}${e.data !== undefined ? ` (${e.data})` : ''}`;
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

/** Runs one client/server handshake over two UDP sockets on 127.0.0.1. */
async function runOverUdp(client: Partial<SessionOptions>, server: Partial<SessionOptions>) {
  const cs = await bindSocket();
  const ss = await bindSocket();
  const cport = cs.address().port;
  const sport = ss.address().port;
  const alerts: Array<{ side: 'client' | 'server'; alert: DtlsAlert }> = [];
  const srv = new DtlsSession({
    role: 'server',
    handshakeTimeout: 5000,
    ...server,
    peer: { address: '127.0.0.1', port: cport },
    send: (d) => ss.send(d, cport, '127.0.0.1'),
  } as SessionOptions);
  const cli = new DtlsSession({
    role: 'client',
    handshakeTimeout: 5000,
    ...client,
    send: (d) => cs.send(d, sport, '127.0.0.1'),
  } as SessionOptions);
  ss.on('message', (m) => srv.receive(m));
  cs.on('message', (m) => cli.receive(m));
  srv.on('alert', (alert) => alerts.push({ side: 'server', alert }));
  cli.on('alert', (alert) => alerts.push({ side: 'client', alert }));
  srv.on('error', () => undefined); // reported through the handshake() results below
  srv.on('message', (m) => srv.send(Buffer.concat([Buffer.from('echo:'), m])));
  const [c, s] = await Promise.allSettled([cli.handshake(), srv.handshake()]);
  let echo: string | undefined;
  if (c.status === 'fulfilled' && s.status === 'fulfilled') {
    const reply = new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no echo within 2 s')), 2000);
      cli.once('message', (m) => {
        clearTimeout(t);
        resolve(m.toString());
      });
    });
    cli.send('hello over DTLS');
    echo = await reply;
  }
  await cli.close();
  await srv.close();
  // Let the close_notify datagrams drain before the sockets close.
  await new Promise((r) => setTimeout(r, 20));
  cs.close();
  ss.close();
  return { c, s, alerts, echo, cli, srv };
}

async function scenarios(): Promise<Scenario[]> {
  const server = await generateCertificate({ commonName: 'dtls-probe server' });
  const other = await generateCertificate({ commonName: 'dtls-probe other' });
  return [
    {
      name: 'clean handshake',
      what: 'ECDHE-ECDSA over UDP 127.0.0.1 with a cookie exchange, then one message echoed',
      client: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(server.cert) }] },
      server: { cert: server.cert, key: server.key, cookieExchange: true },
    },
    {
      name: 'no shared cipher',
      what: 'client offers only AES-256-GCM, server only AES-128-GCM',
      client: { rejectUnauthorized: false, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' },
      server: { cert: server.cert, key: server.key, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' },
      expect: { sender: 'server', description: 'handshake_failure', function: 'tls_post_process_client_hello', reason: 'no shared cipher', clientCode: 'ERR_DTLS_ALERT_RECEIVED' },
    },
    {
      name: 'fingerprint mismatch',
      what: "client expects another certificate's sha-256 fingerprint",
      client: { remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(other.cert) }] },
      server: { cert: server.cert, key: server.key },
      expect: { sender: 'client', description: 'handshake_failure', function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', clientCode: 'ERR_DTLS_FINGERPRINT_MISMATCH', verifyResult: 50 },
    },
    {
      name: 'untrusted certificate',
      what: 'client verifies a self-signed server certificate against a CA store that lacks it',
      client: { ca: [other.cert] },
      server: { cert: server.cert, key: server.key },
      expect: { sender: 'client', description: 'unknown_ca', function: 'tls_post_process_server_certificate', reason: 'certificate verify failed', clientCode: 'ERR_DTLS_ALERT_SENT', verifyResult: 18 },
    },
  ];
}

async function runScenario(sc: Scenario): Promise<Outcome> {
  const r = await runOverUdp(sc.client, sc.server);
  const detail: string[] = [];
  const json: Record<string, unknown> = { name: sc.name, what: sc.what };
  if (sc.expect === undefined) {
    const ok = r.c.status === 'fulfilled' && r.s.status === 'fulfilled' && r.echo === 'echo:hello over DTLS';
    if (r.c.status === 'fulfilled') {
      const info = r.c.value;
      const stats = r.cli.getStats();
      detail.push(`${info.protocol} ${info.cipher.standardName}, EMS ${info.extendedMasterSecret ? 'on' : 'off'}, ${info.handshakeMs.toFixed(1)} ms`);
      detail.push(`client: ${stats.datagramsOut} datagrams out, ${stats.datagramsIn} in; echo: ${JSON.stringify(r.echo)}`);
      json.protocol = info.protocol;
      json.cipher = info.cipher.standardName;
      json.handshakeMs = info.handshakeMs;
      json.echo = r.echo;
    } else {
      const e = r.c.reason as DtlsError;
      detail.push(`handshake failed: ${e.code} ${e.message}`);
      json.error = { code: e.code, message: e.message };
    }
    return { name: sc.name, ok, detail, json };
  }
  const ex = sc.expect;
  const sent = r.alerts.find((a) => a.alert.direction === 'sent' && a.alert.level === 'fatal');
  const received = r.alerts.find((a) => a.alert.direction === 'received' && a.alert.level === 'fatal');
  const cerr = r.c.status === 'rejected' ? (r.c.reason as DtlsError) : undefined;
  const entry = sent !== undefined ? classifyingEntry(sent.alert.opensslErrors) : undefined;
  const checks: Array<[string, boolean]> = [
    [`${ex.sender} sent ${ex.description}`, sent?.side === ex.sender && sent.alert.description === ex.description],
    [`raised in ${ex.function} (${ex.reason})`, entry?.function === ex.function && entry.reason === ex.reason],
    [`peer received ${ex.description}`, received !== undefined && received.side !== ex.sender && received.alert.description === ex.description],
    [`client error ${ex.clientCode}`, cerr?.code === ex.clientCode],
  ];
  if (ex.verifyResult !== undefined) checks.push([`verify result ${ex.verifyResult}`, sent?.alert.verifyResult?.code === ex.verifyResult]);
  if (sent !== undefined) {
    detail.push(`alert     ${sent.alert.level} ${sent.alert.description} sent by the ${sent.side} after it received ${sent.alert.lastMessageReceived ?? '(nothing)'}`);
    detail.push(`openssl   ${describeEntry(entry)}`);
    if (sent.alert.verifyResult !== undefined) detail.push(`verify    ${sent.alert.verifyResult.code} ${sent.alert.verifyResult.message}`);
    const n = sent.alert.negotiated;
    const ems = n.extendedMasterSecret === undefined ? '' : `, EMS ${n.extendedMasterSecret ? 'on' : 'off'}${n.encryptThenMac ? ', encrypt-then-MAC' : ''}`;
    detail.push(`state     ${n.protocol}, ${n.cipher ?? 'no suite chosen yet'}${ems}${n.clientCertificateRequested ? ', client certificate requested' : ''}`);
    detail.push(`meaning   ${sent.alert.explanation.summary}`);
  }
  if (received !== undefined) {
    detail.push(`peer      received ${received.alert.description}: ${describeEntry(classifyingEntry(received.alert.opensslErrors))}`);
  }
  if (cerr !== undefined) detail.push(`client    ${cerr.code}: ${cerr.message}`);
  for (const [label, pass] of checks) if (!pass) detail.push(red(`expected: ${label}`));
  json.alert = sent !== undefined ? { sender: sent.side, description: sent.alert.description, level: sent.alert.level, opensslErrors: sent.alert.opensslErrors, verifyResult: sent.alert.verifyResult, negotiated: sent.alert.negotiated, explanation: sent.alert.explanation } : null;
  json.received = received !== undefined ? { side: received.side, opensslErrors: received.alert.opensslErrors } : null;
  json.clientError = cerr !== undefined ? { code: cerr.code, message: cerr.message } : null;
  json.checks = checks.map(([label, pass]) => ({ label, pass }));
  return { name: sc.name, ok: checks.every(([, pass]) => pass), detail, json };
}

async function selftest(args: string[]): Promise<number> {
  const asJson = args.includes('--json');
  const list = await scenarios();
  const outcomes: Outcome[] = [];
  if (!asJson) console.log(`${bold('dtls-probe selftest')} ${dim(`(${opensslVersion}, node ${process.version})`)}\n`);
  for (const sc of list) {
    let o: Outcome;
    try {
      o = await runScenario(sc);
    } catch (e) {
      o = { name: sc.name, ok: false, detail: [`crashed: ${(e as Error).stack ?? String(e)}`], json: { name: sc.name, crashed: String(e) } };
    }
    outcomes.push(o);
    if (!asJson) {
      console.log(`${o.ok ? green('PASS') : red('FAIL')}  ${bold(sc.name)} ${dim(`— ${sc.what}`)}`);
      for (const line of o.detail) console.log(`      ${line}`);
      console.log('');
    }
  }
  const passed = outcomes.filter((o) => o.ok).length;
  if (asJson) {
    console.log(JSON.stringify({ openssl: opensslVersion, node: process.version, passed, failed: outcomes.length - passed, scenarios: outcomes.map((o) => ({ ok: o.ok, ...o.json })) }, null, 2));
  } else {
    console.log(`${passed} passed, ${outcomes.length - passed} failed`);
  }
  return passed === outcomes.length ? 0 : 1;
}

const USAGE = `usage: dtls-probe <command>

commands:
  selftest [--json]   loopback handshakes on 127.0.0.1 plus failures induced on purpose;
                      each failure is shown with the alert and the OpenSSL function,
                      reason and file:line that raised it. Exit 0 when all behaved.
  version             print the OpenSSL and Node versions in use`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'selftest':
      return selftest(rest);
    case 'version':
      console.log(`${opensslVersion} (node ${process.version})`);
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      console.error(`dtls-probe: unknown command '${cmd}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(e);
    process.exitCode = 1;
  },
);
