// Which native binary a process really runs, read from the shared objects the process has mapped
// (process.report), not from what the loader says it picked; and the runtime check that refuses
// non-OpenSSL runtimes before any binary is mapped.
//
// The same file runs in three configurations (see .ci/run):
//   npm test                          → whatever node-gyp-build resolves (build/Release after npm ci)
//   PREBUILDS_ONLY=1 npm test         → must be the prebuild in prebuilds/<platform>-<arch>/
//   OPENSSL_DTLS_PREBUILD=<dir> ...   → must come from <dir> (the cmake-js build: build-cmake/)
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { DtlsSession, opensslVersion } from '../lib/index.js';

const root = path.resolve(__dirname, '..');
const LIB = require.resolve('../lib/index.js');

/** Real paths of the openssl-dtls binaries this process has mapped. */
function mappedAddons(report: object = process.report.getReport()): string[] {
  const shared = (report as { sharedObjects?: unknown }).sharedObjects;
  assert.ok(Array.isArray(shared), 'the diagnostic report lists shared objects');
  return (shared as string[])
    .filter((file) => /openssl[-_]dtls[^/]*\.node$/.test(file))
    .map((file) => fs.realpathSync(file));
}

function isInside(file: string, dir: string): boolean {
  const rel = path.relative(fs.realpathSync(dir), file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

test(`the addon this process mapped is the one node-gyp-build resolves for the package (${opensslVersion})`, () => {
  // Loading lib/index.js above mapped exactly one binary; it is the file node-gyp-build resolves now.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  const mapped = mappedAddons();
  assert.equal(mapped.length, 1, `one openssl-dtls binary mapped: ${JSON.stringify(mapped)}`);
  assert.equal(mapped[0], fs.realpathSync(nodeGypBuild.resolve(root)));
  // And it is a working addon, not just a mapped file.
  assert.equal(typeof DtlsSession, 'function');
  assert.match(opensslVersion, /^OpenSSL 3\./);
});

test(
  'PREBUILDS_ONLY=1: the mapped addon is the prebuild in prebuilds/<platform>-<arch>/, not build/Release',
  { skip: process.env.PREBUILDS_ONLY ? false : 'runs under PREBUILDS_ONLY=1 (npm run prebuild first)' },
  () => {
    assert.equal(process.env.OPENSSL_DTLS_PREBUILD, undefined, 'OPENSSL_DTLS_PREBUILD would redirect the loader');
    const [mapped] = mappedAddons();
    assert.ok(mapped !== undefined);
    const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    assert.ok(isInside(mapped, dir), `${mapped} is inside ${dir}`);
    // The name carries the tags node-gyp-build matched: napi builds have no abi tag; the libc tag keeps a
    // glibc build away from musl.
    assert.match(path.basename(mapped), /^openssl-dtls(\.glibc)?\.node$/);
  },
);

test(
  'OPENSSL_DTLS_PREBUILD=<dir>: the mapped addon comes from <dir>',
  { skip: process.env.OPENSSL_DTLS_PREBUILD ? false : 'runs when OPENSSL_DTLS_PREBUILD names a build (the cmake-js check)' },
  () => {
    const dir = process.env.OPENSSL_DTLS_PREBUILD as string;
    const [mapped] = mappedAddons();
    assert.ok(mapped !== undefined);
    assert.ok(isInside(mapped, dir), `${mapped} is inside ${dir}`);
  },
);

/**
 * Loads the library in a child whose process.versions claims another runtime (a null value removes the
 * key); reports the load error and which binaries got mapped.
 */
function loadAs(versions: Record<string, string | null>): { code?: string; message?: string; mapped: string[] } {
  const script = `
    const v = { ...process.versions, ...${JSON.stringify(versions)} };
    for (const k of Object.keys(v)) if (v[k] === null) delete v[k];
    Object.defineProperty(process, 'versions', { value: Object.freeze(v), enumerable: true, configurable: true });
    let out = {};
    try { require(${JSON.stringify(LIB)}); } catch (e) { out = { code: e.code, message: e.message }; }
    out.shared = process.report.getReport().sharedObjects;
    process.stdout.write(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { code?: string; message?: string; shared: string[] };
  return { code: out.code, message: out.message, mapped: mappedAddons({ sharedObjects: out.shared }) };
}

test('Electron (BoringSSL, no process.versions.openssl) is refused before the addon is mapped', () => {
  const r = loadAs({ electron: '33.2.0', openssl: null });
  assert.equal(r.code, 'ERR_DTLS_UNSUPPORTED_RUNTIME');
  assert.match(r.message ?? '', /Electron 33\.2\.0/);
  assert.match(r.message ?? '', /BoringSSL/);
  assert.deepEqual(r.mapped, []);
});

test('a Node.js built with OpenSSL 1.1.1 is refused before the addon is mapped', () => {
  const r = loadAs({ openssl: '1.1.1w' });
  assert.equal(r.code, 'ERR_DTLS_UNSUPPORTED_RUNTIME');
  assert.match(r.message ?? '', /OpenSSL 1\.1\.1w/);
  assert.deepEqual(r.mapped, []);
});

test('the child harness itself loads the addon when the runtime is fine (the refusals above are not artefacts)', () => {
  const r = loadAs({});
  assert.equal(r.code, undefined, r.message);
  assert.equal(r.mapped.length, 1);
});
