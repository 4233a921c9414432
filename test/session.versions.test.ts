import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { DtlsError } from '../lib/index.js';
import { withPair } from './support/pair';

// DTLS 1.0 has no AEAD suites and needs security level 0 on OpenSSL 3, so it must be asked for in full.
const DTLS10 = { minVersion: 'DTLSv1', maxVersion: 'DTLSv1', ciphers: 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0' } as const;

test('DTLS 1.0 when both sides ask for it (named CBC suite, @SECLEVEL=0)', async () => {
  await withPair({ client: { ...DTLS10 }, server: { ...DTLS10 } }, async (p) => {
    const [c, s] = await p.handshake();
    assert.equal(c.protocol, 'DTLSv1');
    assert.equal(s.protocol, 'DTLSv1');
    assert.equal(c.cipher.name, 'ECDHE-ECDSA-AES128-SHA');
    const got = new Promise<Buffer>((resolve) => p.server.once('message', resolve));
    p.client.send('over DTLS 1.0');
    assert.equal((await got).toString(), 'over DTLS 1.0');
  });
});

test('the default minimum is DTLS 1.2: a DTLS 1.0-only client is refused with protocol_version', async () => {
  await withPair({ client: { ...DTLS10 } }, async (p) => {
    p.server.on('error', () => undefined);
    const [c, s] = await Promise.allSettled([p.client.handshake(), p.server.handshake()]);
    assert.equal(s.status, 'rejected');
    const serr = (s as PromiseRejectedResult).reason as DtlsError;
    assert.equal(serr.code, 'ERR_DTLS_ALERT_SENT');
    assert.equal(serr.alert?.description, 'protocol_version');
    assert.equal(serr.alert?.opensslErrors.at(-1)?.reason, 'unsupported protocol');
    assert.equal(c.status, 'rejected');
    const cerr = (c as PromiseRejectedResult).reason as DtlsError;
    assert.equal(cerr.code, 'ERR_DTLS_ALERT_RECEIVED');
    assert.equal(cerr.alert?.description, 'protocol_version');
  });
});

test('minVersion above maxVersion is rejected before OpenSSL sees it', async () => {
  await assert.rejects(
    () => withPair({ client: { minVersion: 'DTLSv1.2', maxVersion: 'DTLSv1' } }, async () => undefined),
    (e: unknown) => (e as { code?: string }).code === 'ERR_INVALID_ARG_VALUE',
  );
});
