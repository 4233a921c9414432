#!/usr/bin/env node
// Runs the compiled tests: every *.test.js under dist-test/ (recursively, sorted) in one `node --test`.
//
//   node scripts/run-tests.js                      # everything
//   node scripts/run-tests.js interop lifetime     # only files whose path contains "interop" or "lifetime"
//   node scripts/run-tests.js lossy --test-name-pattern=close   # arguments starting with "-" go to node
//
// `npm test` builds first (pretest). Exits with the test runner's exit code.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const testDir = path.join(root, 'dist-test');

function findTests(dir) {
  const found = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(full);
      } else if (entry.isFile() && entry.name.endsWith('.test.js')) {
        found.push(full);
      }
    }
  };
  walk(dir);
  return found.sort();
}

const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('-'));
const nodeArgs = args.filter((a) => a.startsWith('-'));

if (!fs.existsSync(testDir)) {
  console.error(`run-tests: ${path.relative(process.cwd(), testDir) || testDir} does not exist; build first (npm run build:ts)`);
  process.exit(1);
}

const all = findTests(testDir).map((f) => path.relative(root, f));
const files = filters.length === 0 ? all : all.filter((f) => filters.some((s) => f.split(path.sep).join('/').includes(s)));
if (files.length === 0) {
  console.error(
    `run-tests: no test files${filters.length ? ` matching ${filters.map((s) => JSON.stringify(s)).join(' or ')}` : ''} under dist-test/ (${all.length} in total)`,
  );
  process.exit(1);
}

const runnerArgs = ['--test', '--test-reporter=spec'];
// Per-test timeout guard, when this node has --test-timeout (20.11+ / 21.2+; it is not in
// process.allowedNodeEnvironmentFlags, so ask `node --help`). Older runtimes rely on the tests' own timeouts.
function supportsTestTimeout() {
  try {
    return execFileSync(process.execPath, ['--help'], { encoding: 'utf8', timeout: 10000 }).includes('--test-timeout');
  } catch {
    return false;
  }
}
if (!nodeArgs.some((a) => a.startsWith('--test-timeout')) && supportsTestTimeout()) {
  runnerArgs.push('--test-timeout=120000');
}
runnerArgs.push(...nodeArgs, ...files);

console.log(
  `run-tests: ${files.length} file(s)${filters.length ? ` (filter: ${filters.join(', ')})` : ''}, node ${process.version}, ` +
    runnerArgs.slice(0, runnerArgs.length - files.length).join(' '),
);
const child = spawn(process.execPath, runnerArgs, { cwd: root, stdio: 'inherit' });

const forward = (sig) => () => {
  if (child.exitCode === null) child.kill(sig);
};
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));

child.on('error', (err) => {
  console.error(`run-tests: cannot start ${process.execPath}: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    console.error(`run-tests: test runner killed by ${signal}`);
    process.exit(1);
  }
  process.exit(code === null ? 1 : code);
});
