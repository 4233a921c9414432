// Compiled in the consumer project against the installed package (scripts/pack-test.js): the
// `import` types of "exports" (index.d.mts), named and default.
import dtls, { DtlsSession, type HandshakeInfo, type SessionOptions } from 'openssl-dtls';

export function start(send: SessionOptions['send']): Promise<HandshakeInfo> {
  const same: typeof DtlsSession = dtls.DtlsSession;
  return new same({ role: 'client', context: dtls.createSecureContext(), send }).handshake();
}
