// DTLS-SRTP against the OpenSSL command line tool over UDP on 127.0.0.1: `-use_srtp` negotiation both
// ways, and our getSrtpKeys() against the keying material the CLI exports itself
// (`-keymatexport EXTRACTOR-dtls_srtp`), split here by hand per RFC 5764 §4.2.
//
// What the CLI prints (OpenSSL 3.0.19): s_server prints "ACCEPT" once bound; both tools print
// "SRTP Extension negotiated, profile=<name>" when a profile was agreed, and under -keymatexport
// "Keying material: <HEX>"; s_server prints "DONE" when the peer's close_notify arrives.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { SRTP_PROFILES, type SrtpKeys, type SrtpProfile } from '../../lib/index.js';
import { ecPair, fixturePath } from '../support/fixtures';
import { opensslVersion, requirePeer, spawnPeer, which, withTimeout } from '../support/peers';
import { dtlsOverUdp } from '../support/udp';
import { capture, Resources, startServer as startPlainServer } from '../support/openssl';

/** `openssl s_server -dtls1_2 ... -use_srtp <list>` with the ECDSA test certificate, waiting for ACCEPT. */
const startServer = (res: Resources, args: string[]) =>
  startPlainServer(res, ['-cert', fixturePath('ec-cert.pem'), '-key', fixturePath('ec-key.pem'), ...args]);

const PEER = /^OpenSSL \S+/.exec(opensslVersion())?.[0] ?? opensslVersion();
const TEST_TIMEOUT = 20_000;
const WAIT_MS = 5_000;
const LOCALHOST = '127.0.0.1';
const LENGTHS: Record<SrtpProfile, { key: number; salt: number }> = {
  SRTP_AEAD_AES_256_GCM: { key: 32, salt: 12 },
  SRTP_AEAD_AES_128_GCM: { key: 16, salt: 12 },
  SRTP_AES128_CM_SHA1_80: { key: 16, salt: 14 },
  SRTP_AES128_CM_SHA1_32: { key: 16, salt: 14 },
};
const materialLength = (p: SrtpProfile) => 2 * (LENGTHS[p].key + LENGTHS[p].salt);
const haveOpenssl = (): boolean => which('openssl') !== null;




/** The CLI's exported material, split by RFC 5764 §4.2 into the client_write and server_write halves. */
function splitByHand(hex: string, profile: SrtpProfile) {
  const m = Buffer.from(hex, 'hex');
  const { key, salt } = LENGTHS[profile];
  assert.equal(m.length, materialLength(profile));
  return {
    clientKey: m.subarray(0, key),
    serverKey: m.subarray(key, 2 * key),
    clientSalt: m.subarray(2 * key, 2 * key + salt),
    serverSalt: m.subarray(2 * key + salt),
  };
}

function assertKeys(ours: SrtpKeys | undefined, role: 'client' | 'server', hex: string, profile: SrtpProfile): void {
  assert.ok(ours !== undefined, 'getSrtpKeys()');
  assert.equal(ours.profile, profile);
  const t = splitByHand(hex, profile);
  const [local, remote] = role === 'client' ? ['client', 'server'] : ['server', 'client'];
  assert.deepEqual(ours.localKey, t[`${local}Key` as 'clientKey'], 'localKey = our write key');
  assert.deepEqual(ours.localSalt, t[`${local}Salt` as 'clientSalt'], 'localSalt');
  assert.deepEqual(ours.remoteKey, t[`${remote}Key` as 'clientKey'], 'remoteKey = the peer write key');
  assert.deepEqual(ours.remoteSalt, t[`${remote}Salt` as 'clientSalt'], 'remoteSalt');
}

for (const profile of SRTP_PROFILES) {
  test(`${PEER} s_server -use_srtp: our client negotiates ${profile}; getSrtpKeys() is its EXTRACTOR-dtls_srtp material split per RFC 5764`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
    const res = new Resources();
    try {
      const { server, port } = await startServer(res, [
        '-use_srtp', [...SRTP_PROFILES].reverse().join(':'),
        '-keymatexport', 'EXTRACTOR-dtls_srtp', '-keymatexportlen', String(materialLength(profile)),
      ]);
      const h = await dtlsOverUdp({ role: 'client', remote: { address: LOCALHOST, port }, rejectUnauthorized: false, srtpProfiles: [profile], handshakeTimeout: 10_000 });
      res.sockets.push(h);
      const info = await withTimeout(h.session.handshake(), 11_000, 'DTLS handshake');
      assert.equal(info.srtpKeys?.profile, profile);
      await server.waitFor(/Keying material: [0-9A-F]+\n/, WAIT_MS);
      const out = server.stdout();
      assert.equal(capture(out, /^SRTP Extension negotiated, profile=(\S+)$/m, 's_server SRTP line'), profile);
      assertKeys(h.session.getSrtpKeys(), 'client', capture(out, /Keying material: ([0-9A-F]+)\n/, 'keying material'), profile);
    } finally {
      await res.release();
    }
  });
}

test(`${PEER} s_client -use_srtp: our server picks by its own preference; its keys match s_client's exported material`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const h = await dtlsOverUdp({ role: 'server', ...ecPair(), srtpProfiles: [...SRTP_PROFILES], handshakeTimeout: 10_000 });
    res.sockets.push(h);
    const profile: SrtpProfile = 'SRTP_AEAD_AES_256_GCM';
    const client = spawnPeer('openssl', [
      's_client', '-dtls1_2', '-connect', `${LOCALHOST}:${h.address().port}`,
      '-use_srtp', 'SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM',
      '-keymatexport', 'EXTRACTOR-dtls_srtp', '-keymatexportlen', String(materialLength(profile)),
    ]);
    res.peers.push(client);
    const info = await withTimeout(h.session.handshake(), 11_000, 'DTLS handshake');
    assert.equal(info.srtpKeys?.profile, profile, 'our first preference among those offered, not the client first');
    await client.waitFor(/Keying material: [0-9A-F]+\n/, WAIT_MS);
    const out = client.stdout();
    assert.equal(capture(out, /^SRTP Extension negotiated, profile=(\S+)$/m, 's_client SRTP line'), profile);
    assertKeys(h.session.getSrtpKeys(), 'server', capture(out, /Keying material: ([0-9A-F]+)\n/, 'keying material'), profile);
  } finally {
    await res.release();
  }
});

test(`${PEER} s_server -use_srtp with no profile in common: our client fails with ERR_DTLS_SRTP_NOT_NEGOTIATED and closes the connection`, { timeout: TEST_TIMEOUT }, async (t) => {
  if (!requirePeer(t, 'openssl', haveOpenssl(), 'openssl CLI not found')) return;
  const res = new Resources();
  try {
    const { server, port } = await startServer(res, ['-use_srtp', 'SRTP_AES128_CM_SHA1_32']);
    const h = await dtlsOverUdp({ role: 'client', remote: { address: LOCALHOST, port }, rejectUnauthorized: false, srtpProfiles: ['SRTP_AEAD_AES_128_GCM'], handshakeTimeout: 10_000 });
    res.sockets.push(h);
    await assert.rejects(withTimeout(h.session.handshake(), 11_000, 'DTLS handshake'), { code: 'ERR_DTLS_SRTP_NOT_NEGOTIATED' });
    assert.equal(h.session.state, 'failed');
    // The handshake itself completed on s_server's side; our close_notify ends it.
    await server.waitFor(/^DONE$/m, WAIT_MS);
    assert.doesNotMatch(server.stdout(), /SRTP Extension negotiated/);
  } finally {
    await res.release();
  }
});
