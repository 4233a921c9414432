// Type test of the public API as a CommonJS TypeScript user sees it (`require` condition of "exports").
// Compiled only (never run): `npm run test:types`. Each `@ts-expect-error` line must stay an error.
import { X509Certificate } from 'node:crypto';
import * as dgram from 'node:dgram';

import {
  connect,
  createSecureContext,
  createServer,
  DtlsError,
  DtlsServer,
  DtlsSocket,
  DtlsSession,
  explain,
  fingerprint,
  generateCertificate,
  isDtlsPacket,
  opensslVersion,
  SecureContext,
} from 'openssl-dtls';
import type {
  CipherInfo,
  ConnectOptions,
  ContextOptions,
  DtlsAlert,
  DtlsErrorCode,
  DtlsRole,
  DtlsServerEvents,
  DtlsSessionEvents,
  DtlsSocketEvents,
  DtlsVersion,
  Explanation,
  Fingerprint,
  FingerprintAlgorithm,
  HandshakeInfo,
  KeyType,
  OpenSSLErrorEntry,
  PskOptions,
  RemoteInfo,
  ServerOptions,
  ServerStats,
  SessionOptions,
  SessionState,
  SessionStats,
  TimelineEvent,
} from 'openssl-dtls';

/** Compile-time equality: `assertType<Equal<A, B>>(true)` fails to compile unless A and B are the same. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(value: T): T {
  return value;
}
function expectType<T>(value: T): T {
  return value;
}

assertType<Equal<DtlsRole, 'client' | 'server'>>(true);
assertType<Equal<SessionState, 'new' | 'connecting' | 'connected' | 'closed' | 'failed'>>(true);
assertType<Equal<DtlsVersion, 'DTLSv1' | 'DTLSv1.2'>>(true);
assertType<Equal<KeyType, 'ecdsa-p256' | 'rsa-2048' | 'ed25519'>>(true);
assertType<Equal<FingerprintAlgorithm, 'sha-1' | 'sha-224' | 'sha-256' | 'sha-384' | 'sha-512'>>(true);
assertType<Equal<typeof opensslVersion, string>>(true);
assertType<Equal<DtlsSessionEvents['message'], [data: Buffer]>>(true);
assertType<Equal<DtlsSessionEvents['error'], [err: DtlsError]>>(true);
assertType<Equal<DtlsSessionEvents['close'], []>>(true);

async function certificates(): Promise<void> {
  const { cert, key } = await generateCertificate();
  expectType<string>(cert);
  expectType<string>(key);
  await generateCertificate({ keyType: 'rsa-2048', commonName: 'example.test', days: 7 });
  // @ts-expect-error: not a key type this library generates
  await generateCertificate({ keyType: 'dsa' });

  const fp: Fingerprint = { algorithm: 'sha-256', value: fingerprint(cert) };
  expectType<string>(fingerprint(Buffer.from(cert), 'sha-384'));
  expectType<string>(fingerprint(new X509Certificate(cert)));
  // @ts-expect-error: SDP spells algorithms with a dash
  fingerprint(cert, 'sha256');
  // @ts-expect-error: a fingerprint needs its algorithm
  const noAlgorithm: Fingerprint = { value: fp.value };
  void noAlgorithm;

  expectType<boolean>(isDtlsPacket(Buffer.alloc(13)));
  expectType<boolean>(isDtlsPacket(new Uint8Array(13)));
}

function contexts(cert: string, key: Buffer): SecureContext {
  const options: ContextOptions = {
    cert,
    key,
    ca: [cert, Buffer.from(cert)],
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    groups: 'X25519:P-256',
    minVersion: 'DTLSv1.2',
    maxVersion: 'DTLSv1.2',
    requestCert: true,
    rejectUnauthorized: true,
    alpnProtocols: ['webrtc', Buffer.from('c-webrtc')],
    extendedMasterSecret: true,
  };
  // @ts-expect-error: DTLS 1.3 is not a version OpenSSL 3 offers
  const dtls13: ContextOptions = { minVersion: 'DTLSv1.3' };
  void dtls13;
  const context = createSecureContext(options);
  expectType<SecureContext>(createSecureContext());
  expectType<number>(context.sessionCount);
  expectType<string[]>(context.getCiphers());
  expectType<boolean>(context.rejectUnauthorized);
  // @ts-expect-error: contexts are made by createSecureContext(), not constructed from user code types
  new SecureContext({ ciphers: 'x' });
  return context;
}

async function sessions(context: SecureContext, fp: Fingerprint): Promise<void> {
  const socket = dgram.createSocket('udp4');
  const abort = new AbortController();
  const options: SessionOptions = {
    role: 'client',
    context,
    send: (datagram) => socket.send(datagram, 4433, '127.0.0.1'),
    mtu: 1200,
    remoteFingerprints: [fp],
    servername: 'example.test',
    retransmitTimeout: (previous) => (previous === 0 ? 100 : Math.min(previous * 2, 4000)),
    handshakeTimeout: 10_000,
    signal: abort.signal,
    peer: { address: '127.0.0.1', port: 4433 },
  };
  const session = new DtlsSession(options);
  // @ts-expect-error: a session needs its send callback
  new DtlsSession({ role: 'server' });
  // @ts-expect-error: no such role
  new DtlsSession({ role: 'peer', send: () => undefined });

  session.on('secureConnect', (info) => expectType<HandshakeInfo>(info));
  session.on('message', (data) => expectType<Buffer>(data));
  session.on('alert', (alert) => {
    expectType<DtlsAlert>(alert);
    expectType<'sent' | 'received'>(alert.direction);
    expectType<OpenSSLErrorEntry[]>(alert.opensslErrors);
    expectType<Explanation>(alert.explanation);
  });
  session.once('error', (err) => {
    expectType<DtlsError>(err);
    expectType<DtlsErrorCode>(err.code);
  });
  session.off('close', () => undefined);
  session.on('keylog', (line) => expectType<Buffer>(line));
  // @ts-expect-error: 'message' delivers a Buffer, not a string
  session.on('message', (data: string) => data);
  // @ts-expect-error: no such event
  session.on('data', () => undefined);
  socket.on('message', (datagram) => session.receive(datagram));
  session.receive([Buffer.alloc(1), new Uint8Array(1)]);

  const info = await session.handshake();
  expectType<string>(info.protocol);
  expectType<CipherInfo>(info.cipher);
  expectType<string | false>(info.alpnProtocol);
  expectType<X509Certificate | undefined>(info.peerCertificate);
  expectType<number>(info.maxPayload);

  session.send('hello');
  session.send(Buffer.from('hello'));
  session.send(new Uint8Array([1, 2, 3]));
  // A burst: each element its own record.
  session.send(['a', Buffer.from('b'), new Uint8Array([3])]);
  // @ts-expect-error: a message is a string or bytes
  session.send(['a', 1]);
  // @ts-expect-error: no nested bursts
  session.send([['a']]);

  expectType<SessionState>(session.state);
  expectType<DtlsRole>(session.role);
  expectType<number>(session.maxPayload);
  expectType<Buffer>(session.exportKeyingMaterial(60, 'EXTRACTOR-dtls_srtp'));
  expectType<Buffer>(session.exportKeyingMaterial(32, 'EXPORTER-label', Buffer.alloc(4)));
  expectType<string | null>(session.getProtocol());
  expectType<CipherInfo | undefined>(session.getCipher());
  expectType<X509Certificate | undefined>(session.getPeerCertificate());
  expectType<string | false>(session.getALPNProtocol());
  expectType<Buffer | undefined>(session.getSession());
  const stats: SessionStats = session.getStats();
  expectType<number>(stats.datagramsIn + stats.bytesOut + stats.retransmits + stats.dropped);
  session.setRemoteFingerprints([fp]);

  for (const event of session.timeline()) {
    expectType<TimelineEvent>(event);
    // The union narrows on `type`.
    if (event.type === 'message') expectType<'in' | 'out'>(event.direction);
    else if (event.type === 'alert') expectType<'warning' | 'fatal'>(event.level);
    else if (event.type === 'state') expectType<SessionState>(event.state);
  }

  await session.close();
  session.destroy();
  session.destroy(new Error('gone'));
  socket.close();
}

async function overUdp(cert: string, key: string, fp: Fingerprint): Promise<void> {
  assertType<Equal<DtlsSocketEvents['message'], [data: Buffer]>>(true);
  assertType<Equal<DtlsServerEvents['secureConnection'], [socket: DtlsSocket]>>(true);
  assertType<Equal<DtlsServerEvents['tlsClientError'], [err: DtlsError, remote: RemoteInfo]>>(true);

  const psk: PskOptions = { identity: 'sensor-1', key: Buffer.alloc(16, 1) };
  const serverOptions: ServerOptions = {
    cert,
    key,
    cookieExchange: true,
    cookieSecretLifetime: 60_000,
    maxConnections: 1000,
    maxHandshakes: 64,
    handshakeTimeout: 10_000,
    idleTimeout: 60_000,
    mtu: 1200,
    type: 'udp4',
    recvBufferSize: 4 << 20,
    sendBufferSize: 1 << 20,
    pskCallback: (identity) => (identity === psk.identity ? psk.key : null),
    pskIdentityHint: 'example',
    remoteFingerprints: [fp],
  };
  const server = createServer(serverOptions, (socket) => expectType<DtlsSocket>(socket));
  expectType<DtlsServer>(server);
  server.on('secureConnection', (socket) => {
    expectType<string | undefined>(socket.remoteAddress);
    expectType<number | undefined>(socket.remotePort);
    socket.on('message', (data) => socket.send(data, (err) => expectType<Error | null | undefined>(err)));
  });
  server.on('tlsClientError', (err, remote) => {
    expectType<DtlsError>(err);
    expectType<'IPv4' | 'IPv6'>(remote.family);
  });
  server.once('listening', () => undefined);
  server.on('error', (err) => expectType<Error>(err));
  // @ts-expect-error: no such event (node:tls's 'connection' is 'secureConnection' here)
  server.on('connection', () => undefined);
  server.listen(0, '127.0.0.1', () => undefined);
  const { port } = server.address();
  const stats: ServerStats = server.getStats();
  expectType<number | undefined>(stats.recvBufferSize);
  expectType<number>(stats.helloVerifyRequests + stats.badCookies + stats.refused + stats.connections);
  expectType<number>(server.connections);
  expectType<boolean>(server.listening);

  const options: ConnectOptions = { host: '127.0.0.1', port, psk, ciphers: 'PSK-AES128-GCM-SHA256', handshakeTimeout: 5000 };
  // @ts-expect-error: connect() is always a client
  connect({ port, role: 'client' });
  // @ts-expect-error: connect() needs a port
  connect({ host: 'example.test' });
  const socket = connect(options, () => undefined);
  // A DtlsSocket is a DtlsSession: every session method and getter works on it.
  const session: DtlsSession = socket;
  session.on('secureConnect', (info) => expectType<HandshakeInfo>(info));
  socket.send('ping', (err) => expectType<Error | null | undefined>(err));
  socket.send(['ping', 'pong'], (err) => expectType<Error | null | undefined>(err));
  expectType<'IPv4' | 'IPv6' | undefined>(socket.remoteFamily);
  expectType<number>(socket.address().port);
  await socket.close();
  await server.close();
}

function errors(caught: unknown): void {
  if (caught instanceof DtlsError) {
    expectType<DtlsErrorCode>(caught.code);
    expectType<OpenSSLErrorEntry[]>(caught.opensslErrors);
    expectType<string | undefined>(caught.library);
    expectType<string | undefined>(caught.reason);
    expectType<DtlsAlert | undefined>(caught.alert);
    const entry = caught.opensslErrors[0];
    if (entry !== undefined) {
      expectType<string>(entry.function);
      expectType<number>(entry.line);
    }
    const explanation = explain(caught);
    expectType<string>(explanation.path);
    expectType<string[]>(explanation.likelyCauses);
    expectType<Explanation>(explain(caught.opensslErrors));
    if (caught.alert) expectType<Explanation>(explain(caught.alert));
  }
  // Codes are a known set plus Node-style OpenSSL codes.
  const codes: DtlsErrorCode[] = ['ERR_DTLS_ALERT_SENT', 'ERR_DTLS_HANDSHAKE_TIMEOUT', 'ERR_SSL_NO_SHARED_CIPHER'];
  void codes;
  // @ts-expect-error: explain() takes an alert, an error or error-queue entries
  explain('handshake_failure');
}

export { certificates, contexts, errors, overUdp, sessions };
