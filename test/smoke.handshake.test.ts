import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { opensslVersion } from '../lib/index.js';
import { makePair, nextEvent } from './support/pair';

test(`smoke: in-process handshake and echo (${opensslVersion})`, async () => {
  const p = makePair();
  try {
    const [c, s] = await p.handshake();
    assert.equal(c.protocol, 'DTLSv1.2');
    assert.equal(s.cipher.name, c.cipher.name);
    p.server.on('message', (m) => p.server.send(Buffer.concat([Buffer.from('echo:'), m])));
    const got = nextEvent<Buffer>(p.client, 'message');
    p.client.send('ping');
    assert.equal((await got).toString(), 'echo:ping');
  } finally {
    p.dispose();
  }
});
