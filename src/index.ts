// openssl-dtls: DTLS 1.2 for Node.js on the OpenSSL inside Node.
import { binding } from './binding';
import { DtlsError } from './errors';

// Native code throws the real DtlsError class (instanceof works).
binding.setErrorFactory((message, errors) => new DtlsError(message, { opensslErrors: errors }));

export { createSecureContext, SecureContext } from './secure-context';
export type { ContextOptions, DtlsVersion, PskOptions } from './secure-context';
export { DtlsSession } from './session';
export type { CipherInfo, DtlsRole, DtlsSessionEvents, HandshakeInfo, SessionOptions, SessionState, SessionStats, TimelineEvent } from './session';
export { connect, DtlsSocket } from './socket';
export type { ConnectOptions, DtlsSocketEvents } from './socket';
export { createServer, DtlsServer } from './server';
export type { DtlsServerEvents, RemoteInfo, ServerOptions, ServerStats } from './server';
export { DtlsError } from './errors';
export type { DtlsAlert, DtlsErrorCode, DtlsErrorOptions, OpenSSLErrorEntry } from './errors';
export { explain } from './explain';
export type { Explanation } from './explain';
export type { KeyHealthOptions, KeyHealthReport } from './keyhealth';
export type { PeerCertificateSummary } from './diagnostics';
export { fingerprint, generateCertificate, isDtlsPacket } from './certificate';
export type { Fingerprint, FingerprintAlgorithm, KeyType } from './certificate';
export { SRTP_PROFILES } from './srtp';
export type { SrtpKeys, SrtpProfile } from './srtp';
export { classifyPacket, localFingerprints, parseSdpFingerprint, resolveDtlsRole, sdpSetup, webrtc } from './webrtc';
export type { DtlsRoleOptions, IceRole, PacketKind, SdpSetup, WebRtcPreset } from './webrtc';

/** The OpenSSL that runs this library (the one inside node), e.g. "OpenSSL 3.0.19 27 Jan 2026". */
export const opensslVersion: string = binding.opensslVersion;
