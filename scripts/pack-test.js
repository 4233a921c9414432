#!/usr/bin/env node
// The consumer path, as a user meets it (`npm run test:pack`; a phase of .ci/run):
//
//  1. `npm pack` (prepack builds the prebuild, prepare builds lib/), then the package's file list from
//     `npm pack --dry-run --json`: only what a user needs (no tests, fixtures, dist-test, build output,
//     source maps, scripts); checked against the real tarball (same integrity) and its prebuild against
//     prebuilds/ (same bytes, so `PREBUILDS_ONLY=1 npm test` tests the binary that ships). Sizes printed.
//  2. Prebuild consumer: the tarball installed into a fresh project with no compiler, make or python3
//     reachable on PATH; the install must not build, and a CommonJS `require`, an ESM `import`, the
//     dtls-probe bin and TypeScript (node16, bundler and node10 resolution) all work there, on the
//     prebuild (checked in the process's mapped shared objects).
//  3. Fallback consumer: no prebuild matches (LIBC=musl: the glibc-tagged prebuild is skipped, as on
//     Alpine), so the install builds with node-gyp against Node's own headers (npm's nodedir) with nothing
//     downloaded, and the same handshake runs on that build.
//  4. `npm install --build-from-source` compiles although the prebuild would load, and runs on that build.
//
// Needs: node, npm, tar, readelf (binutils) and, for steps 3-4, a C++ toolchain, make, python3. The npm
// registry is reached for the package's two dependencies (or npm's cache). Exit code 0 when all held.
'use strict';

const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const consumerFiles = path.join(root, 'test', 'consumer');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const typeRoots = path.join(root, 'node_modules', '@types');
const prebuildDir = path.join('prebuilds', `${process.platform}-${process.arch}`);

let failures = 0;
let checks = 0;
function check(ok, what, detail) {
  checks++;
  if (ok) {
    console.log(`  ok    ${what}`);
  } else {
    failures++;
    console.log(`  FAIL  ${what}${detail === undefined ? '' : `\n        ${String(detail).split('\n').join('\n        ')}`}`);
  }
  return ok;
}
function step(title) {
  console.log(`\n--- pack-test: ${title}`);
}
function fatal(message) {
  console.error(`pack-test: ${message}`);
  process.exit(1);
}
function kb(bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB (${bytes.toLocaleString('en-US')} B)`;
}

/** Runs a command to completion (bounded), returns { status, stdout, stderr }; output captured. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? root,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeout ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) return { status: -1, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}\n${r.error.message}` };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function tail(text, lines = 25) {
  return text.trim().split('\n').slice(-lines).join('\n');
}
function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Node's own headers for node-gyp, as .ci/run and npm's nodedir setting give them. */
function nodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const r = run('npm', ['config', 'get', 'nodedir']);
  const configured = r.status === 0 ? r.stdout.trim() : '';
  if (configured && configured !== 'undefined' && configured !== 'null') return configured;
  const prefix = path.dirname(path.dirname(process.execPath));
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) return prefix;
  return undefined;
}

/**
 * A directory of symlinks to the few programs an install and a run need, and nothing that compiles:
 * PATH=<it> hides cc, c++, g++, make and python3 (npm's own node-gyp shim stays, and would fail).
 */
function toolsWithoutCompilers(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const wanted = ['node', 'npm', 'npx', 'sh', 'env', 'tar', 'gzip', 'uname', 'cat', 'rm', 'mkdir', 'ls'];
  for (const name of wanted) {
    const found = run('/bin/sh', ['-c', `command -v ${name}`]).stdout.trim();
    if (!found) fatal(`${name} is not on PATH`);
    fs.symlinkSync(name === 'node' ? process.execPath : fs.realpathSync(found), path.join(dir, name));
  }
  return dir;
}

function consumerProject(dir, type) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `consumer-${path.basename(dir)}`, version: '1.0.0', private: true, type }, null, 2),
  );
  for (const f of fs.readdirSync(consumerFiles)) fs.copyFileSync(path.join(consumerFiles, f), path.join(dir, f));
}

function npmInstall(dir, tarball, env) {
  return run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel=http', tarball], {
    cwd: dir,
    env,
  });
}

function runScript(dir, file, env) {
  const r = run(process.execPath, [file], { cwd: dir, env, timeout: 60_000 });
  let out;
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    out = undefined;
  }
  return { ...r, out };
}

function isInside(file, dir) {
  const rel = path.relative(fs.realpathSync(dir), fs.realpathSync(file));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** The handshake checks shared by both consumers; `addonDir` is where the mapped binary must live. */
function checkHandshake(label, r, addonDir) {
  if (!check(r.status === 0 && r.out !== undefined, `${label}: runs and reports`, tail(r.stderr || r.stdout))) return;
  const o = r.out;
  check(o.protocol === 'DTLSv1.2' && o.reply === 'echo:ping', `${label}: DTLS 1.2 handshake and echo (${o.cipher})`, JSON.stringify(o));
  check(/^OpenSSL 3\./.test(o.opensslVersion), `${label}: runs on ${o.opensslVersion}`);
  const ours = o.addons.filter((f) => /openssl[-_]dtls[^/]*\.node$/.test(f));
  check(
    ours.length === 1 && isInside(ours[0], addonDir),
    `${label}: the mapped addon is ${ours[0] ? path.relative(path.dirname(path.dirname(addonDir)), ours[0]) : '(none)'}`,
    `expected one binary inside ${addonDir}; mapped: ${JSON.stringify(o.addons)}`,
  );
}

function readelfNeeded(file) {
  const r = run('readelf', ['-d', file]);
  if (r.status !== 0) fatal(`readelf -d ${file} failed (binutils missing?): ${r.stderr}`);
  return [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

function glibcFloor(file) {
  const r = run('readelf', ['--dyn-syms', '-W', file]);
  const versions = (tag) =>
    [...new Set([...r.stdout.matchAll(new RegExp(`@${tag}_([0-9.]+)`, 'g'))].map((m) => m[1]))].sort((a, b) => {
      const pa = a.split('.').map(Number);
      const pb = b.split('.').map(Number);
      for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
      return 0;
    });
  return { glibc: versions('GLIBC').pop(), glibcxx: versions('GLIBCXX').pop() };
}

// ---------------------------------------------------------------------------------------------------
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dtls-pack-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const started = Date.now();

step('npm pack (prepack: npm run prebuild; prepare: npm run build:lib)');
const packed = run('npm', ['pack', '--pack-destination', work], { timeout: 600_000 });
if (packed.status !== 0) fatal(`npm pack failed:\n${tail(packed.stderr + packed.stdout, 60)}`);
const tarball = path.join(work, `${pkg.name}-${pkg.version}.tgz`);
if (!fs.existsSync(tarball)) fatal(`npm pack wrote no ${path.basename(tarball)}`);

const dry = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']);
if (dry.status !== 0) fatal(`npm pack --dry-run failed:\n${dry.stderr}`);
const listing = JSON.parse(dry.stdout)[0];
const files = listing.files.map((f) => f.path).sort();
const tarballIntegrity = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`;
check(listing.integrity === tarballIntegrity, 'npm pack --dry-run lists exactly the tarball npm pack wrote (same integrity)');

step(`contents (${files.length} files)`);
const allowed = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^CHANGELOG\.md$/,
  /^index\.mjs$/,
  /^index\.d\.mts$/,
  /^binding\.gyp$/,
  /^lib\/(cli\/)?[a-z0-9-]+\.(js|d\.ts)$/,
  /^native\/[a-z0-9_]+\.(cc|h)$/,
  /^prebuilds\/linux-x64\/openssl-dtls\.glibc\.node$/,
];
const unexpected = files.filter((f) => !allowed.some((re) => re.test(f)));
check(unexpected.length === 0, 'only runtime files: lib/*.js + .d.ts, native sources, binding.gyp, the prebuild, ESM entry, docs', unexpected.join('\n'));
const junk = files.filter((f) => /(^|\/)(test|tests|fixtures|dist-test|dist-examples|examples|build|build-cmake|bench|scripts|docs|\.ci|src|node_modules)\//.test(f) || /\.(map|tgz|ts\.map|log|o)$/.test(f) || /(^|\/)(tsconfig.*\.json|typedoc\.json|CMakeLists\.txt|\.gitignore)$/.test(f));
check(junk.length === 0, 'no tests, fixtures, dist-test, build output, source maps or dev config', junk.join('\n'));
const gypSources = JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8')).targets[0].sources;
const headers = fs.readdirSync(path.join(root, 'native')).filter((f) => f.endsWith('.h')).map((f) => `native/${f}`);
const required = [
  'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'index.mjs', 'index.d.mts', 'binding.gyp',
  pkg.main, pkg.types, ...Object.values(pkg.bin), ...gypSources, ...headers,
  `${prebuildDir}/openssl-dtls.glibc.node`,
].map((f) => f.replace(/^\.\//, ''));
const missing = required.filter((f) => !files.includes(f));
check(missing.length === 0, 'everything a user needs: main, types, ESM entry, bin, every source binding.gyp compiles, the prebuild', missing.join('\n'));
for (const [name, rel] of Object.entries(pkg.bin)) {
  const entry = listing.files.find((f) => f.path === rel);
  check(entry !== undefined && (entry.mode & 0o111) !== 0, `bin ${name} (${rel}) is executable in the tarball`);
}
for (const target of Object.values(pkg.exports['.']).flatMap((c) => Object.values(c))) {
  check(files.includes(target.replace(/^\.\//, '')), `exports target ${target} is in the package`);
}

const unpack = path.join(work, 'unpacked');
fs.mkdirSync(unpack);
const untar = run('tar', ['-xzf', tarball, '-C', unpack]);
if (untar.status !== 0) fatal(`tar -xzf failed: ${untar.stderr}`);
const shippedPrebuild = path.join(unpack, 'package', prebuildDir, 'openssl-dtls.glibc.node');
const localPrebuild = path.join(root, prebuildDir, 'openssl-dtls.glibc.node');
check(
  fs.existsSync(localPrebuild) && sha256(shippedPrebuild) === sha256(localPrebuild),
  `the shipped prebuild is byte-identical to ${prebuildDir}/ (what PREBUILDS_ONLY=1 npm test loads)`,
);
const needed = readelfNeeded(shippedPrebuild);
check(!needed.some((lib) => /libssl|libcrypto/.test(lib)), `the prebuild links no libssl/libcrypto (NEEDED: ${needed.join(', ')})`);
const floor = glibcFloor(shippedPrebuild);
const prebuildBytes = fs.statSync(shippedPrebuild).size;
const shippedPkg = JSON.parse(fs.readFileSync(path.join(unpack, 'package', 'package.json'), 'utf8'));
for (const field of ['engines', 'files', 'license', 'exports', 'types', 'main']) {
  check(shippedPkg[field] !== undefined, `package.json has "${field}"`);
}
check(fs.existsSync(path.join(unpack, 'package', 'LICENSE')) && shippedPkg.license === 'MIT', 'license MIT with its LICENSE file');

console.log(`\n  size: packed ${kb(fs.statSync(tarball).size)}, unpacked ${kb(listing.unpackedSize)}, ${listing.entryCount} files`);
console.log(`  prebuild: ${prebuildDir}/openssl-dtls.glibc.node ${kb(prebuildBytes)} (stripped), needs glibc >= ${floor.glibc}, libstdc++ GLIBCXX_${floor.glibcxx}`);

// ---------------------------------------------------------------------------------------------------
step('prebuild consumer: install with no compiler, make or python3 on PATH');
const noCompilers = toolsWithoutCompilers(path.join(work, 'bin-without-compilers'));
const hiddenEnv = { ...process.env, PATH: noCompilers };
delete hiddenEnv.npm_config_nodedir; // nothing to build against either
for (const tool of ['cc', 'c++', 'gcc', 'g++', 'clang', 'make', 'python3', 'python', 'cmake']) {
  const r = run('/bin/sh', ['-c', `command -v ${tool}`], { env: hiddenEnv });
  check(r.status !== 0, `${tool} is not reachable`, r.stdout.trim());
}
const a = path.join(work, 'consumer-prebuild');
consumerProject(a, 'commonjs');
const installA = npmInstall(a, tarball, hiddenEnv);
check(installA.status === 0, 'npm install <tarball> succeeds', tail(installA.stderr + installA.stdout, 40));
const installedA = path.join(a, 'node_modules', pkg.name);
check(!fs.existsSync(path.join(installedA, 'build')), 'the install compiled nothing (no build/ in node_modules/openssl-dtls)');
checkHandshake('require (CommonJS)', runScript(a, 'handshake.cjs', hiddenEnv), path.join(installedA, prebuildDir));
const esm = runScript(a, 'handshake.mjs', hiddenEnv);
checkHandshake('import (ESM)', esm, path.join(installedA, prebuildDir));
const cjsOut = runScript(a, 'handshake.cjs', hiddenEnv).out;
if (esm.out && cjsOut) {
  const esmNames = esm.out.exports.filter((k) => k !== 'default' && k !== '__esModule');
  const cjsNames = cjsOut.exports.filter((k) => k !== '__esModule');
  check(
    JSON.stringify(esmNames) === JSON.stringify(cjsNames),
    `ESM and CommonJS export the same ${cjsNames.length} names`,
    `esm: ${esmNames.join(', ')}\ncjs: ${cjsNames.join(', ')}`,
  );
  check(esm.out.defaultIsCommonJs && esm.out.sameClasses, 'one instance: the ESM default is the CommonJS module, the classes are the same objects');
  check(esm.out.errorCode === 'ERR_DTLS_INVALID_STATE' && esm.out.errorIsDtlsError, 'an error thrown by the library is instanceof DtlsError from both entries');
}
const probe = run(path.join(a, 'node_modules', '.bin', 'dtls-probe'), ['selftest'], { cwd: a, env: hiddenEnv, timeout: 60_000 });
check(probe.status === 0 && /\b\d+ passed, 0 failed\b/.test(probe.stdout), 'node_modules/.bin/dtls-probe selftest passes', tail(probe.stdout + probe.stderr));

const tsChecks = [
  { resolution: 'node16', module: 'node16', files: ['types.cts', 'types.mts'] },
  { resolution: 'bundler', module: 'esnext', files: ['types.mts'] },
  { resolution: 'node10', module: 'commonjs', files: ['types.cts'] },
];
for (const t of tsChecks) {
  const r = run(process.execPath, [
    tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--lib', 'es2022',
    '--module', t.module, '--moduleResolution', t.resolution, '--types', 'node', '--typeRoots', typeRoots,
    ...t.files,
  ], { cwd: a, env: hiddenEnv });
  check(r.status === 0, `TypeScript (moduleResolution ${t.resolution}) compiles ${t.files.join(' + ')} against the installed types`, tail(r.stdout + r.stderr));
}

// ---------------------------------------------------------------------------------------------------
step('fallback consumer: no prebuild matches (LIBC=musl) → node-gyp build against Node\'s own headers');
const dir = nodedir();
if (!check(dir !== undefined && fs.existsSync(path.join(dir, 'include', 'node', 'openssl', 'ssl.h')), `Node's headers with OpenSSL: ${dir}/include/node`)) {
  fatal('no local Node headers: set npm_config_nodedir to the prefix whose include/node has openssl/ (nothing may be downloaded)');
}
const devdir = path.join(work, 'node-gyp-devdir');
const fallbackEnv = { ...process.env, LIBC: 'musl', npm_config_nodedir: dir, npm_config_devdir: devdir };
const b = path.join(work, 'consumer-fallback');
consumerProject(b, 'commonjs');
const installB = npmInstall(b, tarball, fallbackEnv);
check(installB.status === 0, 'npm install <tarball> succeeds by compiling', tail(installB.stderr + installB.stdout, 40));
const installedB = path.join(b, 'node_modules', pkg.name);
const built = path.join(installedB, 'build', 'Release', 'openssl_dtls.node');
check(fs.existsSync(built), 'node-gyp built build/Release/openssl_dtls.node');
const makefile = path.join(installedB, 'build', 'openssl_dtls.target.mk');
const mk = fs.existsSync(makefile) ? fs.readFileSync(makefile, 'utf8') : '';
check(mk.includes(`-I${path.join(dir, 'include', 'node')}`), `the build compiled against ${path.join(dir, 'include', 'node')}`);
check(!fs.existsSync(devdir) || fs.readdirSync(devdir).length === 0, 'node-gyp downloaded no headers (its devdir stayed empty)');
if (fs.existsSync(built)) {
  const neededB = readelfNeeded(built);
  check(!neededB.some((lib) => /libssl|libcrypto/.test(lib)), `the built addon links no libssl/libcrypto (NEEDED: ${neededB.join(', ')})`);
}
checkHandshake('require (CommonJS) on the fallback build', runScript(b, 'handshake.cjs', fallbackEnv), path.join(installedB, 'build', 'Release'));
checkHandshake('import (ESM) on the fallback build', runScript(b, 'handshake.mjs', fallbackEnv), path.join(installedB, 'build', 'Release'));

// ---------------------------------------------------------------------------------------------------
step('--build-from-source: compiles although the prebuild would load (the README\'s way to force it)');
const c = path.join(work, 'consumer-from-source');
consumerProject(c, 'commonjs');
const sourceEnv = { ...process.env, npm_config_nodedir: dir, npm_config_devdir: devdir };
const installC = run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', '--build-from-source', tarball], {
  cwd: c,
  env: sourceEnv,
});
check(installC.status === 0, 'npm install --build-from-source <tarball> succeeds', tail(installC.stderr + installC.stdout, 40));
const installedC = path.join(c, 'node_modules', pkg.name);
checkHandshake('require (CommonJS) after --build-from-source', runScript(c, 'handshake.cjs', sourceEnv), path.join(installedC, 'build', 'Release'));

console.log(`\npack-test: ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`pack-test: ${checks - failures} passed, ${failures} failed`);
process.exitCode = failures === 0 ? 0 : 1;
