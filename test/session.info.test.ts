import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';

import { createSecureContext, fingerprint, type HandshakeInfo } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { makePair, withPair } from './support/pair';

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

test('getSession() after destroy() (no close_notify sent): the session kept then still resumes; a failed handshake keeps none', async () => {
  const serverCtx = createSecureContext({ ...ecPair() });
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const first = makePair({ client: { context: clientCtx }, server: { context: serverCtx } });
  let session: Buffer | undefined;
  try {
    const [c] = await first.handshake();
    assert.equal(c.resumed, false);
    first.client.destroy();
    session = first.client.getSession();
    assert.ok(Buffer.isBuffer(session) && session.length > 0, 'kept at destroy()');
    assert.ok(first.client.getSession()!.equals(session), 'the same session every time');
  } finally {
    first.dispose();
  }
  const second = makePair({ client: { context: clientCtx, session }, server: { context: serverCtx } });
  try {
    const [c, s] = await second.handshake();
    assert.equal(c.resumed, true, 'the client resumed');
    assert.equal(s.resumed, true, 'the server resumed');
    // Resumed: no Certificate message, yet the certificate of the original handshake is reported.
    assert.equal(c.peerCertificate?.fingerprint256, new X509Certificate(ecPair().cert).fingerprint256);
  } finally {
    second.dispose();
  }
  // A session that never connected has nothing to keep.
  const failing = makePair({ client: { context: clientCtx, handshakeTimeout: 200 }, server: { context: serverCtx } });
  try {
    failing.client.destroy();
    assert.equal(failing.client.getSession(), undefined);
  } finally {
    failing.dispose();
  }
});
