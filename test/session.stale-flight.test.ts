// A documented DTLS 1.2 limit, reproduced: a client handed another connection's late final flight (same
// server, its port reused a moment later) in the round trip after its own Finished takes that flight's
// epoch-0 NewSessionTicket as its own, and then rejects the real Finished: decrypt_error, "digest check
// failed" in tls_process_finished. (Before our Finished such a flight is dropped: server.stray-flight.test.ts.)
// The explanation names the cause.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { createSecureContext, DtlsError, DtlsSession, explain } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { HandshakeType, handshakeTypes } from './support/lossy-link';

const server = createSecureContext(ecPair());
const client = createSecureContext({ rejectUnauthorized: false });

/** A synchronous pair; `intercept` sees each server datagram before the client does. */
function run(intercept?: (d: Buffer, c: DtlsSession) => void): { c: DtlsSession; serverOut: Buffer[]; error?: DtlsError } {
  const queue: Array<() => void> = [];
  const serverOut: Buffer[] = [];
  const out: { c: DtlsSession; serverOut: Buffer[]; error?: DtlsError } = { c: undefined as never, serverOut };
  const c = new DtlsSession({ role: 'client', context: client, send: (d) => queue.push(() => s.receive(d)) });
  const s: DtlsSession = new DtlsSession({
    role: 'server',
    context: server,
    send: (d) => {
      serverOut.push(d);
      queue.push(() => {
        intercept?.(d, c);
        c.receive(d);
      });
    },
  });
  out.c = c;
  c.on('error', (e) => (out.error = e));
  s.on('error', () => {});
  c.handshake().catch(() => {});
  s.handshake().catch(() => {});
  for (let i = 0; i < 100 && queue.length > 0; i++) queue.shift()!();
  s.destroy();
  return out;
}

test("another connection's late final flight, taken first, fails the client's handshake with D4 (and says why)", () => {
  const first = run();
  assert.equal(first.c.state, 'connected');
  const staleFlight = first.serverOut.filter((d) => handshakeTypes(d).includes(HandshakeType.NewSessionTicket));
  assert.equal(staleFlight.length, 1);
  first.c.destroy();

  let injected = false;
  const second = run((d, c) => {
    if (!injected && handshakeTypes(d).includes(HandshakeType.NewSessionTicket)) {
      injected = true;
      for (const x of staleFlight) c.receive(x);
    }
  });
  assert.ok(injected);
  const err = second.error;
  assert.ok(err instanceof DtlsError);
  assert.equal(err.code, 'ERR_DTLS_ALERT_SENT');
  assert.equal(err.alert?.description, 'decrypt_error');
  assert.equal(err.alert?.negotiated.extendedMasterSecret, true);
  const last = err.opensslErrors[err.opensslErrors.length - 1];
  assert.equal(last?.function, 'tls_process_finished');
  assert.equal(last?.reason, 'digest check failed');
  const ex = explain(err);
  assert.equal(ex.path, 'tls_process_finished');
  assert.ok(ex.likelyCauses.some((c) => /NewSessionTicket/.test(c) && /port/.test(c)), 'the port-reuse cause is listed');
});
