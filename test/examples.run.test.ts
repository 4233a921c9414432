// The examples run as written: examples/*.ts are compiled by `npm run build:examples` (part of
// build:ts, so they are type-checked on every test run) and executed here as a user would.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { spawnPeer, withTimeout } from './support/peers';

function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 10 && !fs.existsSync(path.join(dir, 'package.json')); i++) dir = path.dirname(dir);
  return dir;
}
const root = repoRoot();
const example = (name: string): string => path.join(root, 'dist-examples', `${name}.js`);

test('examples: echo-server with echo-client and psk-client', { timeout: 30_000 }, async () => {
  const server = spawnPeer(process.execPath, [example('echo-server'), '0'], { cwd: root });
  try {
    await server.waitFor(/listening on 127\.0\.0\.1:\d+/, 10_000);
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(server.stdout())![1]!;

    const client = spawnPeer(process.execPath, [example('echo-client'), port], { cwd: root });
    const c = await client.waitForExit(10_000);
    assert.equal(c.code, 0, client.output());
    assert.match(client.stdout(), /^connected: DTLSv1\.2 ECDHE-ECDSA-/m);
    assert.deepEqual(client.stdout().match(/^echo: .*$/gm), ['echo: hello', 'echo: over', 'echo: DTLS']);

    const psk = spawnPeer(process.execPath, [example('psk-client'), port], { cwd: root });
    const p = await psk.waitForExit(10_000);
    assert.equal(p.code, 0, psk.output());
    assert.match(psk.stdout(), /^connected with PSK-AES128-GCM-SHA256$/m);
    assert.match(psk.stdout(), /^echo: temperature=21\.5$/m);

    await server.waitFor(/closed[\s\S]*closed/, 5000);
    server.kill('SIGTERM');
    const s = await withTimeout(server.exited, 5000, 'server exit');
    // SIGTERM closes the server; the process then exits on its own.
    assert.equal(s.code, 0, server.output());
  } finally {
    server.kill();
  }
});
