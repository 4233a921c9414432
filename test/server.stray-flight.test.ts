// End to end over UDP: a previous association's late final-flight retransmission reaches a new client that got
// the same UDP address and port. This was the rare "decrypt_error, digest check failed in tls_process_finished"
// failure of bench/cases/udp.js handshakes under load. A client in a full handshake now drops NewSessionTicket,
// ChangeCipherSpec and epoch-1 records that arrive before it has sent its own Finished (no server sends them
// before), so the stray flight is counted as dropped and the handshake completes. (A stray flight arriving in
// the round trip after our Finished cannot be told apart: test/session.stale-flight.test.ts.)
//
// How it happens: client A's retransmitted Finished (sent before A received the server's final flight, so it
// carries fresh record numbers) reaches the server late; A's server session, established, answers it by resending
// its final flight (NewSessionTicket message_seq 5, CCS, Finished at epoch 1) to A's address and port. A is gone and
// a new client B holds that port now. B's OpenSSL matches handshake messages by message_seq only: it buffers the stray
// NewSessionTicket as a future message, uses it when its own handshake reaches message_seq 5, and then rejects the
// real server Finished (its transcript holds the other session's ticket).
//
// The test injects A's late retransmission on the server's adopted socket after B has taken the port.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';

import { connect, createServer, type DtlsError } from '../lib/index.js';
import { ecPair } from './support/fixtures';
import { withTimeout } from './support/peers';
import { LOCALHOST } from './support/servers';

/** Record summaries of a datagram: 'hs<type>' for epoch-0 handshake records, '<content type>@e<epoch>' otherwise. */
function records(d: Buffer): string[] {
  const out: string[] = [];
  for (let o = 0; o + 13 <= d.length; o += 13 + d.readUInt16BE(o + 11)) {
    const epoch = d.readUInt16BE(o + 3);
    out.push(d[o] === 22 && epoch === 0 ? `hs${d[o + 13]}` : `${d[o]}@e${epoch}`);
  }
  return out;
}

async function bound(port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(port, LOCALHOST, resolve));
  return s;
}

type Send = (...args: unknown[]) => void;
const callbackOf = (args: unknown[]) => args.find((a) => typeof a === 'function') as ((e: Error | null) => void) | undefined;

test(
  'a new client on the port of a previous one survives that session\'s late final-flight retransmission',
  { timeout: 20_000 },
  async () => {
    const serverUdp = await bound(0);
    const port = serverUdp.address().port;
    const server = createServer({ ...ecPair(), socket: serverUdp, offloadHandshake: false });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(undefined, resolve));
    const a = await bound(0);
    const peerPort = a.address().port;
    let b: dgram.Socket | undefined;
    try {
      // Server -> A: lose the first final flight, so that A retransmits its Finished.
      let lost = false;
      const serverSend = serverUdp.send.bind(serverUdp) as Send;
      (serverUdp as unknown as { send: Send }).send = (...args) => {
        if (!lost && records(args[0] as Buffer).includes('20@e0')) {
          lost = true;
          process.nextTick(callbackOf(args) ?? (() => {}), null);
          return;
        }
        serverSend(...args);
      };
      // A -> server: hold A's first retransmitted Finished back (it will arrive "late"); let the next one through.
      let finished = 0;
      let late: Buffer | undefined;
      const aSend = a.send.bind(a) as Send;
      (a as unknown as { send: Send }).send = (...args) => {
        if (records(args[0] as Buffer).includes('22@e1') && ++finished === 2) {
          late = Buffer.from(args[0] as Buffer);
          process.nextTick(callbackOf(args) ?? (() => {}), null);
          return;
        }
        aSend(...args);
      };
      const first = connect({ host: LOCALHOST, port, socket: a, rejectUnauthorized: false });
      await withTimeout(new Promise((resolve, reject) => first.once('secureConnect', resolve).once('error', reject)), 5000, 'A connects');
      assert.ok(late !== undefined, 'A retransmitted its Finished');
      first.destroy();
      a.close();
      // B gets A's port; A's late retransmission reaches the server now.
      b = await bound(peerPort);
      const second = connect({ host: LOCALHOST, port, socket: b, rejectUnauthorized: false });
      serverUdp.emit('message', late, { address: LOCALHOST, family: 'IPv4', port: peerPort, size: late.length });
      const outcome = await withTimeout(
        new Promise<DtlsError | null>((resolve) => second.once('secureConnect', () => resolve(null)).once('error', resolve)),
        5000,
        'B settles',
      );
      second.destroy();
      assert.equal(outcome?.opensslErrors.map((e) => `${e.function}: ${e.reason}`).join(', ') ?? null, null);
    } finally {
      await server.close();
      serverUdp.close();
      b?.close();
    }
  },
);
