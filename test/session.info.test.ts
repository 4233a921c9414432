import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';

import { fingerprint, type HandshakeInfo } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { withPair } from './support/pair';

// HandshakeInfo.peerCertificate behaves as a plain field: present exactly
// when the peer sent a certificate, one object, enumerable, copied by spread.
test('HandshakeInfo.peerCertificate: present exactly when the peer sent one, one object, enumerable, copied by spread', async () => {
  await withPair({}, async (p) => {
    const [c, s] = await p.handshake();
    assert.ok(Object.keys(c).includes('peerCertificate'));
    assert.equal('peerCertificate' in s, false, 'the server asked for no client certificate');
    const first = c.peerCertificate;
    assert.ok(first instanceof X509Certificate);
    assert.equal(c.peerCertificate, first, 'the same object on every access');
    assert.equal(p.client.getPeerCertificate(), first);
    assert.equal(fingerprint(first), fingerprint(ecPair().cert));
    const copy = { ...c };
    assert.equal(copy.peerCertificate, first);
    assert.equal(Object.getOwnPropertyDescriptor(copy, 'peerCertificate')?.value, first, 'a spread copy holds the value');
  });
});

test('HandshakeInfo.peerCertificate after the session is closed: still readable', async () => {
  let info: HandshakeInfo | undefined;
  await withPair({}, async (p) => {
    [info] = await p.handshake();
    await p.client.close();
  });
  assert.equal(info?.peerCertificate?.fingerprint256, new X509Certificate(ecPair().cert).fingerprint256);
});
