// resolveDtlsRole(): SDP a=setup (RFC 4145 / RFC 5763 §5) plus the ICE role → our DTLS role; sdpSetup();
// classifyPacket() and isDtlsPacket() (RFC 7983); the webrtc preset.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { classifyPacket, isDtlsPacket, resolveDtlsRole, sdpSetup, SRTP_PROFILES, webrtc, type DtlsRoleOptions } from '../lib/index.js';

const VALUE = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };

test('resolveDtlsRole: the documented rule, row by row', () => {
  const rows: Array<[DtlsRoleOptions, 'client' | 'server']> = [
    // 1. the remote side chose
    [{ remoteSetup: 'active' }, 'server'],
    [{ remoteSetup: 'passive' }, 'client'],
    [{ remoteSetup: 'active', localSetup: 'actpass' }, 'server'], // we offered actpass, the answer chose
    [{ remoteSetup: 'passive', localSetup: 'actpass' }, 'client'],
    [{ remoteSetup: 'active', localSetup: 'passive', iceRole: 'controlled' }, 'server'],
    [{ remoteSetup: 'passive', localSetup: 'active', iceRole: 'controlling' }, 'client'],
    // the ICE role never overrides an explicit choice
    [{ remoteSetup: 'active', iceRole: 'controlled' }, 'server'],
    [{ remoteSetup: 'passive', iceRole: 'controlling' }, 'client'],
    // 2. the remote offered actpass: our choice decides
    [{ remoteSetup: 'actpass', localSetup: 'active' }, 'client'],
    [{ remoteSetup: 'actpass', localSetup: 'passive' }, 'server'],
    [{ remoteSetup: 'actpass', localSetup: 'active', iceRole: 'controlling' }, 'client'],
    // 3. nobody chose: ICE-controlled is the DTLS client (ORTC, mediasoup)
    [{ remoteSetup: 'actpass', iceRole: 'controlled' }, 'client'],
    [{ remoteSetup: 'actpass', iceRole: 'controlling' }, 'server'],
    [{ remoteSetup: 'actpass', localSetup: 'actpass', iceRole: 'controlled' }, 'client'],
    [{ remoteSetup: 'actpass', localSetup: 'actpass', iceRole: 'controlling' }, 'server'],
  ];
  for (const [options, expected] of rows) assert.equal(resolveDtlsRole(options), expected, JSON.stringify(options));
});

test('resolveDtlsRole: conflicts, holdconn, a missing ICE role and bad values throw ERR_INVALID_ARG_VALUE', () => {
  assert.throws(() => resolveDtlsRole({ remoteSetup: 'active', localSetup: 'active' }), VALUE, 'two clients');
  assert.throws(() => resolveDtlsRole({ remoteSetup: 'passive', localSetup: 'passive' }), VALUE, 'two servers');
  assert.throws(() => resolveDtlsRole({ remoteSetup: 'holdconn' }), VALUE);
  assert.throws(() => resolveDtlsRole({ remoteSetup: 'actpass', localSetup: 'holdconn', iceRole: 'controlled' }), VALUE);
  assert.throws(() => resolveDtlsRole({ remoteSetup: 'actpass' }), VALUE, 'nobody chose and no ICE role');
  assert.throws(() => resolveDtlsRole({ remoteSetup: 'ACTIVE' as never }), VALUE, 'a=setup values are lowercase tokens');
  assert.throws(() => resolveDtlsRole({ remoteSetup: 'actpass', iceRole: 'lite' as never }), VALUE);
  assert.throws(() => resolveDtlsRole(undefined as never), { code: 'ERR_INVALID_ARG_TYPE' });
});

test("sdpSetup: what our answer says for a role (and it round-trips through the remote side's rule)", () => {
  assert.equal(sdpSetup('client'), 'active');
  assert.equal(sdpSetup('server'), 'passive');
  assert.throws(() => sdpSetup('auto' as never), VALUE);
  for (const role of ['client', 'server'] as const) {
    // The offerer reads our answer's a=setup: it must take the other role.
    const theirs = resolveDtlsRole({ remoteSetup: sdpSetup(role), localSetup: 'actpass' });
    assert.notEqual(theirs, role);
  }
});

test('classifyPacket / isDtlsPacket: RFC 7983 first-byte ranges, RTP vs RTCP by packet type (RFC 5761)', () => {
  const first = (b: number, second = 0) => Buffer.from([b, second, 0, 0]);
  const expect: Array<[number, string]> = [
    [0, 'stun'], [3, 'stun'], [4, 'unknown'], [15, 'unknown'], [16, 'zrtp'], [19, 'zrtp'],
    [20, 'dtls'], [22, 'dtls'], [63, 'dtls'], [64, 'turn'], [79, 'turn'], [80, 'unknown'], [127, 'unknown'],
    [128, 'rtp'], [191, 'rtp'], [192, 'unknown'], [255, 'unknown'],
  ];
  for (const [b, kind] of expect) {
    assert.equal(classifyPacket(first(b, 111)), kind, `first byte ${b}`);
    assert.equal(isDtlsPacket(first(b)), kind === 'dtls', `isDtlsPacket first byte ${b}`);
  }
  assert.equal(classifyPacket(first(0x80, 111)), 'rtp', 'opus, marker clear');
  assert.equal(classifyPacket(first(0x80, 0x80 | 111)), 'rtp', 'opus, marker set');
  for (const pt of [192, 200, 201, 205, 206, 223]) assert.equal(classifyPacket(first(0x81, pt)), 'rtcp', `RTCP packet type ${pt}`);
  assert.equal(classifyPacket(first(0x80, 224)), 'rtp');
  assert.equal(classifyPacket(Buffer.alloc(0)), 'unknown');
  assert.equal(classifyPacket(Buffer.from([0x80])), 'unknown', 'one byte cannot say RTP or RTCP');
  assert.equal(isDtlsPacket(Buffer.alloc(0)), false);
  assert.throws(() => classifyPacket('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('the webrtc preset: no cookies, MTU 1200, 100 ms initial retransmission, every SRTP profile, fingerprints that may come later', () => {
  assert.deepEqual({ ...webrtc }, {
    mtu: 1200,
    retransmitTimeout: 100,
    cookieExchange: false,
    srtpProfiles: ['SRTP_AEAD_AES_256_GCM', 'SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_SHA1_80', 'SRTP_AES128_CM_SHA1_32'],
    awaitRemoteFingerprints: true,
  });
  assert.deepEqual(webrtc.srtpProfiles, SRTP_PROFILES);
  assert.ok(Object.isFrozen(webrtc));
  assert.ok(Object.isFrozen(webrtc.srtpProfiles));
});
