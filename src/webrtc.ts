// WebRTC glue for media servers that own ICE and use DtlsSession as their
// DTLS-SRTP component: DTLS role from SDP, local fingerprints for SDP, packet
// demultiplexing (RFC 7983) and a preset of session options.
import { X509Certificate } from 'node:crypto';

import { fingerprint, FINGERPRINT_ALGORITHMS, parseFingerprint, type Fingerprint, type FingerprintAlgorithm } from './certificate';
import { invalidArgType, invalidArgValue } from './errors';
import type { DtlsRole, SessionOptions } from './session';
import { SRTP_PROFILES } from './srtp';
import { validateObject, validateOneOf, validateString } from './validate';

/** SDP a=setup values (RFC 4145, RFC 5763 §5). */
export type SdpSetup = 'actpass' | 'active' | 'passive' | 'holdconn';
export type IceRole = 'controlling' | 'controlled';

export interface DtlsRoleOptions {
  /** a=setup of the remote description */
  remoteSetup: SdpSetup;
  /** a=setup of our own description, if it is already decided ('actpass' when we made the offer) */
  localSetup?: SdpSetup;
  /** our ICE role: decides when neither side chose (an ICE-lite agent is always 'controlled') */
  iceRole?: IceRole;
}

const SETUPS: readonly SdpSetup[] = ['actpass', 'active', 'passive', 'holdconn'];

/**
 * Resolves our DTLS role from the SDP a=setup attributes and the ICE role:
 *   1. the remote side chose: remote 'active' (it connects) → we are 'server'; remote 'passive' → 'client';
 *   2. else (remote 'actpass') our own choice decides: local 'active' → 'client', 'passive' → 'server';
 *   3. else neither chose (both 'actpass', or ours not given) → the ICE role decides, as ORTC and
 *      mediasoup do: the ICE-controlled side is the DTLS client, the controlling side the DTLS server.
 * Both sides claiming the same role, or 'holdconn', throws ERR_INVALID_ARG_VALUE.
 * Our answer's a=setup is then sdpSetup(role): 'active' for a client, 'passive' for a server.
 */
export function resolveDtlsRole(options: DtlsRoleOptions): DtlsRole {
  validateObject(options, 'options');
  const { remoteSetup, localSetup, iceRole } = options;
  validateOneOf(remoteSetup, 'options.remoteSetup', SETUPS);
  if (localSetup !== undefined) validateOneOf(localSetup, 'options.localSetup', SETUPS);
  if (iceRole !== undefined) validateOneOf(iceRole, 'options.iceRole', ['controlling', 'controlled'] as const);
  if (remoteSetup === 'holdconn' || localSetup === 'holdconn') {
    throw invalidArgValue(remoteSetup === 'holdconn' ? 'options.remoteSetup' : 'options.localSetup', 'holdconn', 'means no connection: there is no DTLS role to take');
  }
  if (remoteSetup !== 'actpass') {
    if (localSetup === remoteSetup) {
      throw invalidArgValue('options.localSetup', localSetup, `conflicts with the remote a=setup:${remoteSetup} (both sides would be DTLS ${remoteSetup === 'active' ? 'clients' : 'servers'})`);
    }
    return remoteSetup === 'active' ? 'server' : 'client';
  }
  if (localSetup === 'active') return 'client';
  if (localSetup === 'passive') return 'server';
  if (iceRole === undefined) {
    throw invalidArgValue('options.iceRole', iceRole, 'is needed when neither side chose a DTLS role (both a=setup:actpass)');
  }
  return iceRole === 'controlled' ? 'client' : 'server';
}

/** The a=setup value that announces `role` in an answer: 'active' (DTLS client) or 'passive' (DTLS server). */
export function sdpSetup(role: DtlsRole): 'active' | 'passive' {
  validateOneOf(role, 'role', ['client', 'server'] as const);
  return role === 'client' ? 'active' : 'passive';
}

/** The algorithms localFingerprints() lists by default: sha-256 first (what browsers use), then sha-384, sha-512, sha-1. */
export const LOCAL_FINGERPRINT_ALGORITHMS: readonly FingerprintAlgorithm[] = Object.freeze(['sha-256', 'sha-384', 'sha-512', 'sha-1'] as const);

/** Our certificate's fingerprints for SDP a=fingerprint lines (RFC 8122): `a=fingerprint:${algorithm} ${value}`. */
export function localFingerprints(cert: string | Buffer | X509Certificate, algorithms: readonly FingerprintAlgorithm[] = LOCAL_FINGERPRINT_ALGORITHMS): Fingerprint[] {
  if (!Array.isArray(algorithms)) throw invalidArgType('algorithms', 'an instance of Array', algorithms);
  algorithms.forEach((a, i) => validateOneOf(a, `algorithms[${i}]`, FINGERPRINT_ALGORITHMS));
  const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return algorithms.map((algorithm) => ({ algorithm, value: fingerprint(x509, algorithm) }));
}

/**
 * Parses the value of an SDP a=fingerprint attribute, e.g. 'sha-256 AB:CD:…' (the hash name is
 * case-insensitive, RFC 8122 §5). Throws ERR_INVALID_ARG_VALUE for unknown hashes or malformed digests.
 */
export function parseSdpFingerprint(attribute: string): Fingerprint {
  validateString(attribute, 'attribute');
  const m = /^\s*(?:a=fingerprint:)?\s*(\S+)\s+(\S+)\s*$/i.exec(attribute);
  if (m === null) throw invalidArgValue('attribute', attribute, "must be '<hash> <hex pairs>' (e.g. 'sha-256 AB:CD:…')");
  const fp = { algorithm: m[1]!.toLowerCase() as FingerprintAlgorithm, value: m[2]!.toUpperCase() };
  parseFingerprint(fp, 'attribute');
  return fp;
}

export type PacketKind = 'stun' | 'zrtp' | 'dtls' | 'turn' | 'rtp' | 'rtcp' | 'unknown';

/**
 * RFC 7983 demultiplexing by the first byte: 0..3 STUN, 16..19 ZRTP, 20..63 DTLS, 64..79 TURN channel,
 * 128..191 RTP or RTCP (told apart by the packet type, RFC 5761 §4: 192..223 is RTCP).
 */
export function classifyPacket(packet: Uint8Array): PacketKind {
  if (!(packet instanceof Uint8Array)) throw invalidArgType('packet', 'an instance of Buffer or Uint8Array', packet);
  if (packet.length === 0) return 'unknown';
  const b = packet[0]!;
  if (b <= 3) return 'stun';
  if (b >= 16 && b <= 19) return 'zrtp';
  if (b >= 20 && b <= 63) return 'dtls';
  if (b >= 64 && b <= 79) return 'turn';
  if (b >= 128 && b <= 191) {
    if (packet.length < 2) return 'unknown';
    const pt = packet[1]!;
    return pt >= 192 && pt <= 223 ? 'rtcp' : 'rtp';
  }
  return 'unknown';
}

export type WebRtcPreset = Readonly<Required<Pick<SessionOptions, 'mtu' | 'retransmitTimeout' | 'cookieExchange' | 'srtpProfiles' | 'awaitRemoteFingerprints'>>>;

/**
 * Session and context options for WebRTC: no cookies (ICE connectivity checks already proved the path),
 * MTU 1200, 100 ms initial retransmission, every SRTP profile strongest first (SRTP then required), and
 * fingerprint-only peer authentication that may arrive after the handshake. Spread it into
 * createSecureContext() and new DtlsSession(); pair it with generateCertificate() (ECDSA P-256 by default).
 */
export const webrtc: WebRtcPreset = Object.freeze({
  mtu: 1200,
  retransmitTimeout: 100,
  cookieExchange: false,
  srtpProfiles: SRTP_PROFILES,
  awaitRemoteFingerprints: true,
});
