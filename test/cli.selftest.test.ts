// dtls-probe selftest: the exit code, the human output (aligned, no colors off a TTY, every scenario with its
// OpenSSL path), and the --json report against its documented schema ("dtls-probe/selftest@1").
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { opensslVersion } from '../lib/index.js';
import { builtinScenarios, runSelftest, SELFTEST_SCHEMA, type Scenario, type ScenarioReport } from '../lib/cli/selftest.js';

const CLI = path.join(__dirname, '..', 'lib', 'cli', 'dtls-probe.js');

function probe(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: undefined, ...env } });
}

// The paths every induced failure must show (function / reason, and who sends the alert).
const EXPECTED_LINES: Array<[scenario: string, openssl: RegExp]> = [
  ['tampered ServerKeyExchange', /^ {6}openssl {5}tls_process_key_exchange \/ bad signature \/ ssl\/statem\/statem_clnt\.c:\d+$/m],
  ['tampered CertificateVerify', /^ {6}openssl {5}tls_process_cert_verify \/ bad signature \/ ssl\/statem\/statem_lib\.c:\d+$/m],
  ['transcript changed, EMS off', /^ {6}openssl {5}tls_process_finished \/ digest check failed \/ ssl\/statem\/statem_lib\.c:\d+$/m],
  ['corrupted key, RSA key exchange', /^ {6}openssl {5}dtls1_process_record \/ decryption failed or bad record mac \/ ssl\/record\/ssl3_record\.c:\d+$/m],
  ['expired certificate', /^ {6}verify {6}10 certificate has expired$/m],
  ['unknown CA', /^ {6}verify {6}18 self-signed certificate$/m],
  ['no shared cipher', /^ {6}openssl {5}tls_post_process_client_hello \/ no shared cipher \/ ssl\/statem\/statem_srvr\.c:\d+$/m],
  ['fingerprint mismatch', /^ {6}verify {6}50 application verification failure$/m],
  ['cookie mismatch', /^ {6}openssl {5}tls_early_post_process_client_hello \/ cookie mismatch \/ ssl\/statem\/statem_srvr\.c:\d+$/m],
];

test(`dtls-probe selftest: exit 0, every scenario PASS with its OpenSSL path, aligned, no colors off a TTY (${opensslVersion})`, () => {
  const r = probe(['selftest']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stderr, '');
  const out = r.stdout;
  assert.doesNotMatch(out, /\u001b\[/, 'no ANSI colors when stdout is not a TTY');
  const blocks = out.split('\n\n').filter((b) => /^(PASS|FAIL) {2}/.test(b));
  assert.ok(blocks.length >= 9, `a clean handshake and at least eight failures, got ${blocks.length}`);
  for (const b of blocks) assert.match(b, /^PASS {2}/, b);
  const byName = new Map(blocks.map((b) => [b.slice(6).split(/ {2,}/)[0]!.trim(), b]));
  assert.match(byName.get('clean handshake')!, /negotiated {2}DTLSv1\.2 TLS_ECDHE_ECDSA_WITH_AES_\d+_GCM_SHA\d+, EMS on/);
  for (const [name, re] of EXPECTED_LINES) {
    const b = byName.get(name);
    assert.ok(b !== undefined, `scenario '${name}' is printed`);
    assert.match(b, re, `${name}:\n${b}`);
  }
  // Who sent the alert and the receiver's reading of it (the gateway case: our CertificateVerify).
  assert.match(byName.get('corrupted client key')!, /alert {7}fatal decrypt_error \(51\), sent by the server after it received CertificateVerify/);
  assert.match(byName.get('corrupted client key')!, /peer reads {2}The peer rejected our CertificateVerify: our key or our transcript/);
  assert.match(byName.get('silent key mismatch')!, /alert {7}none on the wire/);
  assert.match(byName.get('silent key mismatch')!, /inferred {4}dtls1_process_record/);
  // Alignment: the descriptions start in one column; every detail line is 6 spaces, a 12-wide label, a value.
  const columns = new Set(blocks.map((b) => {
    const first = b.split('\n')[0]!;
    const m = /^PASS {2}.+? {2,}(?=\S)/.exec(first);
    return m === null ? -1 : m[0].length;
  }));
  assert.equal(columns.size, 1, `the descriptions start in one column: ${[...columns].join(', ')}`);
  for (const b of blocks) {
    for (const l of b.split('\n').slice(1)) assert.match(l, /^ {6}[a-z ]{12}\S/, `detail line: ${JSON.stringify(l)}`);
  }
  assert.match(out, new RegExp(`^${blocks.length} passed, 0 failed$`, 'm'));
  assert.match(out.split('\n')[0]!, new RegExp(`^dtls-probe selftest \\(${opensslVersion.replace(/[.()]/g, '\\$&')}, node v\\d+`));
});

/** A structural check of the documented JSON schema. */
function checkEntry(e: unknown, where: string): void {
  const x = e as Record<string, unknown>;
  for (const k of ['code', 'reasonCode', 'line']) assert.equal(typeof x[k], 'number', `${where}.${k}`);
  for (const k of ['library', 'reason', 'function', 'file']) assert.equal(typeof x[k], 'string', `${where}.${k}`);
}

function checkExplanation(e: unknown, where: string): void {
  const x = e as Record<string, unknown>;
  for (const k of ['path', 'summary', 'meaning']) assert.equal(typeof x[k], 'string', `${where}.${k}`);
  assert.ok(Array.isArray(x.likelyCauses) && Array.isArray(x.checks), `${where} lists`);
  if ('inferredPath' in x) assert.equal(typeof x.inferredPath, 'string');
}

function checkScenario(s: ScenarioReport, i: number): void {
  const w = `scenarios[${i}]`;
  assert.equal(typeof s.name, 'string');
  assert.equal(typeof s.what, 'string');
  assert.equal(typeof s.ok, 'boolean');
  assert.ok(['connected', 'alert', 'silent'].includes(s.expected.outcome), `${w}.expected.outcome`);
  assert.ok(['connected', 'alert', 'silent', 'other'].includes(s.outcome), `${w}.outcome`);
  assert.equal(s.outcome, s.expected.outcome, `${w}: ${s.name} ended as expected`);
  for (const role of ['client', 'server'] as const) {
    const side = s[role];
    assert.equal(typeof side.state, 'string');
    for (const k of ['datagramsIn', 'datagramsOut', 'retransmits', 'undecryptedRecords'] as const) assert.equal(typeof side.stats[k], 'number', `${w}.${role}.stats.${k}`);
    if (side.error !== null) {
      assert.match(side.error.code, /^ERR_/);
      assert.equal(typeof side.error.message, 'string');
      side.error.opensslErrors.forEach((e, j) => checkEntry(e, `${w}.${role}.error.opensslErrors[${j}]`));
      checkExplanation(side.error.explanation, `${w}.${role}.error.explanation`);
    }
  }
  assert.equal(typeof s.mitm.edits, 'number');
  assert.ok(Array.isArray(s.checks) && s.checks.length > 0 && s.checks.every((c) => typeof c.label === 'string' && c.pass === true));
  if (s.outcome === 'connected') {
    assert.equal(s.alert, null);
    assert.ok(s.handshake !== null && typeof s.handshake.cipher === 'string' && typeof s.handshake.handshakeMs === 'number');
  } else if (s.outcome === 'alert') {
    const a = s.alert!;
    assert.ok(a.sender === 'client' || a.sender === 'server');
    assert.equal(a.level, 'fatal');
    assert.equal(typeof a.code, 'number');
    assert.match(a.description, /^[a-z_]+$/);
    assert.ok(a.opensslErrors.length > 0);
    a.opensslErrors.forEach((e, j) => checkEntry(e, `${w}.alert.opensslErrors[${j}]`));
    assert.ok(a.verifyResult === null || (typeof a.verifyResult.code === 'number' && typeof a.verifyResult.message === 'string'));
    assert.equal(typeof a.negotiated.protocol, 'string');
    checkExplanation(a.explanation, `${w}.alert.explanation`);
    const ex = s.expected;
    if (ex.outcome === 'alert') {
      assert.equal(a.sender, ex.sender);
      assert.equal(a.explanation.path, ex.function);
    }
    assert.ok(s.received !== null && s.received.side !== a.sender);
    checkExplanation(s.received.explanation, `${w}.received.explanation`);
  } else {
    assert.equal(s.alert, null);
    assert.equal(s.received, null);
  }
}

test('dtls-probe selftest --json: the documented schema, every scenario as expected', () => {
  const r = probe(['selftest', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { schema: string; openssl: string; node: string; passed: number; failed: number; scenarios: ScenarioReport[] };
  assert.equal(report.schema, SELFTEST_SCHEMA);
  assert.equal(report.openssl, opensslVersion);
  assert.equal(report.node, process.version);
  assert.equal(report.failed, 0);
  assert.equal(report.passed, report.scenarios.length);
  assert.ok(report.scenarios.length >= 9);
  report.scenarios.forEach(checkScenario);
  assert.deepEqual(Object.keys(report).sort(), ['failed', 'node', 'openssl', 'passed', 'scenarios', 'schema']);
  // The man-in-the-middle really acted in every scenario that uses it.
  const mitm = report.scenarios.filter((s) => s.name.startsWith('tampered') || s.name.startsWith('transcript') || s.name === 'cookie mismatch');
  assert.ok(mitm.length >= 5 && mitm.every((s) => s.mitm.edits + s.mitm.rewrites > 0));
});

test('a scenario whose path differs from its expectation fails, and the report says which check (exit code 1 in the CLI)', async () => {
  const [clean, ske] = await builtinScenarios();
  const wrong: Scenario = { ...ske!, name: 'wrong expectation', expect: { ...(ske!.expect as Extract<Scenario['expect'], { outcome: 'alert' }>), function: 'tls_process_cert_verify' } };
  const report = await runSelftest({ scenarios: [clean!, wrong] });
  assert.equal(report.passed, 1);
  assert.equal(report.failed, 1);
  const bad = report.scenarios[1]!;
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.checks.filter((c) => !c.pass).map((c) => c.label), ['raised in tls_process_cert_verify (bad signature)', 'explained as tls_process_cert_verify']);
  // What did happen is still reported in full.
  assert.equal(bad.alert?.explanation.path, 'tls_process_key_exchange');
});

test('dtls-probe: usage errors exit 2, help exits 0, no command exits 1', () => {
  const bad = probe(['frobnicate']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
  const badOpt = probe(['selftest', '--frob']);
  assert.equal(badOpt.status, 2);
  assert.match(badOpt.stderr, /unknown option --frob/);
  assert.equal(probe(['--help']).status, 0);
  assert.equal(probe([]).status, 1);
  const v = probe(['version']);
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), `${opensslVersion} (node ${process.version})`);
});

test('dtls-probe selftest on a terminal: PASS in green; NO_COLOR turns colors off', { skip: spawnSync('script', ['--version']).status === 0 ? false : 'util-linux script(1) is not installed' }, () => {
  // script(1) runs the command on a pseudo-terminal, so stdout.isTTY is true.
  const run = (env: NodeJS.ProcessEnv) =>
    spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} selftest`, '/dev/null'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, TERM: 'xterm', ...env },
    });
  const tty = run({ NO_COLOR: undefined });
  assert.equal(tty.status, 0, tty.stdout);
  assert.match(tty.stdout, /\u001b\[32mPASS\u001b\[0m {2}\u001b\[1mclean handshake/);
  const plain = run({ NO_COLOR: '1' });
  assert.equal(plain.status, 0);
  assert.doesNotMatch(plain.stdout, /\u001b\[/);
  assert.match(plain.stdout, /^PASS {2}clean handshake/m);
});
