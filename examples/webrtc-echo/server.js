#!/usr/bin/env node
// WebRTC echo: a browser sends its microphone here; this server decrypts the SRTP, re-encrypts the audio
// under its own SSRC and sends it back. Everything runs on 127.0.0.1.
//
//   ICE-lite .......... werift-ice   (answers the browser's connectivity checks, carries the datagrams)
//   DTLS-SRTP ......... openssl-dtls (a sans-IO DtlsSession: datagrams in, datagrams out, SRTP keys)
//   SRTP .............. werift-rtp   (AES128_CM_SHA1_80 and AEAD_AES_128_GCM)
//
//   node examples/webrtc-echo/server.js [--port 8080]      then open http://127.0.0.1:8080/
//
// Also a module: startEchoServer() is what test/interop/chromium.webrtc.test.ts drives.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { randomBytes, randomInt } = require('node:crypto');
const { EventEmitter } = require('node:events');

const { Candidate, Connection } = require('werift-ice');
const { RtpHeader, RtpPacket, SrtcpSession, SrtpSession } = require('werift-rtp');
const dtls = require('../..'); // require('openssl-dtls') in your project

const HOST = '127.0.0.1';
const PAGE = fs.readFileSync(path.join(__dirname, 'index.html'));
// The profiles werift-rtp implements, our preference first.
const SRTP_PROFILES = ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_SHA1_80'];
// DTLS datagrams queued before ICE has nominated a pair (werift-ice drops them until then).
const MAX_QUEUED = 64;

// ---- SDP: only the parts an audio echo needs ---------------------------------------------------

function parseOffer(sdp) {
  const lines = sdp.split(/\r?\n/);
  const values = (name) => lines.filter((l) => l.startsWith(`a=${name}:`)).map((l) => l.slice(name.length + 3));
  const one = (name) => {
    const v = values(name)[0];
    if (v === undefined) throw new Error(`the offer has no a=${name}`);
    return v;
  };
  if (!lines.some((l) => l.startsWith('m=audio '))) throw new Error('the offer has no audio section');
  const opus = values('rtpmap').map((v) => /^(\d+) opus\/48000\/2$/i.exec(v)).find(Boolean);
  if (!opus) throw new Error('the offer has no opus/48000/2');
  return {
    iceUfrag: one('ice-ufrag'),
    icePwd: one('ice-pwd'),
    setup: one('setup'),
    mid: one('mid'),
    fingerprints: values('fingerprint').map((v) => dtls.parseSdpFingerprint(v)),
    opusPayloadType: Number(opus[1]),
    candidates: values('candidate'),
  };
}

function buildAnswer({ offer, ice, candidates, fingerprints, setup, ssrc }) {
  const pt = offer.opusPayloadType;
  const port = candidates[0].port;
  return [
    'v=0',
    `o=- ${randomInt(1, 2 ** 31)} 1 IN IP4 ${HOST}`,
    's=-',
    't=0 0',
    `a=group:BUNDLE ${offer.mid}`,
    'a=ice-lite',
    'a=msid-semantic: WMS echo',
    `m=audio ${port} UDP/TLS/RTP/SAVPF ${pt}`,
    `c=IN IP4 ${HOST}`,
    // werift-ice's Candidate.toSdp() leaves out the "candidate:" prefix.
    ...candidates.map((c) => `a=candidate:${c.toSdp()}`),
    'a=end-of-candidates',
    `a=ice-ufrag:${ice.localUsername}`,
    `a=ice-pwd:${ice.localPassword}`,
    ...fingerprints.map((f) => `a=fingerprint:${f.algorithm} ${f.value}`),
    `a=setup:${setup}`,
    `a=mid:${offer.mid}`,
    'a=sendrecv',
    'a=msid:echo echo-audio',
    'a=rtcp-mux',
    `a=rtpmap:${pt} opus/48000/2`,
    `a=fmtp:${pt} minptime=10;useinbandfec=1`,
    `a=ssrc:${ssrc} cname:echo`,
    `a=ssrc:${ssrc} msid:echo echo-audio`,
    '',
  ].join('\r\n');
}

// ---- one browser ---------------------------------------------------------------------------------

/**
 * One browser connection: ICE-lite, then DTLS on the nominated pair, then SRTP with the DTLS keys.
 * Events: 'connected' (DTLS up, SRTP keys in hand), 'failed' (err), 'closed'.
 */
class EchoPeer extends EventEmitter {
  constructor(id, { offer, context, certificate, setup, answerFingerprints, remoteFingerprints }) {
    super();
    this.id = id;
    this.offer = offer;
    // The role rule: the browser offered actpass; an ICE-lite server is ICE-controlled, so unless told
    // otherwise it takes the DTLS client role (as mediasoup does).
    this.role = dtls.resolveDtlsRole({ remoteSetup: offer.setup, localSetup: setup, iceRole: 'controlled' });
    this.ssrc = randomBytes(4).readUInt32BE(0);
    this.stats = { rtpIn: 0, rtpOut: 0, rtcpIn: 0, authFailures: 0, beforeKeys: 0, dtlsIn: 0, dtlsOut: 0 };
    this.timing = { created: performance.now(), firstDtlsIn: undefined, firstDtlsOut: undefined, connected: undefined };
    this.error = undefined;
    this._answerFingerprints = answerFingerprints ?? dtls.localFingerprints(certificate.cert);
    this._queue = []; // DTLS datagrams waiting for ICE nomination
    this._inFlight = new Set(); // sends not yet handed to the socket
    this._nominated = false;
    this._seq = randomInt(0, 0x10000);
    this._srtp = undefined;
    this._srtcp = undefined;

    this.ice = new Connection(false, {
      iceLite: true,
      useIpv4: true,
      useIpv6: false,
      additionalHostAddresses: [HOST],
      interfaceAddresses: { udp4: HOST },
    });
    this.ice.setRemoteParams({ iceLite: false, usernameFragment: offer.iceUfrag, password: offer.icePwd });

    this.session = new dtls.DtlsSession({
      ...dtls.webrtc,
      context,
      role: this.role,
      // The browser's a=fingerprint: checked inside the handshake, fail closed.
      remoteFingerprints: remoteFingerprints ?? offer.fingerprints,
      send: (datagram) => this._sendDtls(datagram),
    });
    this.session.on('error', (err) => this._fail(err));
    // However DTLS ends (close, failure), the ICE agent and its socket go with it.
    this._iceClosed = new Promise((resolve) => {
      this.session.once('close', () => {
        // Let the last datagrams (close_notify, or the alert that ended the handshake) leave first.
        Promise.allSettled([...this._inFlight])
          .then(() => this.ice.close())
          .catch(() => {})
          .finally(() => {
            resolve();
            this.emit('closed');
          });
      });
    });
  }

  /** Gathers our candidate and returns the SDP answer; the connection then runs by itself. */
  async answer() {
    await this.ice.gatherCandidates();
    const candidates = this.ice.localCandidates.filter((c) => c.host === HOST && c.transport.toLowerCase() === 'udp');
    if (candidates.length === 0) throw new Error(`werift-ice gathered no UDP candidate on ${HOST}`);
    for (const line of this.offer.candidates) {
      const c = Candidate.fromSdp(line);
      if (c.host === HOST) await this.ice.addRemoteCandidate(c);
    }
    await this.ice.addRemoteCandidate(undefined);

    this.ice.onData.subscribe((packet) => this._onPacket(packet));
    this.session.once('secureConnect', () => this._onConnected());
    // A DTLS server waits for the ClientHello (which may arrive before nomination); a client starts
    // once ICE has nominated a pair, so its first flight is not dropped.
    if (this.role === 'server') this.session.handshake().catch(() => {});
    this.ice
      .connect()
      .then(() => {
        this._nominated = true;
        for (const d of this._queue.splice(0)) this._transmit(d);
        if (this.role === 'client') this.session.handshake().catch(() => {});
      })
      .catch((err) => this.session.destroy(err));

    return buildAnswer({
      offer: this.offer,
      ice: this.ice,
      candidates,
      fingerprints: this._answerFingerprints,
      setup: dtls.sdpSetup(this.role),
      ssrc: this.ssrc,
    });
  }

  _sendDtls(datagram) {
    this.stats.dtlsOut++;
    if (this._nominated) this._transmit(datagram);
    else if (this._queue.length < MAX_QUEUED) this._queue.push(datagram);
  }

  _transmit(packet) {
    this.timing.firstDtlsOut ??= performance.now();
    // A UDP send error is a lost datagram: DTLS retransmits, SRTP carries on.
    const p = this.ice.send(packet).catch(() => {});
    this._inFlight.add(p);
    p.finally(() => this._inFlight.delete(p));
  }

  _onPacket(packet) {
    switch (dtls.classifyPacket(packet)) {
      case 'dtls':
        this.stats.dtlsIn++;
        this.timing.firstDtlsIn ??= performance.now();
        this.session.receive(packet);
        break;
      case 'rtp':
        this._echo(packet);
        break;
      case 'rtcp':
        // Decrypted only to count it: this example does not act on reports.
        if (this._srtcp === undefined) break;
        try {
          this._srtcp.decrypt(packet);
          this.stats.rtcpIn++;
        } catch {
          this.stats.authFailures++;
        }
        break;
      default:
        break;
    }
  }

  _onConnected() {
    this.timing.connected = performance.now();
    const k = this.session.getSrtpKeys();
    // local = what we encrypt with, remote = what the browser encrypts with (RFC 5764 §4.2, by role).
    const config = {
      keys: { localMasterKey: k.localKey, localMasterSalt: k.localSalt, remoteMasterKey: k.remoteKey, remoteMasterSalt: k.remoteSalt },
      profile: k.profileId,
    };
    this._srtp = new SrtpSession(config);
    this._srtcp = new SrtcpSession(config);
    this.emit('connected', k.profile);
  }

  _echo(packet) {
    if (this._srtp === undefined) {
      this.stats.beforeKeys++;
      return;
    }
    let rtp;
    try {
      rtp = RtpPacket.deSerialize(this._srtp.decrypt(packet));
    } catch {
      this.stats.authFailures++;
      return;
    }
    this.stats.rtpIn++;
    // The same audio under our own SSRC and sequence numbers (timestamps are kept: same clock).
    this._seq = (this._seq + 1) & 0xffff;
    const header = new RtpHeader({
      payloadType: rtp.header.payloadType,
      marker: rtp.header.marker,
      sequenceNumber: this._seq,
      timestamp: rtp.header.timestamp,
      ssrc: this.ssrc,
    });
    this._transmit(this._srtp.encrypt(rtp.payload, header));
    this.stats.rtpOut++;
  }

  _fail(err) {
    if (this.error !== undefined) return;
    this.error = err;
    this.emit('failed', err);
  }

  async close() {
    await this.session.close();
    await this._iceClosed;
  }
}

// ---- HTTP: the page and the offer/answer exchange -------------------------------------------------

/**
 * Starts the echo server on 127.0.0.1. `options.peerOptions(query)` may return per-connection overrides
 * ({ setup, srtpProfiles, answerFingerprints, remoteFingerprints }); by default `?setup=active|passive`
 * picks our DTLS role. Resolves with { url, server, peers, close() }; server emits 'peer' (EchoPeer).
 */
async function startEchoServer(options = {}) {
  const certificate = await dtls.generateCertificate(); // ECDSA P-256, random serial, unique CN
  const contexts = new Map(); // one SecureContext per SRTP profile list
  const contextFor = (profiles) => {
    const key = profiles.join(':');
    if (!contexts.has(key)) contexts.set(key, dtls.createSecureContext({ ...dtls.webrtc, ...certificate, srtpProfiles: profiles }));
    return contexts.get(key);
  };
  const peerOptions = options.peerOptions ?? ((query) => ({ setup: query.get('setup') ?? undefined }));
  const peers = new Map();
  const events = new EventEmitter();

  async function onOffer(query, body) {
    const offer = parseOffer(JSON.parse(body).sdp);
    const o = peerOptions(query);
    const id = randomBytes(6).toString('hex');
    const peer = new EchoPeer(id, { ...o, offer, certificate, context: contextFor(o.srtpProfiles ?? SRTP_PROFILES) });
    peers.set(id, peer);
    peer.once('closed', () => peers.delete(id));
    events.emit('peer', peer);
    return { id, sdp: await peer.answer() };
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${HOST}`);
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/offer') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => {
        body += chunk;
        if (body.length > 64 * 1024) req.destroy();
      });
      req.on('end', () => {
        onOffer(url.searchParams, body).then(
          (answer) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)),
          (err) => res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err.message)),
        );
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, resolve);
  });
  const { port } = server.address();
  return {
    url: `http://${HOST}:${port}/`,
    events,
    peers,
    certificate,
    async close() {
      await Promise.all([...peers.values()].map((p) => p.close().catch(() => {})));
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections(); // keep-alive connections would hold close() open
      await closed;
    },
  };
}

module.exports = { startEchoServer, parseOffer, buildAnswer, EchoPeer, SRTP_PROFILES };

if (require.main === module) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 8080;
  startEchoServer({ port }).then((echo) => {
    console.log(`WebRTC echo on ${echo.url} (open it in a browser on this machine)`);
    echo.events.on('peer', (peer) => {
      console.log(`[${peer.id}] offer: we are the DTLS ${peer.role}`);
      peer.on('connected', (profile) => console.log(`[${peer.id}] DTLS connected, SRTP ${profile}`));
      peer.on('failed', (err) => console.log(`[${peer.id}] failed: ${err.code ?? ''} ${err.message}`));
      peer.on('closed', () => console.log(`[${peer.id}] closed: ${JSON.stringify(peer.stats)}`));
    });
    process.once('SIGINT', () => echo.close().then(() => process.exit(0)));
  });
}
