#!/usr/bin/env node
// dtls-probe: diagnose DTLS handshakes with OpenSSL's own account of what
// went wrong. `selftest` runs loopback handshakes and failures induced on
// purpose, and checks that each raised the expected OpenSSL path.
import { classifyingEntry } from '../errors';
import { opensslVersion } from '../index';
import { describeEntry, explanationLines, line, lowerLevel, style, type Style } from './format';
import { connectCommand, PROBE_USAGE, serveCommand, UsageError } from './probe';
import { builtinScenarios, runSelftest, type ScenarioReport } from './selftest';

function printScenario(r: ScenarioReport, s: Style, width: number, verbose: boolean): void {
  const out: string[] = [];
  out.push(`${r.ok ? s.green('PASS') : s.red('FAIL')}  ${s.bold(r.name.padEnd(width))}  ${s.dim(r.what)}`);
  if (r.crashed !== undefined) {
    out.push(line('crashed', r.crashed));
  } else if (r.outcome === 'connected' && r.handshake !== null) {
    const h = r.handshake;
    out.push(line('negotiated', `${h.protocol} ${h.cipher}, EMS ${h.extendedMasterSecret ? 'on' : 'off'}, ${h.handshakeMs.toFixed(1)} ms`));
    out.push(line('datagrams', `client ${r.client.stats.datagramsOut} out, ${r.client.stats.datagramsIn} in; echo ${JSON.stringify(r.handshake.echo)}`));
  } else if (r.alert !== null) {
    const a = r.alert;
    out.push(line('alert', `${a.level} ${a.description} (${a.code}), sent by the ${a.sender}${a.lastMessageReceived !== null ? ` after it received ${a.lastMessageReceived}` : ''}`));
    out.push(line('openssl', describeEntry(classifyingEntry(a.opensslErrors))));
    const below = lowerLevel(a.opensslErrors);
    if (below !== undefined) out.push(line('below it', below));
    // The verify result matters on certificate paths; elsewhere it is what rejectUnauthorized: false let pass.
    if (a.verifyResult !== null && classifyingEntry(a.opensslErrors)?.reason === 'certificate verify failed') out.push(line('verify', `${a.verifyResult.code} ${a.verifyResult.message}`));
    const n = a.negotiated;
    const ems = n.extendedMasterSecret === undefined ? '' : `, EMS ${n.extendedMasterSecret ? 'on' : 'off'}${n.encryptThenMac ? ', encrypt-then-MAC' : ''}`;
    out.push(line('state', `${n.protocol}, ${n.cipher ?? 'no suite chosen yet'}${ems}${n.clientCertificateRequested ? ', client certificate requested' : ''}`));
    out.push(...explanationLines(a.explanation, s, verbose));
    if (r.received !== null) {
      out.push(line('peer', `the ${r.received.side} received ${r.received.description}: ${describeEntry(classifyingEntry(r.received.opensslErrors))}`));
      out.push(line('peer reads', r.received.explanation.summary + (r.received.explanation.inferredPath !== undefined ? s.dim(` [inferred: ${r.received.explanation.inferredPath}]`) : '')));
    }
  } else {
    out.push(line('alert', 'none on the wire'));
    for (const role of ['client', 'server'] as const) {
      const e = r[role].error;
      if (e === null) continue;
      out.push(line(role, `${e.code}: ${describeEntry(classifyingEntry(e.opensslErrors))}`));
      if (r[role].stats.undecryptedRecords > 0) out.push(line('', `${r[role].stats.undecryptedRecords} records of the peer's next epoch arrived and could not be decrypted`));
      for (const l of explanationLines(e.explanation, s, verbose)) out.push(l);
    }
  }
  for (const c of r.checks) if (!c.pass) out.push(line('expected', s.red(c.label)));
  console.log(`${out.join('\n')}\n`);
}

async function selftest(args: string[]): Promise<number> {
  const asJson = args.includes('--json');
  const verbose = args.includes('--verbose') || args.includes('-v');
  const unknown = args.filter((a) => !['--json', '--verbose', '-v'].includes(a));
  if (unknown.length > 0) {
    console.error(`dtls-probe selftest: unknown option ${unknown[0]}\n\n${USAGE}`);
    return 2;
  }
  const s = style(process.stdout);
  const scenarios = await builtinScenarios();
  const width = Math.max(...scenarios.map((sc) => sc.name.length));
  if (!asJson) console.log(`${s.bold('dtls-probe selftest')} ${s.dim(`(${opensslVersion}, node ${process.version}, UDP on 127.0.0.1)`)}\n`);
  const report = await runSelftest({ scenarios, openssl: opensslVersion, ...(asJson ? {} : { onScenario: (r: ScenarioReport) => printScenario(r, s, width, verbose) }) });
  if (asJson) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const summary = `${report.passed} passed, ${report.failed} failed`;
    console.log(report.failed === 0 ? s.green(summary) : s.red(summary));
  }
  return report.failed === 0 ? 0 : 1;
}

const USAGE = `usage: dtls-probe <command> [options]

commands:
  selftest [--json] [--verbose]
      a clean handshake and failures induced on purpose (an in-process man-in-the-middle
      between two UDP sockets on 127.0.0.1, or a misconfiguration); each is shown with the
      alert, who sent it, the OpenSSL function / reason / file:line that raised it and what
      that means. --json prints the report (schema "dtls-probe/selftest@1", see the README).
      Exit 0 only when every scenario raised the expected path.
${PROBE_USAGE}
  version
      the OpenSSL and Node versions in use`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'selftest':
      return selftest(rest);
    case 'connect':
    case 'serve':
      try {
        return await (cmd === 'connect' ? connectCommand(rest) : serveCommand(rest));
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        console.error(`dtls-probe ${cmd}: ${e.message}\n\n${USAGE}`);
        return 2;
      }
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
