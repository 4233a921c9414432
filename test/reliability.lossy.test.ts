// A bad network: 200 handshakes through a seeded lossy link (20% loss, 5% duplication, 10% reordering,
// delay jitter) with the default retransmission schedule and cookies on; application data is never
// delivered twice and never corrupted. Then each flight lost on its first transmission, one at a time.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { ContentType, handshakeTypes, recordTypes, HandshakeType, epochs, type Direction } from './support/lossy-link';
import { checkReceived, message } from './support/messages';
import { withPair } from './support/pair';

const PEER = { address: '192.0.2.7', port: 40000 };

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('200 handshakes at 20% loss + 5% duplication + 10% reordering + 0..20 ms jitter: at least 199 complete; data intact, never twice', { timeout: 120_000 }, async () => {
  const HANDSHAKES = 200;
  const MESSAGES = 20;
  const seeds = Array.from({ length: HANDSHAKES }, (_, i) => 7 + i * 104729);
  let completed = 0;
  let retransmits = 0;
  let duplicated = 0;
  let deliveredMessages = 0;
  const failures: string[] = [];
  const handshakeMs: number[] = [];
  // All at once: the slowest handshake (an unlucky seed doubling its timer several times) sets the pace.
  {
    await Promise.all(
      seeds.map((seed) =>
        withPair(
          {
            link: { seed, loss: 0.2, duplicate: 0.05, reorder: 0.1, delayMs: [0, 20] },
            client: { handshakeTimeout: 30_000 },
            server: { handshakeTimeout: 30_000, cookieExchange: true, peer: PEER },
          },
          async (p) => {
            try {
              await p.handshake();
            } catch (e) {
              failures.push(`seed ${seed}: ${(e as Error).message}`);
              return;
            }
            completed++;
            handshakeMs.push(p.client.getStats().handshakeMs ?? 0);
            const up: Buffer[] = [];
            const down: Buffer[] = [];
            p.server.on('message', (m) => up.push(m));
            p.client.on('message', (m) => down.push(m));
            for (let i = 0; i < MESSAGES; i++) {
              p.client.send(message('up', i));
              p.server.send(message('down', i));
            }
            // Bounded wait for the link to drain (jitter ≤ 20 ms, reorder hold ≤ 100 ms).
            for (let i = 0; i < 100 && (p.link!.pending > 0 || p.link!.held > 0); i++) await delay(10);
            checkReceived(up, 'up', MESSAGES, `seed ${seed} up`);
            checkReceived(down, 'down', MESSAGES, `seed ${seed} down`);
            deliveredMessages += up.length + down.length;
            retransmits += p.client.getStats().retransmits + p.server.getStats().retransmits;
            duplicated += p.link!.stats.duplicated;
          },
        ),
      ),
    );
  }
  handshakeMs.sort((a, b) => a - b);
  const pct = (q: number): string => (handshakeMs[Math.min(handshakeMs.length - 1, Math.floor(q * handshakeMs.length))] ?? 0).toFixed(0);
  console.log(`# lossy: handshake ms p50 ${pct(0.5)}, p90 ${pct(0.9)}, p99 ${pct(0.99)}, max ${pct(1)}`);
  console.log(`# lossy: ${completed}/${HANDSHAKES} handshakes, ${retransmits} retransmitted flights, ${duplicated} duplicated datagrams, ${deliveredMessages}/${completed * 2 * MESSAGES} messages delivered`);
  assert.ok(completed >= 199, `only ${completed}/${HANDSHAKES} completed:\n${failures.join('\n')}`);
  assert.ok(retransmits > HANDSHAKES, 'the link really lost flights');
  assert.ok(duplicated > 0, 'the link really duplicated datagrams (replay protection exercised)');
  // ~80% of messages survive 20% loss; far fewer would mean data lost after the handshake.
  assert.ok(deliveredMessages > completed * 2 * MESSAGES * 0.7, `delivered ${deliveredMessages}`);
});

type FlightMatcher = (d: Buffer, dir: Direction) => boolean;
const has = (d: Buffer, type: number): boolean => handshakeTypes(d).includes(type);
const flights: Array<[string, FlightMatcher]> = [
  ['the first ClientHello', (d, dir) => dir === 'a->b' && has(d, HandshakeType.ClientHello)],
  ['the HelloVerifyRequest', (d, dir) => dir === 'b->a' && has(d, HandshakeType.HelloVerifyRequest)],
  ['the ClientHello with the cookie', (d, dir) => dir === 'a->b' && has(d, HandshakeType.ClientHello)],
  ['the server flight (ServerHello … ServerHelloDone)', (d, dir) => dir === 'b->a' && epochs(d).every((e) => e === 0) && recordTypes(d).includes(ContentType.Handshake) && !has(d, HandshakeType.HelloVerifyRequest)],
  ['the client final flight (ClientKeyExchange, CCS, Finished)', (d, dir) => dir === 'a->b' && (has(d, HandshakeType.ClientKeyExchange) || epochs(d).includes(1))],
  ['the server final flight (NewSessionTicket, CCS, Finished)', (d, dir) => dir === 'b->a' && (has(d, HandshakeType.NewSessionTicket) || epochs(d).includes(1))],
];

for (const [name, matches] of flights) {
  test(`targeted loss: ${name} lost on its first transmission; the handshake completes`, { timeout: 20_000 }, async () => {
    // Which occurrence of a matching datagram is the flight's first transmission: the cookie
    // ClientHello is the second ClientHello on the wire.
    const wanted = name.includes('cookie') ? 2 : 1;
    let seen = 0;
    let dropped = 0;
    // A flight leaves in one step, synchronously: its datagrams are dropped until the next turn.
    let dropping = false;
    await withPair(
      {
        link: {
          seed: 1,
          drop: (d, _index, dir) => {
            if (!matches(d, dir)) return false;
            if (dropping) return (dropped++, true);
            if (dropped === 0 && ++seen === wanted) {
              dropping = true;
              dropped = 1;
              setImmediate(() => (dropping = false));
              return true;
            }
            return false;
          },
        },
        server: { cookieExchange: true, peer: PEER },
      },
      async (p) => {
        const [ci] = await p.handshake();
        assert.equal(ci.protocol, 'DTLSv1.2');
        assert.ok(dropped >= 1, 'the flight was dropped');
        const up: Buffer[] = [];
        p.server.on('message', (m) => up.push(m));
        p.client.send(message('up', 0));
        for (let i = 0; i < 100 && up.length === 0; i++) await delay(10);
        checkReceived(up, 'up', 1, name);
        assert.equal(up.length, 1);
      },
    );
  });
}
