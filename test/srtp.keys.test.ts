// DTLS-SRTP in process: profile negotiation (server preference), the RFC 5764 §4.2 key split by role,
// requireSrtp, and option validation. Against other implementations: interop/openssl.srtp.test.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { createSecureContext, DtlsSession, SRTP_PROFILES, type SessionOptions, type SrtpProfile } from '../lib/index.js';
import { splitSrtpKeyingMaterial } from '../lib/srtp.js';
import { ecPair } from './support/fixtures';
import { makePair, withPair } from './support/pair';

const VALUE = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };
const TYPE = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };

// Master key and salt lengths in bytes (RFC 5764 §4.1.2, RFC 7714 §12), written out again here.
const LENGTHS: Record<SrtpProfile, { key: number; salt: number; id: number }> = {
  SRTP_AES128_CM_SHA1_80: { key: 16, salt: 14, id: 1 },
  SRTP_AES128_CM_SHA1_32: { key: 16, salt: 14, id: 2 },
  SRTP_AEAD_AES_128_GCM: { key: 16, salt: 12, id: 7 },
  SRTP_AEAD_AES_256_GCM: { key: 32, salt: 12, id: 8 },
};

test('the key split follows RFC 5764 §4.2: client key | server key | client salt | server salt, local by role', () => {
  for (const profile of SRTP_PROFILES) {
    const { key, salt, id } = LENGTHS[profile];
    const material = Buffer.from(Array.from({ length: 2 * (key + salt) }, (_, i) => i));
    const at = (from: number, len: number) => material.subarray(from, from + len);
    const client = splitSrtpKeyingMaterial(profile, material, 'client');
    const server = splitSrtpKeyingMaterial(profile, material, 'server');
    assert.equal(client.profileId, id);
    assert.deepEqual(client.localKey, at(0, key), `${profile}: client_write key`);
    assert.deepEqual(client.remoteKey, at(key, key), `${profile}: server_write key`);
    assert.deepEqual(client.localSalt, at(2 * key, salt), `${profile}: client_write salt`);
    assert.deepEqual(client.remoteSalt, at(2 * key + salt, salt), `${profile}: server_write salt`);
    assert.deepEqual(server.localKey, client.remoteKey);
    assert.deepEqual(server.localSalt, client.remoteSalt);
    assert.deepEqual(server.remoteKey, client.localKey);
    assert.deepEqual(server.remoteSalt, client.localSalt);
    // Copies, not views: wiping the material leaves the keys alone.
    material.fill(0);
    assert.notDeepEqual(client.remoteSalt, Buffer.alloc(salt));
  }
  assert.throws(() => splitSrtpKeyingMaterial('SRTP_AES128_CM_SHA1_80', Buffer.alloc(59), 'client'), VALUE);
});

for (const profile of SRTP_PROFILES) {
  test(`${profile}: negotiated in process; each side's local keys are the other's remote keys, split from EXTRACTOR-dtls_srtp`, async () => {
    await withPair({ client: { srtpProfiles: [profile] }, server: { srtpProfiles: [profile] } }, async (p) => {
      const [ci, si] = await p.handshake();
      const { key, salt, id } = LENGTHS[profile];
      const c = p.client.getSrtpKeys();
      const s = p.server.getSrtpKeys();
      assert.ok(c !== undefined && s !== undefined);
      assert.equal(c.profile, profile);
      assert.equal(s.profile, profile);
      assert.equal(c.profileId, id);
      assert.deepEqual(ci.srtpKeys, c, "the client's secureConnect info carries the same keys");
      assert.deepEqual(si.srtpKeys, s);
      assert.equal(c.localKey.length, key);
      assert.equal(c.localSalt.length, salt);
      assert.deepEqual(c.localKey, s.remoteKey);
      assert.deepEqual(c.localSalt, s.remoteSalt);
      assert.deepEqual(c.remoteKey, s.localKey);
      assert.deepEqual(c.remoteSalt, s.localSalt);
      assert.notDeepEqual(c.localKey, c.remoteKey);
      // The exporter itself, laid out by hand.
      const m = p.client.exportKeyingMaterial(2 * (key + salt), 'EXTRACTOR-dtls_srtp');
      assert.deepEqual(c.localKey, m.subarray(0, key));
      assert.deepEqual(s.localKey, m.subarray(key, 2 * key));
      assert.deepEqual(c.localSalt, m.subarray(2 * key, 2 * key + salt));
      assert.deepEqual(s.localSalt, m.subarray(2 * key + salt));
      // getSrtpKeys() hands out copies.
      c.localKey.fill(0);
      assert.notDeepEqual(p.client.getSrtpKeys()!.localKey, c.localKey);
    });
  });
}

test("the server's preference order decides, not the client's", async () => {
  const cases: Array<[SrtpProfile[], SrtpProfile[], SrtpProfile]> = [
    [['SRTP_AES128_CM_SHA1_80', 'SRTP_AEAD_AES_128_GCM'], ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_SHA1_80'], 'SRTP_AEAD_AES_128_GCM'],
    [['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_SHA1_80'], ['SRTP_AES128_CM_SHA1_80', 'SRTP_AEAD_AES_128_GCM'], 'SRTP_AES128_CM_SHA1_80'],
    [['SRTP_AES128_CM_SHA1_32', 'SRTP_AEAD_AES_256_GCM'], [...SRTP_PROFILES], 'SRTP_AEAD_AES_256_GCM'],
  ];
  for (const [clientList, serverList, expected] of cases) {
    await withPair({ client: { srtpProfiles: clientList }, server: { srtpProfiles: serverList } }, async (p) => {
      const [ci, si] = await p.handshake();
      assert.equal(ci.srtpKeys?.profile, expected, `client ${clientList} / server ${serverList}`);
      assert.equal(si.srtpKeys?.profile, expected);
    });
  }
});

test('no common profile: both sides fail with ERR_DTLS_SRTP_NOT_NEGOTIATED (the handshake itself completes)', async () => {
  await withPair({ client: { srtpProfiles: ['SRTP_AES128_CM_SHA1_32'] }, server: { srtpProfiles: ['SRTP_AEAD_AES_128_GCM'] } }, async (p) => {
    const [c, s] = await Promise.allSettled([p.client.handshake(), p.server.handshake()]);
    for (const [who, r] of [['client', c], ['server', s]] as const) {
      assert.equal(r?.status, 'rejected', who);
      assert.equal((r as PromiseRejectedResult).reason.code, 'ERR_DTLS_SRTP_NOT_NEGOTIATED', who);
    }
    assert.equal(p.client.state, 'failed');
    assert.equal(p.server.state, 'failed');
    assert.equal(p.client.getSrtpKeys(), undefined);
  });
});

test('a peer without use_srtp: a client that requires SRTP fails and sends close_notify; requireSrtp: false connects without keys', async () => {
  await withPair({ client: { srtpProfiles: ['SRTP_AEAD_AES_128_GCM'] } }, async (p) => {
    const serverClosed = new Promise<void>((resolve) => p.server.once('close', resolve));
    const [c, s] = await Promise.allSettled([p.client.handshake(), p.server.handshake()]);
    assert.equal(c.status, 'rejected');
    assert.equal((c as PromiseRejectedResult).reason.code, 'ERR_DTLS_SRTP_NOT_NEGOTIATED');
    assert.equal(s.status, 'fulfilled', 'the server asked for nothing');
    await serverClosed;
    assert.equal(p.server.state, 'closed', "the client's close_notify closed the server");
  });
  await withPair({ client: { srtpProfiles: ['SRTP_AEAD_AES_128_GCM'], requireSrtp: false } }, async (p) => {
    const [ci, si] = await p.handshake();
    assert.equal(ci.srtpKeys, undefined);
    assert.equal(si.srtpKeys, undefined);
    assert.equal(p.client.getSrtpKeys(), undefined);
  });
});

test('a shared context with srtpProfiles: sessions on it require SRTP; keys stay readable after close', async () => {
  const serverContext = createSecureContext({ ...ecPair(), srtpProfiles: ['SRTP_AEAD_AES_256_GCM', 'SRTP_AES128_CM_SHA1_80'] });
  assert.deepEqual(serverContext.srtpProfiles, ['SRTP_AEAD_AES_256_GCM', 'SRTP_AES128_CM_SHA1_80']);
  assert.ok(Object.isFrozen(serverContext.srtpProfiles));
  const clientContext = createSecureContext({ rejectUnauthorized: false, srtpProfiles: ['SRTP_AES128_CM_SHA1_80'] });
  const p = makePair({ client: { context: clientContext }, server: { context: serverContext } });
  try {
    assert.equal(p.client.getSrtpKeys(), undefined, 'no keys before the handshake');
    await p.handshake();
    assert.equal(p.server.getSrtpKeys()?.profile, 'SRTP_AES128_CM_SHA1_80');
    await p.client.close();
    assert.equal(p.client.getSrtpKeys()?.profile, 'SRTP_AES128_CM_SHA1_80', 'getters keep working after close');
  } finally {
    p.dispose();
  }
});

test('srtpProfiles and requireSrtp are validated before OpenSSL sees them', () => {
  const send = (): void => {};
  const session = (o: Record<string, unknown>) => new DtlsSession({ role: 'client', send, ...o } as unknown as SessionOptions).destroy();
  for (const bad of ['SRTP_AES128_CM_SHA1_80', 1, {}]) {
    assert.throws(() => createSecureContext({ srtpProfiles: bad as never }), TYPE, `srtpProfiles ${String(bad)}`);
  }
  for (const bad of [[], ['SRTP_NULL_SHA1_80'], ['srtp_aes128_cm_sha1_80'], ['SRTP_AES128_CM_SHA1_80', 'SRTP_AES128_CM_SHA1_80'], [1]]) {
    assert.throws(() => createSecureContext({ srtpProfiles: bad as never }), VALUE, `srtpProfiles ${JSON.stringify(bad)}`);
    assert.throws(() => session({ srtpProfiles: bad }), VALUE, `session srtpProfiles ${JSON.stringify(bad)}`);
  }
  assert.throws(() => session({ requireSrtp: true }), VALUE, 'requireSrtp without profiles');
  assert.throws(() => session({ requireSrtp: 'yes', srtpProfiles: ['SRTP_AEAD_AES_128_GCM'] }), TYPE, 'requireSrtp type');
  assert.doesNotThrow(() => session({ requireSrtp: false }));
  assert.doesNotThrow(() => session({ srtpProfiles: [...SRTP_PROFILES] }));
});
