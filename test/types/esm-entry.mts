// Type test of the ESM entry (`import` condition of "exports" → index.d.mts): the named exports, the
// default export (the CommonJS module object, as Node gives it), and one class shared by both.
import dtls, { DtlsError, DtlsSession, DtlsSocket, connect, createSecureContext, createServer, opensslVersion } from 'openssl-dtls';
import type { DtlsServer, HandshakeInfo, SessionOptions } from 'openssl-dtls';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const sameClass: Equal<typeof dtls.DtlsSession, typeof DtlsSession> = true;
const sameError: Equal<typeof dtls.DtlsError, typeof DtlsError> = true;
const version: string = opensslVersion;

export async function connectOnce(send: SessionOptions['send']): Promise<HandshakeInfo> {
  const session = new dtls.DtlsSession({ role: 'client', context: createSecureContext(), send });
  return session.handshake();
}

export function echoServer(): DtlsServer {
  return createServer({ pskCallback: () => Buffer.alloc(16, 7) }, (socket: DtlsSocket) => {
    socket.on('message', (data) => socket.send(data));
  });
}

export function client(port: number): DtlsSocket {
  return connect({ port, psk: { identity: 'device', key: Buffer.alloc(16, 7) } });
}

export { sameClass, sameError, version };
