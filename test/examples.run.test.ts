// The examples harness (scripts/run-examples.js, CI's "examples" phase) on examples made up here: it
// type-checks everything strictly before running anything, runs CommonJS (.ts) and ESM (.mts) examples
// that import the package by name, reports failures and hangs, and skips (or, with
// DTLS_REQUIRE_PEERS=1, fails) examples whose required programs are missing.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const harness = path.join(root, 'scripts', 'run-examples.js');

function examplesDir(files: Record<string, string>): string {
  fs.mkdirSync(path.join(root, '.tmp'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, '.tmp', 'examples-test-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function runHarness(dir: string, env: Record<string, string> = {}): { status: number | null; out: string } {
  const base = { ...process.env };
  delete base.DTLS_REQUIRE_PEERS;
  const r = spawnSync(process.execPath, [harness, '--dir', dir], {
    cwd: root,
    env: { ...base, EXAMPLES_TIMEOUT_MS: '3000', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('no examples: nothing to check, exit 0', () => {
  const dir = examplesDir({});
  try {
    const r = runHarness(dir);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /no examples in .*\(nothing to check\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('runs .ts and .mts examples that import openssl-dtls; reports an exit code, a hang and a missing program', () => {
  const dir = examplesDir({
    'lib/helper.ts': `export function label(s: string): string { return '[' + s + ']'; }\n`,
    'echo-cjs.ts': [
      `import { isDtlsPacket, opensslVersion } from 'openssl-dtls';`,
      `import { label } from './lib/helper';`,
      `const record: boolean = isDtlsPacket(Buffer.from([22, 254, 253]));`,
      `console.log(label('cjs'), record, opensslVersion.startsWith('OpenSSL 3'));`,
    ].join('\n'),
    'echo-esm.mts': [
      `import dtls, { fingerprint } from 'openssl-dtls';`,
      `const { cert } = await dtls.generateCertificate();`,
      `console.log('[esm]', fingerprint(cert).split(':').length);`,
    ].join('\n'),
    'fails.ts': `console.log('about to fail');\nprocess.exit(3);\n`,
    'hangs.ts': `setInterval(() => undefined, 1000);\n`,
    'needs-peer.ts': `// requires: no-such-program-dtls-test\nconsole.log('should not run');\n`,
  });
  try {
    const r = runHarness(dir);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /type-checking 6 file\(s\)/);
    assert.match(r.out, /✔ echo-cjs\.ts/);
    assert.match(r.out, /\[cjs\] true true/);
    assert.match(r.out, /✔ echo-esm\.mts/);
    assert.match(r.out, /\[esm\] 32/);
    assert.match(r.out, /✖ fails\.ts: exit code 3/);
    assert.match(r.out, /about to fail/);
    assert.match(r.out, /✖ hangs\.ts: did not exit within 3000 ms/);
    assert.match(r.out, /﹣ needs-peer\.ts: skipped, needs no-such-program-dtls-test/);
    assert.doesNotMatch(r.out, /should not run|helper\.ts \(/);
    assert.match(r.out, /^run-examples: 2 passed, 2 failed, 1 skipped$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('DTLS_REQUIRE_PEERS=1 (CI): an example whose required program is missing fails instead of skipping', () => {
  const dir = examplesDir({ 'needs-peer.ts': `// requires: no-such-program-dtls-test\nconsole.log('should not run');\n` });
  try {
    const r = runHarness(dir, { DTLS_REQUIRE_PEERS: '1' });
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /✖ needs-peer\.ts: needs no-such-program-dtls-test on PATH \(DTLS_REQUIRE_PEERS=1\)/);
    assert.match(r.out, /^run-examples: 0 passed, 1 failed$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a type error in any example fails the run before anything executes', () => {
  const dir = examplesDir({
    'good.ts': `console.log('ran good');\n`,
    'bad.ts': `import { DtlsSession } from 'openssl-dtls';\nnew DtlsSession({ role: 'client' });\n`,
  });
  try {
    const r = runHarness(dir);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /bad\.ts\(2,\d+\): error TS2345/);
    assert.match(r.out, /type errors: nothing was run/);
    assert.doesNotMatch(r.out, /ran good/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
