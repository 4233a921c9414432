#!/usr/bin/env node
// Type-checks and runs the examples, as a user would copy them (`npm run test:examples`; a phase of
// .ci/run). Adding an example needs no CI change: drop a file into examples/.
//
//   node scripts/run-examples.js                 # every example
//   node scripts/run-examples.js echo psk        # only examples whose name contains "echo" or "psk"
//   node scripts/run-examples.js --dir <path>    # another examples directory (the harness's own test)
//
// The rules an example follows:
// - It is a top-level examples/*.ts (CommonJS) or examples/*.mts (ESM) file. Files in subdirectories are
//   compiled with the examples (helpers) but not run.
// - It imports the library by its package name, `openssl-dtls`, exactly as a user does; inside this
//   repository Node and TypeScript resolve that name to the package itself through package.json
//   "exports" (so `npm run build:lib` first; `npm test` does).
// - All examples are compiled together with `tsc --strict` (module node16) against the public types;
//   any type error fails the run before anything executes.
// - Each runs with node from the repository root and must exit 0 by itself within the timeout
//   (EXAMPLES_TIMEOUT_MS, default 60000): an example that serves forever closes itself after its demo.
//   It checks its own outcome and exits non-zero when the demo did not do what it says.
// - A line `// requires: chromium gnutls-serv` names programs it needs on PATH. Without them it is
//   skipped, or fails when DTLS_REQUIRE_PEERS=1 (as in CI), like the interop suites.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const args = process.argv.slice(2);
let dir = path.join(root, 'examples');
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--dir') {
    const value = args[++i];
    if (value === undefined) usage('--dir needs a path');
    dir = path.resolve(value);
  } else if (args[i].startsWith('-')) {
    usage(`unknown option ${args[i]}`);
  } else {
    filters.push(args[i]);
  }
}
const timeoutMs = Number(process.env.EXAMPLES_TIMEOUT_MS || 60_000);
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usage(`EXAMPLES_TIMEOUT_MS must be a positive integer, not ${process.env.EXAMPLES_TIMEOUT_MS}`);
const requirePeers = process.env.DTLS_REQUIRE_PEERS === '1';

function usage(message) {
  console.error(`run-examples: ${message}\nusage: node scripts/run-examples.js [--dir <path>] [name filter...]`);
  process.exit(2);
}

function sourcesUnder(d) {
  const found = [];
  const walk = (p) => {
    for (const entry of fs.readdirSync(p, { withFileTypes: true })) {
      const full = path.join(p, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(full);
      } else if (/\.m?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') && !entry.name.endsWith('.d.mts')) {
        found.push(full);
      }
    }
  };
  walk(d);
  return found.sort();
}

function onPath(program) {
  return spawnSync('/bin/sh', ['-c', `command -v "$1"`, 'sh', program], { stdio: 'ignore' }).status === 0;
}

function runOne(file, timeout) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, why: `cannot start: ${err.message}`, output, ms: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      if (timedOut) resolve({ ok: false, why: `did not exit within ${timeout} ms`, output, ms });
      else if (code !== 0) resolve({ ok: false, why: signal ? `killed by ${signal}` : `exit code ${code}`, output, ms });
      else resolve({ ok: true, output, ms });
    });
  });
}

async function main() {
  const sources = fs.existsSync(dir) ? sourcesUnder(dir) : [];
  const runnable = sources
    .filter((f) => path.dirname(f) === dir)
    .filter((f) => filters.length === 0 || filters.some((s) => path.basename(f).includes(s)));
  const shown = path.relative(process.cwd(), dir) || dir;
  if (runnable.length === 0) {
    const why = sources.length === 0 ? `no examples in ${shown}/` : `no example in ${shown}/ matches ${filters.join(' or ')}`;
    console.log(`run-examples: ${why} (nothing to check)`);
    if (filters.length > 0) process.exit(1);
    return;
  }

  // One strict compile of every example and helper, against the package's public types.
  fs.mkdirSync(path.join(root, '.tmp'), { recursive: true });
  const build = fs.mkdtempSync(path.join(root, '.tmp', 'examples-'));
  try {
    const outDir = path.join(build, 'out');
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022'],
        module: 'node16',
        moduleResolution: 'node16',
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
        strict: true,
        skipLibCheck: true,
        noEmitOnError: true,
        rootDir: dir,
        outDir,
      },
      files: sources,
    };
    fs.writeFileSync(path.join(build, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    console.log(`run-examples: type-checking ${sources.length} file(s) in ${shown}/ (tsc --strict, module node16)`);
    const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(build, 'tsconfig.json')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (compiled.status !== 0) {
      console.log(`${compiled.stdout}${compiled.stderr}`.trim());
      console.log(`run-examples: type errors: nothing was run`);
      console.log(`run-examples: 0 passed, ${runnable.length} failed`);
      process.exitCode = 1;
      return;
    }

    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const file of runnable) {
      const name = path.basename(file);
      const requires = /^\/\/ requires: (.+)$/m.exec(fs.readFileSync(file, 'utf8'))?.[1].trim().split(/\s+/) ?? [];
      const missing = requires.filter((p) => !onPath(p));
      if (missing.length > 0) {
        if (requirePeers) {
          failed++;
          console.log(`✖ ${name}: needs ${missing.join(', ')} on PATH (DTLS_REQUIRE_PEERS=1)`);
        } else {
          skipped++;
          console.log(`﹣ ${name}: skipped, needs ${missing.join(', ')} on PATH`);
        }
        continue;
      }
      const js = path.join(outDir, path.relative(dir, file).replace(/\.mts$/, '.mjs').replace(/\.ts$/, '.js'));
      const r = await runOne(js, timeoutMs);
      const body = r.output.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
      if (r.ok) {
        passed++;
        console.log(`✔ ${name} (${r.ms} ms)`);
      } else {
        failed++;
        console.log(`✖ ${name}: ${r.why} (${r.ms} ms)`);
      }
      if (r.output.trim() !== '') console.log(body);
    }
    console.log(`run-examples: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
    process.exitCode = failed === 0 ? 0 : 1;
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
