// Compiled in the consumer project against the installed package (scripts/pack-test.js): the
// `require` types of "exports", as a CommonJS TypeScript project resolves them.
import { DtlsSession, createSecureContext, type HandshakeInfo, type SessionOptions } from 'openssl-dtls';

export function start(send: SessionOptions['send']): Promise<HandshakeInfo> {
  return new DtlsSession({ role: 'client', context: createSecureContext(), send }).handshake();
}
