// dtls-probe connect / serve: a handshake with a real peer (or every client's
// handshake with us), shown with the flight recorder, the negotiated
// parameters, the peer certificate's validity and every alert with the
// OpenSSL path that raised it. JSON reports are versioned:
// "dtls-probe/connect@1" (one object) and "dtls-probe/serve@1" (one object
// per line, NDJSON).
import * as fs from 'node:fs';

import { describeEvent, summarizeCertificate, type PeerCertificateSummary } from '../diagnostics';
import { classifyingEntry } from '../errors';
import {
  connect,
  createServer,
  generateCertificate,
  fingerprint as certFingerprint,
  opensslVersion,
  type ConnectOptions,
  type DtlsAlert,
  type DtlsError,
  type DtlsSocket,
  type Explanation,
  type Fingerprint,
  type HandshakeInfo,
  type KeyHealthReport,
  type OpenSSLErrorEntry,
  type ServerOptions,
  type SessionStats,
  type SrtpProfile,
  type TimelineEvent,
} from '../index';
import { describeEntry, explanationLines, line, lowerLevel, style, type Style } from './format';

export const CONNECT_SCHEMA = 'dtls-probe/connect@1';
export const SERVE_SCHEMA = 'dtls-probe/serve@1';

export class UsageError extends Error {}

// ---- options ----

interface Parsed {
  flags: Set<string>;
  values: Map<string, string>;
  positional: string[];
}

function parseArgs(args: string[], withValue: readonly string[], flags: readonly string[]): Parsed {
  const out: Parsed = { flags: new Set(), values: new Map(), positional: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (withValue.includes(a)) {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      out.values.set(a, v);
    } else if (flags.includes(a)) {
      out.flags.add(a);
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      out.positional.push(a);
    }
  }
  return out;
}

function readFile(path: string, what: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** "sha-256:AB:CD:.." or just "AB:CD:.." (sha-256). */
function parseFingerprint(v: string): Fingerprint {
  const m = /^(sha-(?:1|224|256|384|512)):(.+)$/i.exec(v);
  return m !== null ? { algorithm: m[1]!.toLowerCase() as Fingerprint['algorithm'], value: m[2]! } : { algorithm: 'sha-256', value: v };
}

/** "identity:hexkey" */
function parsePsk(v: string): { identity: string; key: Buffer } {
  const i = v.lastIndexOf(':');
  if (i <= 0 || !/^[0-9a-fA-F]+$/.test(v.slice(i + 1)) || (v.length - i - 1) % 2 !== 0) throw new UsageError('--psk takes identity:hexkey');
  return { identity: v.slice(0, i), key: Buffer.from(v.slice(i + 1), 'hex') };
}

function parseInt10(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} takes an integer in ${min}..${max}`);
  return n;
}

/** "host:port", "[v6]:port" */
export function parseTarget(v: string | undefined): { host: string; port: number } {
  if (v === undefined) throw new UsageError('connect needs host:port');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (m === null) throw new UsageError(`not host:port: ${v}`);
  return { host: m[1]!, port: parseInt10(m[2]!, 'the port', 1, 65535) };
}

/** An option the library refuses (ERR_INVALID_ARG_*, ERR_OUT_OF_RANGE) is a usage error of the command. */
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('ERR_INVALID_ARG') || code === 'ERR_OUT_OF_RANGE')) throw new UsageError((e as Error).message);
    throw e;
  }
}

// ---- shared rendering ----

interface AlertReport {
  direction: 'sent' | 'received';
  level: string;
  description: string;
  code: number;
  lastMessageSent: string | null;
  lastMessageReceived: string | null;
  opensslErrors: OpenSSLErrorEntry[];
  verifyResult: { code: number; message: string } | null;
  explanation: Explanation;
}

function alertReport(a: DtlsAlert): AlertReport {
  return {
    direction: a.direction,
    level: a.level,
    description: a.description,
    code: a.code,
    lastMessageSent: a.lastMessageSent ?? null,
    lastMessageReceived: a.lastMessageReceived ?? null,
    opensslErrors: a.opensslErrors,
    verifyResult: a.verifyResult ?? null,
    explanation: a.explanation,
  };
}

function errorReport(e: DtlsError) {
  return { code: e.code, message: e.message, opensslErrors: e.opensslErrors ?? [], explanation: e.explanation };
}

function handshakeReport(h: HandshakeInfo) {
  return {
    protocol: h.protocol,
    cipher: h.cipher.name,
    standardName: h.cipher.standardName,
    extendedMasterSecret: h.extendedMasterSecret,
    resumed: h.resumed,
    alpnProtocol: h.alpnProtocol === false ? null : h.alpnProtocol,
    srtpProfile: h.srtpKeys?.profile ?? null,
    verifyResult: h.verifyResult,
    handshakeMs: h.handshakeMs,
    maxPayload: h.maxPayload,
  };
}

function certificateLines(c: PeerCertificateSummary, s: Style): string[] {
  const validity = `${c.validFrom} .. ${c.validTo}`;
  return [
    line('peer cert', c.subject),
    line('issuer', c.issuer),
    line('valid', c.expired ? `${validity}  ${s.red('EXPIRED')}` : c.notYetValid ? `${validity}  ${s.red('NOT YET VALID')}` : validity),
    line('sha-256', c.fingerprint256),
  ];
}

function alertLines(a: DtlsAlert, s: Style, verbose: boolean): string[] {
  const who = a.direction === 'sent' ? 'we sent' : 'the peer sent';
  const after = a.direction === 'sent' ? (a.lastMessageReceived !== undefined ? ` after receiving ${a.lastMessageReceived}` : '') : a.lastMessageSent !== undefined ? ` after our ${a.lastMessageSent}` : '';
  const out = [line('alert', `${a.level === 'fatal' ? s.red(`${a.level} ${a.description}`) : `${a.level} ${a.description}`} (${a.code}): ${who} it${after}`)];
  if (a.description === 'close_notify') return out;
  out.push(line('openssl', describeEntry(classifyingEntry(a.opensslErrors))));
  const below = lowerLevel(a.opensslErrors);
  if (below !== undefined) out.push(line('below it', below));
  if (a.verifyResult !== undefined && classifyingEntry(a.opensslErrors)?.reason === 'certificate verify failed') out.push(line('verify', `${a.verifyResult.code} ${a.verifyResult.message}`));
  out.push(...explanationLines(a.explanation, s, verbose));
  return out;
}

function timelineLines(tl: TimelineEvent[]): string[] {
  return tl.map((e) => line(`${e.at.toFixed(1).padStart(8)}ms`, describeEvent(e), 6));
}

// ---- connect ----

const CONNECT_VALUES = ['--ca', '--fingerprint', '--cert', '--key', '--ciphers', '--psk', '--mtu', '--keylog', '--timeout', '--servername', '--send', '--srtp'] as const;

/** "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80" */
function parseSrtp(v: string): SrtpProfile[] {
  return v.split(':').filter((x) => x !== '') as SrtpProfile[];
}
const CONNECT_FLAGS = ['--insecure', '--json', '--verbose', '-v', '--no-timeline'] as const;

export async function connectCommand(args: string[]): Promise<number> {
  const p = parseArgs(args, CONNECT_VALUES, CONNECT_FLAGS);
  const target = parseTarget(p.positional[0]);
  if (p.positional.length > 1) throw new UsageError(`unexpected argument ${p.positional[1]}`);
  const asJson = p.flags.has('--json');
  const verbose = p.flags.has('--verbose') || p.flags.has('-v');
  const timeout = p.values.has('--timeout') ? parseInt10(p.values.get('--timeout')!, '--timeout', 1, 2 ** 31 - 1) : 10_000;
  const options: ConnectOptions = { host: target.host, port: target.port, handshakeTimeout: timeout };
  if (p.values.has('--ca')) options.ca = readFile(p.values.get('--ca')!, 'the CA file');
  if (p.values.has('--fingerprint')) options.remoteFingerprints = [parseFingerprint(p.values.get('--fingerprint')!)];
  if (p.flags.has('--insecure')) options.rejectUnauthorized = false;
  if (p.values.has('--cert') !== p.values.has('--key')) throw new UsageError('--cert and --key go together');
  if (p.values.has('--cert')) {
    options.cert = readFile(p.values.get('--cert')!, 'the certificate');
    options.key = readFile(p.values.get('--key')!, 'the key');
  }
  if (p.values.has('--ciphers')) options.ciphers = p.values.get('--ciphers')!;
  if (p.values.has('--psk')) options.psk = parsePsk(p.values.get('--psk')!);
  if (p.values.has('--mtu')) options.mtu = parseInt10(p.values.get('--mtu')!, '--mtu', 256, 65507);
  if (p.values.has('--keylog')) options.keylogFile = p.values.get('--keylog')!;
  if (p.values.has('--servername')) options.servername = p.values.get('--servername')!;
  if (p.values.has('--srtp')) options.srtpProfiles = parseSrtp(p.values.get('--srtp')!);
  const s = style(process.stdout);

  const alerts: DtlsAlert[] = [];
  const sock = asUsage(() => connect(options));
  sock.on('alert', (a) => alerts.push(a));
  const result = await new Promise<{ info?: HandshakeInfo; error?: DtlsError }>((resolve) => {
    sock.once('secureConnect', (info) => resolve({ info }));
    sock.once('error', (error) => resolve({ error }));
  });
  let reply: string | null = null;
  if (result.info !== undefined && p.values.has('--send')) {
    reply = await new Promise<string | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 1000);
      sock.once('message', (m) => {
        clearTimeout(t);
        resolve(m.toString('utf8'));
      });
      sock.send(p.values.get('--send')!);
    });
  }
  if (result.info !== undefined) await sock.close();
  else sock.destroy();
  const timeline = sock.timeline();
  const stats: SessionStats = sock.getStats();
  const cert = result.info?.peerCertificate !== undefined ? summarizeCertificate(result.info.peerCertificate) : undefined;

  if (asJson) {
    console.log(
      JSON.stringify(
        {
          schema: CONNECT_SCHEMA,
          openssl: opensslVersion,
          node: process.version,
          target,
          ok: result.info !== undefined,
          handshake: result.info !== undefined ? handshakeReport(result.info) : null,
          peerCertificate: cert ?? null,
          alerts: alerts.map(alertReport),
          error: result.error !== undefined ? errorReport(result.error) : null,
          reply,
          timeline,
          stats,
        },
        null,
        2,
      ),
    );
    return result.info !== undefined ? 0 : 1;
  }
  const out: string[] = [`${s.bold('dtls-probe connect')} ${target.host}:${target.port} ${s.dim(`(${opensslVersion}, node ${process.version})`)}`, ''];
  if (!p.flags.has('--no-timeline')) out.push(s.bold('timeline'), ...timelineLines(timeline), '');
  if (result.info !== undefined) {
    const h = result.info;
    out.push(`${s.green('CONNECTED')}`);
    out.push(line('negotiated', `${h.protocol} ${h.cipher.standardName} (${h.cipher.name}), EMS ${h.extendedMasterSecret ? 'on' : 'off'}${h.resumed ? ', resumed' : ''}, ${h.handshakeMs.toFixed(1)} ms`));
    if (h.srtpKeys !== undefined) out.push(line('srtp', `${h.srtpKeys.profile} (0x${h.srtpKeys.profileId.toString(16).padStart(4, '0')})`));
    out.push(line('verify', `${h.verifyResult.code} ${h.verifyResult.message}${options.rejectUnauthorized === false ? s.dim(' (not enforced: --insecure)') : ''}`));
    if (cert !== undefined) {
      out.push(...certificateLines(cert, s));
      if (cert.expired) out.push(line('warning', s.yellow('the peer certificate has expired: a peer that verifies would refuse it (certificate_expired)')));
    }
    if (reply !== null) out.push(line('reply', JSON.stringify(reply)));
  } else {
    const e = result.error!;
    out.push(`${s.red('FAILED')}  ${e.code}: ${e.message}`);
  }
  for (const a of alerts) out.push(...alertLines(a, s, verbose));
  if (result.error !== undefined && result.error.alert === undefined) {
    out.push(line('openssl', describeEntry(classifyingEntry(result.error.opensslErrors))));
    out.push(...explanationLines(result.error.explanation, s, verbose));
  }
  out.push(line('datagrams', `${stats.datagramsOut} out, ${stats.datagramsIn} in, ${stats.retransmits} retransmitted flights${stats.undecryptedRecords > 0 ? `, ${stats.undecryptedRecords} undecryptable records` : ''}`));
  console.log(out.join('\n'));
  return result.info !== undefined ? 0 : 1;
}

// ---- serve ----

const SERVE_VALUES = ['--port', '--host', '--cert', '--key', '--ca', '--ciphers', '--psk', '--mtu', '--keylog', '--count', '--fingerprint', '--srtp'] as const;
const SERVE_FLAGS = ['--json', '--verbose', '-v', '--request-cert', '--echo', '--no-cookies', '--no-timeline'] as const;

export async function serveCommand(args: string[]): Promise<number> {
  const p = parseArgs(args, SERVE_VALUES, SERVE_FLAGS);
  if (p.positional.length > 0) throw new UsageError(`unexpected argument ${p.positional[0]}`);
  if (!p.values.has('--port')) throw new UsageError('serve needs --port N (0: any free port)');
  const port = parseInt10(p.values.get('--port')!, '--port', 0, 65535);
  const host = p.values.get('--host') ?? '127.0.0.1';
  const count = p.values.has('--count') ? parseInt10(p.values.get('--count')!, '--count', 1, 2 ** 31 - 1) : Infinity;
  const asJson = p.flags.has('--json');
  const verbose = p.flags.has('--verbose') || p.flags.has('-v');
  const s = style(process.stdout);
  const options: ServerOptions = { cookieExchange: !p.flags.has('--no-cookies') };
  if (p.values.has('--cert') !== p.values.has('--key')) throw new UsageError('--cert and --key go together');
  let generated = false;
  if (p.values.has('--cert')) {
    options.cert = readFile(p.values.get('--cert')!, 'the certificate');
    options.key = readFile(p.values.get('--key')!, 'the key');
  } else if (!p.values.has('--psk')) {
    Object.assign(options, await generateCertificate({ commonName: 'dtls-probe serve' }));
    generated = true;
  }
  if (p.values.has('--ca')) options.ca = readFile(p.values.get('--ca')!, 'the CA file');
  if (p.flags.has('--request-cert')) {
    options.requestCert = true;
    if (!p.values.has('--ca') && !p.values.has('--fingerprint')) options.rejectUnauthorized = false;
  }
  if (p.values.has('--fingerprint')) options.remoteFingerprints = [parseFingerprint(p.values.get('--fingerprint')!)];
  if (p.values.has('--ciphers')) options.ciphers = p.values.get('--ciphers')!;
  if (p.values.has('--psk')) {
    const psk = parsePsk(p.values.get('--psk')!);
    options.pskCallback = (identity) => (identity === psk.identity ? psk.key : null);
  }
  if (p.values.has('--mtu')) options.mtu = parseInt10(p.values.get('--mtu')!, '--mtu', 256, 65507);
  if (p.values.has('--keylog')) options.keylogFile = p.values.get('--keylog')!;
  if (p.values.has('--srtp')) options.srtpProfiles = parseSrtp(p.values.get('--srtp')!);

  const emit = (event: string, body: Record<string, unknown>) => console.log(JSON.stringify({ schema: SERVE_SCHEMA, event, at: new Date().toISOString(), ...body }));
  const server = asUsage(() => createServer(options));
  let handled = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const counted = () => {
    if (++handled >= count) finish();
  };
  server.on('secureConnection', (sock: DtlsSocket) => {
    const alerts: DtlsAlert[] = [];
    sock.on('alert', (a) => alerts.push(a));
    sock.on('error', () => undefined);
    if (p.flags.has('--echo')) sock.on('message', (m) => sock.send(m));
    const remote = { address: sock.remoteAddress, port: sock.remotePort };
    const cert = sock.getPeerCertificate();
    const summary = cert !== undefined ? summarizeCertificate(cert) : undefined;
    if (asJson) {
      emit('handshake', { remote, protocol: sock.getProtocol(), cipher: sock.getCipher()?.name ?? null, srtpProfile: sock.getSrtpKeys()?.profile ?? null, peerCertificate: summary ?? null, timeline: sock.timeline() });
    } else {
      const out = [`${s.green('CONNECTED')}  ${remote.address}:${remote.port}  ${sock.getProtocol()} ${sock.getCipher()?.standardName ?? ''}`];
      if (summary !== undefined) out.push(...certificateLines(summary, s));
      if (!p.flags.has('--no-timeline')) out.push(...timelineLines(sock.timeline()));
      console.log(`${out.join('\n')}\n`);
    }
    counted();
  });
  server.on('tlsClientError', (err: DtlsError, remote) => {
    if (asJson) {
      emit('failure', { remote, error: errorReport(err), alert: err.alert !== undefined ? alertReport(err.alert) : null });
    } else {
      const out = [`${s.red('FAILED')}     ${remote.address}:${remote.port}  ${err.code}: ${err.message}`];
      if (err.alert !== undefined) out.push(...alertLines(err.alert, s, verbose));
      else {
        out.push(line('openssl', describeEntry(classifyingEntry(err.opensslErrors))));
        out.push(...explanationLines(err.explanation, s, verbose));
      }
      console.log(`${out.join('\n')}\n`);
    }
    counted();
  });
  server.on('keyhealth', (r: KeyHealthReport, remote) => {
    if (asJson) emit('keyhealth', { remote, report: r });
    else console.log(`${r.ok ? s.green('KEY OK') : s.red('KEY BAD')}    after ${r.failures} failures (${r.trigger}): ${r.detail}\n`);
  });
  server.on('error', (e: Error) => {
    console.error(`dtls-probe serve: ${e.message}`);
    finish();
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  const fp = options.cert !== undefined ? certFingerprint(options.cert) : undefined;
  if (asJson) emit('listening', { address: addr.address, port: addr.port, fingerprint: fp ?? null, generatedCertificate: generated });
  else {
    console.log(`${s.bold('dtls-probe serve')} ${addr.address}:${addr.port} ${s.dim(`(${opensslVersion}, node ${process.version})`)}`);
    if (fp !== undefined) console.log(line('sha-256', `${fp}${generated ? s.dim(' (a fresh self-signed certificate)') : ''}`, 0));
    console.log('');
  }
  const stop = () => finish();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await done;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  await server.close();
  return 0;
}

export const PROBE_USAGE = `  connect <host:port> [--ca FILE | --insecure | --fingerprint [sha-256:]HEX] [--cert FILE --key FILE]
          [--ciphers LIST] [--psk ID:HEXKEY] [--servername NAME] [--mtu N] [--keylog FILE]
          [--srtp PROFILE[:PROFILE...]] [--timeout MS] [--send TEXT] [--no-timeline] [--json] [--verbose]
      one handshake with any DTLS server: the flight recorder, the negotiated parameters, the peer
      certificate (warns when expired) and every alert with the OpenSSL path that raised it.
      Without --ca, --insecure or --fingerprint the chain is verified against Node's root CAs.
      --json prints schema "dtls-probe/connect@1". Exit 0 when the handshake completed, else 1.
  serve --port N [--host ADDR] [--cert FILE --key FILE] [--ca FILE] [--request-cert]
        [--fingerprint [sha-256:]HEX] [--ciphers LIST] [--psk ID:HEXKEY] [--srtp PROFILES] [--mtu N] [--keylog FILE]
        [--no-cookies] [--echo] [--count N] [--no-timeline] [--json] [--verbose]
      logs every client's handshake the same way (a fresh self-signed certificate unless --cert);
      --json prints one "dtls-probe/serve@1" object per line; --count N exits after N handshakes.`;
