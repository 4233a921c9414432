// The README's quick start must run as written: this runs its first code
// block against the package (linked into a temporary node_modules) and
// compares what it prints with the block the README says it prints.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 10 && !fs.existsSync(path.join(dir, 'package.json')); i++) dir = path.dirname(dir);
  return dir;
}

test('the README quick start runs as written and prints what the README says', () => {
  const root = repoRoot();
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  const expected = /prints\n\n```\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code !== undefined && expected !== undefined, 'the quick start has a js block and a printed block');
  assert.match(code, /require\('openssl-dtls'\)/);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtls-quickstart-'));
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'openssl-dtls'), 'dir');
    fs.writeFileSync(path.join(dir, 'quickstart.js'), code);
    const r = spawnSync(process.execPath, ['quickstart.js'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, expected);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
