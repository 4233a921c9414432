// Interop with a real browser: headless Chromium (Debian's, driven by playwright-core) against
// examples/webrtc-echo — ICE-lite (werift-ice), DTLS-SRTP with our DtlsSession, SRTP (werift-rtp) — in a
// private network namespace with only loopback. One browser and one echo server serve every case
// (test/support/chromium-webrtc.ts); each case gets a fresh browser context and a hard timeout.
//
// What Chromium 156 does (PEERS.md): its ClientHello offers DTLS 1.3 and 1.2 with an X25519MLKEM768 key
// share (~1.4 KB, two fragments) and use_srtp 1, 8, 7. Pages see a DTLS failure only as the transport's
// state ('failed' in RTCDtlsTransport.state, its statechange events and the transport stats): Chromium
// fires no RTCDtlsTransport 'error' event and exposes no alert code.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';

import { chromiumAvailability, chromiumVersion, startWebRtcDriver, type WebRtcCase, type WebRtcCaseResult, type WebRtcDriver } from '../support/chromium-webrtc';
import { requirePeer } from '../support/peers';

const availability = chromiumAvailability();
const PEER = (availability.ok ? chromiumVersion() : null) ?? 'Chromium';
const CASE_MS = 20_000;
const TEST_TIMEOUT = 90_000; // the first case also launches the browser
const MIN_RTP = 50;

// The SRTP profiles werift-rtp implements (the echo re-encrypts with it).
const PROFILES = ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_SHA1_80'] as const;
// What Chromium's stats call them.
const CHROMIUM_SRTP_NAME: Record<(typeof PROFILES)[number], string> = {
  SRTP_AEAD_AES_128_GCM: 'SRTP_AEAD_AES_128_GCM',
  SRTP_AES128_CM_SHA1_80: 'SRTP_AES128_CM_HMAC_SHA1_80',
};
const ROLE_OF_SETUP = { active: 'client', passive: 'server' } as const;

let driver: Promise<WebRtcDriver> | undefined;
function getDriver(): Promise<WebRtcDriver> {
  driver ??= startWebRtcDriver();
  return driver;
}
after(async () => {
  if (driver !== undefined) await (await driver.catch(() => undefined))?.close();
});

async function run(c: WebRtcCase): Promise<{ r: WebRtcCaseResult; log: () => string }> {
  const d = await getDriver();
  const r = await d.run(c);
  return { r, log: d.log };
}

/** The whole result, for assertion messages. */
const show = (r: WebRtcCaseResult): string => JSON.stringify(r, null, 1);

for (const setup of ['passive', 'active'] as const) {
  const role = ROLE_OF_SETUP[setup];
  for (const profile of PROFILES) {
    test(`${PEER}: Node as DTLS ${role} (a=setup:${setup}), ${profile}: browser DTLS connected, >= ${MIN_RTP} browser RTP packets decrypted by Node, echo counted by the browser`, { timeout: TEST_TIMEOUT }, async (t) => {
      if (!requirePeer(t, 'chromium', availability.ok, availability.ok ? '' : availability.reason)) return;
      const { r } = await run({ setup, srtpProfiles: [profile], expect: 'media', minRtp: MIN_RTP, timeoutMs: CASE_MS });
      assert.equal(r.timedOut, false, `the case did not complete:\n${show(r)}`);
      assert.equal(r.role, role);
      assert.equal(r.node.error, undefined, show(r));
      assert.equal(r.node.protocol, 'DTLSv1.2');
      assert.equal(r.node.srtpProfile, profile);
      assert.equal(r.browser.dtlsTransportState, 'connected');
      assert.equal(r.browser.transport?.dtlsState, 'connected');
      assert.equal(r.browser.transport?.tlsVersion, 'FEFD', 'DTLS 1.2 on the browser side too');
      assert.equal(r.browser.transport?.srtpCipher, CHROMIUM_SRTP_NAME[profile]);
      assert.equal(r.browser.transport?.dtlsRole, role === 'client' ? 'server' : 'client');
      assert.ok(r.node.stats.rtpIn >= MIN_RTP, `Node decrypted ${r.node.stats.rtpIn} RTP packets`);
      assert.equal(r.node.stats.authFailures, 0, 'no SRTP/SRTCP authentication failure');
      assert.ok(r.node.stats.rtpOut >= MIN_RTP, `Node sent ${r.node.stats.rtpOut} RTP packets back`);
      assert.ok(r.browser.inboundRtpPackets > 0, `the browser counted ${r.browser.inboundRtpPackets} inbound RTP packets from Node`);
      if (role === 'server') {
        // The browser's large ClientHello (DTLS 1.3 offered, a hybrid key share) negotiated 1.2 above.
        assert.ok(r.node.clientHelloLength !== undefined, 'the ClientHello was seen');
        t.diagnostic(`browser ClientHello: ${r.node.clientHelloLength} bytes in ${r.node.clientHelloFragments} fragment(s)`);
      }
      t.diagnostic(`handshake: ${r.node.handshakeFromFirstIn?.toFixed(1)} ms from the first browser datagram, ` +
        `${r.node.handshakeFromFirstOut?.toFixed(1)} ms from our first; RTP in ${r.node.stats.rtpIn}, out ${r.node.stats.rtpOut}, browser received ${r.browser.inboundRtpPackets}`);
    });
  }
}

for (const setup of ['passive', 'active'] as const) {
  const role = ROLE_OF_SETUP[setup];
  test(`${PEER}: Node as DTLS ${role}, wrong fingerprint in Node's answer: the browser's DTLS transport fails (and tells Node)`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!requirePeer(t, 'chromium', availability.ok, availability.ok ? '' : availability.reason)) return;
    const { r } = await run({ setup, srtpProfiles: [...PROFILES], wrongAnswerFingerprint: true, expect: 'failure', timeoutMs: CASE_MS });
    assert.equal(r.timedOut, false, `the case did not complete:\n${show(r)}`);
    assert.equal(r.browser.dtlsTransportState, 'failed');
    assert.equal(r.browser.transport?.dtlsState, 'failed');
    assert.equal(r.browser.dtlsEvents.at(-1), 'failed');
    assert.ok(!r.browser.dtlsEvents.includes('connected'), `never connected: ${r.browser.dtlsEvents.join(', ')}`);
    assert.equal(r.node.stats.rtpIn, 0);
    // Chromium refuses our certificate with a fatal alert.
    assert.equal(r.node.error?.code, 'ERR_DTLS_ALERT_RECEIVED', show(r));
    assert.equal(r.node.error?.alert?.direction, 'received');
    assert.equal(r.node.error?.alert?.level, 'fatal');
    t.diagnostic(`Chromium sent ${r.node.error?.alert?.description}`);
  });

  test(`${PEER}: Node as DTLS ${role}, wrong remote fingerprint given to Node: handshake() rejects ERR_DTLS_FINGERPRINT_MISMATCH, the browser's transport fails on our alert`, { timeout: TEST_TIMEOUT }, async (t) => {
    if (!requirePeer(t, 'chromium', availability.ok, availability.ok ? '' : availability.reason)) return;
    const { r } = await run({ setup, srtpProfiles: [...PROFILES], wrongRemoteFingerprint: true, expect: 'failure', timeoutMs: CASE_MS });
    assert.equal(r.timedOut, false, `the case did not complete:\n${show(r)}`);
    assert.equal(r.node.error?.code, 'ERR_DTLS_FINGERPRINT_MISMATCH', show(r));
    assert.deepEqual(r.node.error?.verifyResult, { code: 50, message: 'application verification failure' });
    assert.deepEqual(r.node.error?.alert && { direction: r.node.error.alert.direction, description: r.node.error.alert.description }, { direction: 'sent', description: 'handshake_failure' });
    assert.ok(r.node.alerts.some((a) => a.direction === 'sent' && a.level === 'fatal' && a.description === 'handshake_failure'), JSON.stringify(r.node.alerts));
    // The alert is what ends the browser's handshake: with it dropped on the way (tried by hand),
    // Chromium's DTLS transport stayed 'connecting' for over 40 s, twice this case's deadline.
    assert.equal(r.browser.dtlsTransportState, 'failed');
    assert.equal(r.browser.transport?.dtlsState, 'failed');
    assert.equal(r.browser.dtlsEvents.at(-1), 'failed');
    assert.ok(!r.browser.dtlsEvents.includes('connected'), `never connected: ${r.browser.dtlsEvents.join(', ')}`);
  });
}
