// Loss, duplication and reordering: handshakes complete through retransmission, application data is never
// duplicated (replay protection), lost flights are resent, the retransmission timer stops once connected, and
// both handshake deadlines (ours and OpenSSL's retransmission limit) fail the session with coded errors.
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';

import { DtlsError, DtlsSession, type HandshakeInfo } from '../lib/index.js';
import {
  ContentType,
  describeDatagram,
  ENCRYPTED_HANDSHAKE,
  epochs,
  handshakeTypes,
  recordTypes,
  type LossyLink,
} from './support/lossy-link';
import { makePair, withPair } from './support/pair';
import { withTimeout } from './support/peers';
import { checkReceived, message } from './support/messages';


const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


/** Waits until the link has nothing in flight (no pending delivery, nothing held back); bounded. */
async function drained(link: LossyLink, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (link.pending > 0 || link.held > 0) {
    if (Date.now() > deadline) throw new Error(`link not drained after ${ms} ms: ${link.pending} pending, ${link.held} held`);
    await delay(5);
  }
}

function timeoutResources(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** The server datagrams that carry an epoch-1 record (its final flight: ChangeCipherSpec + encrypted Finished). */
function finalFlightDatagrams(out: Buffer[]): Buffer[] {
  return out.filter((d) => epochs(d).some((e) => e >= 1) && handshakeTypes(d).includes(ENCRYPTED_HANDSHAKE));
}

// The retransmission-limit test waits for OpenSSL's 13 timeouts (20, 40, then 80 ms each: about 1 s), so it runs
// concurrently with the rest of the file.
describe('DTLS over a lossy link', { concurrency: 2 }, () => {
  test("OpenSSL's retransmission limit (all datagrams dropped, handshakeTimeout 60000) -> ERR_DTLS_HANDSHAKE_TIMEOUT from dtls1_check_timeout_num", async () => {
    let sent = 0;
    const client = new DtlsSession({
      role: 'client',
      rejectUnauthorized: false,
      retransmitTimeout: (prev) => (prev === 0 ? 20 : Math.min(prev * 2, 80)),
      handshakeTimeout: 60000,
      send: () => {
        sent++;
      },
    });
    try {
      const err = await withTimeout(client.handshake().then(
        () => assert.fail('the handshake completed without a peer'),
        (e: unknown) => e,
      ), 40000, 'the retransmission limit');
      assert.ok(err instanceof DtlsError, String(err));
      assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
      const last = err.opensslErrors[err.opensslErrors.length - 1];
      assert.ok(last !== undefined, 'opensslErrors is empty');
      assert.equal(last.library, 'SSL routines');
      assert.equal(last.function, 'dtls1_check_timeout_num');
      assert.equal(last.reason, 'read timeout expired');
      assert.equal(client.state, 'failed');
      // The first ClientHello and 12 retransmissions.
      assert.equal(sent, 13);
    } finally {
      client.destroy();
    }
  });

  describe('sequential', { concurrency: 1 }, () => {
    test('the retransmission timer stops after the handshake: no datagram and no session timer while idle', async () => {
      const before = timeoutResources();
      await withPair({}, async (p) => {
        await p.handshake();
        // Both timers of each session (retransmission and handshake deadline) are gone.
        assert.equal(timeoutResources(), before, process.getActiveResourcesInfo().join(','));
        const c = p.clientOut.length;
        const s = p.serverOut.length;
        await delay(400);
        assert.equal(p.clientOut.length, c, 'the client sent datagrams while idle');
        assert.equal(p.serverOut.length, s, 'the server sent datagrams while idle');
        assert.equal(timeoutResources(), before);
        assert.equal(p.client.getStats().retransmits, 0);
        assert.equal(p.server.getStats().retransmits, 0);
      });
      assert.equal(timeoutResources(), before);
    });

    test('20 handshakes at 20% loss, 5% duplication, 10% reordering complete; data is never duplicated', async () => {
      const SEEDS = Array.from({ length: 20 }, (_, i) => 1000 + i * 7919);
      const N = 50;
      const results = await Promise.all(
        SEEDS.map((seed) =>
          withPair(
            {
              link: { seed, loss: 0.2, duplicate: 0.05, reorder: 0.1 },
              client: { retransmitTimeout: 50, handshakeTimeout: 20000 },
              server: { retransmitTimeout: 50, handshakeTimeout: 20000 },
            },
            async (p) => {
              const [ci, si] = await p.handshake();
              assert.equal(ci.protocol, 'DTLSv1.2', `seed ${seed}`);
              assert.equal(si.cipher.name, ci.cipher.name, `seed ${seed}`);
              const toServer: Buffer[] = [];
              const toClient: Buffer[] = [];
              p.server.on('message', (m) => toServer.push(m));
              p.client.on('message', (m) => toClient.push(m));
              for (let i = 0; i < N; i++) {
                p.client.send(message('up', i));
                p.server.send(message('down', i));
              }
              await drained(p.link!);
              checkReceived(toServer, 'up', N, `seed ${seed} client->server`);
              checkReceived(toClient, 'down', N, `seed ${seed} server->client`);
              const cs = p.client.getStats();
              const ss = p.server.getStats();
              assert.equal(ss.messagesIn, toServer.length, `seed ${seed}`);
              assert.equal(cs.messagesIn, toClient.length, `seed ${seed}`);
              assert.equal(cs.messagesOut, N);
              assert.equal(ss.messagesOut, N);
              return {
                seed,
                retransmits: cs.retransmits + ss.retransmits,
                delivered: [toServer.length, toClient.length],
                duplicated: p.link!.stats.duplicated,
              };
            },
          ),
        ),
      );
      const retransmits = results.reduce((n, r) => n + r.retransmits, 0);
      assert.ok(retransmits > 0, `no retransmission in ${results.length} lossy handshakes`);
      // The link did duplicate datagrams (so replay protection was exercised) and most data got through.
      assert.ok(results.reduce((n, r) => n + r.duplicated, 0) > 0);
      const delivered = results.reduce((n, r) => n + r.delivered[0]! + r.delivered[1]!, 0);
      assert.ok(delivered > 0 && delivered <= SEEDS.length * 2 * N, `delivered ${delivered}`);
    });

    test("lost final flight: the client retransmits, and the connected server resends its epoch-1 flight", async () => {
      let dropped: Buffer | undefined;
      await withPair(
        {
          client: { retransmitTimeout: 50 },
          server: { retransmitTimeout: 50 },
          link: {
            seed: 1,
            drop: (d, _i, dir) => {
              if (dir === 'b->a' && dropped === undefined && epochs(d).some((e) => e >= 1)) {
                dropped = Buffer.from(d);
                return true;
              }
              return false;
            },
          },
        },
        async (p) => {
          let serverConnectedBeforeClient = false;
          p.server.once('secureConnect', () => {
            serverConnectedBeforeClient = p.client.state === 'connecting';
          });
          await withTimeout(p.handshake(), 10000, 'the handshake');
          assert.ok(dropped !== undefined, 'the server sent no epoch-1 datagram');
          assert.ok(recordTypes(dropped).includes(ContentType.ChangeCipherSpec), describeDatagram(dropped));
          assert.ok(serverConnectedBeforeClient, 'the server was not connected while the client waited');
          assert.ok(p.client.getStats().retransmits >= 1, `client retransmits ${p.client.getStats().retransmits}`);
          const finals = finalFlightDatagrams(p.serverOut);
          assert.equal(finals.length, 2, p.serverOut.map(describeDatagram).join(' | '));
          assert.ok(p.server.getStats().retransmits >= 1);
          // The client's retransmission repeated its own Finished.
          assert.ok(p.clientOut.filter((d) => handshakeTypes(d).includes(ENCRYPTED_HANDSHAKE)).length >= 2);
          // And the session works.
          const got = new Promise<Buffer>((resolve) => p.server.once('message', resolve));
          p.client.send('after the lost flight');
          assert.equal((await withTimeout(got, 5000, 'a message')).toString(), 'after the lost flight');
        },
      );
    });

    test('lost first ClientHello: the client retransmits it and the handshake completes', async () => {
      await withPair(
        { client: { retransmitTimeout: 50 }, link: { seed: 2, drop: (_d, i, dir) => dir === 'a->b' && i === 0 } },
        async (p) => {
          await withTimeout(p.handshake(), 10000, 'the handshake');
          assert.ok(p.client.getStats().retransmits >= 1);
          assert.ok(handshakeTypes(p.clientOut[0]!).includes(1));
          assert.ok(handshakeTypes(p.clientOut[1]!).includes(1), 'the second client datagram is not a ClientHello');
          assert.equal(p.link!.stats.dropped, 1);
        },
      );
    });

    test('retransmitTimeout as a function (prev === 0 ? 30 : prev * 2) with the first 2 client datagrams dropped', async () => {
      const calls: number[] = [];
      await withPair(
        {
          client: {
            retransmitTimeout: (prev: number) => {
              calls.push(prev);
              return prev === 0 ? 30 : prev * 2;
            },
          },
          link: { seed: 3, drop: (_d, i, dir) => dir === 'a->b' && i < 2 },
        },
        async (p) => {
          await withTimeout(p.handshake(), 10000, 'the handshake');
          assert.ok(p.client.getStats().retransmits >= 2, `client retransmits ${p.client.getStats().retransmits}`);
          assert.equal(calls[0], 0);
          assert.equal(calls[1], 30);
        },
      );
    });

    test('handshakeTimeout: a client whose datagrams go nowhere fails with ERR_DTLS_HANDSHAKE_TIMEOUT', async () => {
      const client = new DtlsSession({ role: 'client', rejectUnauthorized: false, handshakeTimeout: 300, send: () => {} });
      try {
        const errors: DtlsError[] = [];
        client.on('error', (e) => errors.push(e));
        const closed = new Promise<void>((resolve) => client.once('close', resolve));
        const err = await withTimeout(client.handshake().then(
          (i: HandshakeInfo) => assert.fail(`connected to nobody: ${JSON.stringify(i.cipher)}`),
          (e: unknown) => e,
        ), 5000, 'the handshake timeout');
        assert.ok(err instanceof DtlsError);
        assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
        assert.equal(client.state, 'failed');
        await withTimeout(closed, 1000, "'close'");
        // A later handshake() call rejects with the same error.
        await assert.rejects(client.handshake(), (e: unknown) => e === err);
        assert.ok(errors.length <= 1);
      } finally {
        client.destroy();
      }
    });

    test("OpenSSL's retransmission limit with a constant 20 ms retransmitTimeout function -> ERR_DTLS_HANDSHAKE_TIMEOUT after 13 ClientHellos", async () => {
      // Below 15 ms OpenSSL's DTLSv1_get_timeout reports a timer as already expired and resends in a burst, so the
      // library refuses timeouts under 20 ms.
      assert.throws(
        () => new DtlsSession({ role: 'client', rejectUnauthorized: false, retransmitTimeout: () => 5, send: () => {} }),
        (e: unknown) => (e as { code?: string }).code === 'ERR_OUT_OF_RANGE',
      );
      let sent = 0;
      const client = new DtlsSession({
        role: 'client',
        rejectUnauthorized: false,
        retransmitTimeout: () => 20,
        handshakeTimeout: 60000,
        send: () => {
          sent++;
        },
      });
      try {
        const err = await withTimeout(client.handshake().then(
          () => assert.fail('connected to nobody'),
          (e: unknown) => e,
        ), 5000, 'the retransmission limit');
        assert.ok(err instanceof DtlsError);
        const last = err.opensslErrors[err.opensslErrors.length - 1];
        assert.equal(last?.function, 'dtls1_check_timeout_num');
        assert.equal(last?.reason, 'read timeout expired');
        assert.equal(sent, 13);
        assert.equal(err.code, 'ERR_DTLS_HANDSHAKE_TIMEOUT');
      } finally {
        client.destroy();
      }
    });
  });
});
