// The server's stateless front end: cookies bound to address and port with a rotating secret, and the
// records it builds (HelloVerifyRequest, a refusal alert) from a real ClientHello.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { DtlsSession } from '../lib/index.js';
import { CookieJar, helloVerifyRequest, parseClientHelloStart, plaintextAlert } from '../lib/stateless.js';
import { parseRecords } from './support/lossy-link';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function firstClientHello(): Buffer {
  let first: Buffer | undefined;
  const s = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => (first ??= d) });
  s.handshake().catch(() => {});
  s.destroy();
  return first!;
}

test('cookies verify for the same address and port only', () => {
  const jar = new CookieJar(60_000);
  const c = jar.make('192.0.2.1', 5684);
  assert.equal(c.length, 32);
  assert.equal(jar.verify(c, '192.0.2.1', 5684), true);
  assert.equal(jar.verify(c, '192.0.2.1', 5685), false);
  assert.equal(jar.verify(c, '192.0.2.2', 5684), false);
  assert.equal(jar.verify(Buffer.alloc(32), '192.0.2.1', 5684), false);
  assert.equal(jar.verify(c.subarray(0, 31), '192.0.2.1', 5684), false);
  assert.equal(new CookieJar(60_000).verify(c, '192.0.2.1', 5684), false, 'another server secret');
});

test('a rotated secret: cookies of the previous one still verify; two lifetimes later they do not', async () => {
  const jar = new CookieJar(100);
  const old = jar.make('198.51.100.7', 40000);
  await delay(130); // one rotation
  assert.equal(jar.verify(old, '198.51.100.7', 40000), true, 'grace period');
  const fresh = jar.make('198.51.100.7', 40000);
  assert.notDeepEqual(fresh, old, 'the new secret makes other cookies');
  await delay(130); // another rotation: `old` is two secrets back
  assert.equal(jar.verify(old, '198.51.100.7', 40000), false);
  assert.equal(jar.verify(fresh, '198.51.100.7', 40000), true);
  await delay(250); // more than two lifetimes idle: nothing old verifies
  assert.equal(jar.verify(fresh, '198.51.100.7', 40000), false);
});

test('parseClientHelloStart reads a real ClientHello; other records and cut ones are not ClientHellos', () => {
  const hello = firstClientHello();
  const h = parseClientHelloStart(hello);
  assert.ok(h !== undefined);
  assert.equal(h.messageSeq, 0);
  assert.equal(h.cookie.length, 0);
  assert.equal(h.complete, true);
  assert.equal(h.random.length, 32);
  for (let n = 0; n < 13 + 12 + 35; n++) assert.equal(parseClientHelloStart(hello.subarray(0, n)), undefined, `cut at ${n}`);
  const notHello = Buffer.from(hello);
  notHello[13] = 2; // ServerHello
  assert.equal(parseClientHelloStart(notHello), undefined);
  const epoch1 = Buffer.from(hello);
  epoch1[4] = 1;
  assert.equal(parseClientHelloStart(epoch1), undefined);
});

test('the HelloVerifyRequest and the refusal alert are well-formed records reusing the ClientHello record sequence', () => {
  const hello = parseClientHelloStart(firstClientHello())!;
  const cookie = Buffer.alloc(32, 0xab);
  const hvr = helloVerifyRequest(hello, cookie);
  const [rec] = parseRecords(hvr);
  assert.equal(rec?.type, 22);
  assert.equal(hvr.readUInt16BE(1), 0xfeff, 'DTLS 1.0 on the wire, as RFC 6347 4.2.1 recommends');
  assert.deepEqual(hvr.subarray(3, 11), hello.recordSeq);
  assert.equal(hvr[13], 3, 'HelloVerifyRequest');
  assert.equal(hvr.readUInt16BE(13 + 4), 0, 'message_seq 0');
  assert.deepEqual(hvr.subarray(hvr.length - 32), cookie);
  assert.equal(hvr.length, 13 + 12 + 3 + 32);
  const alert = plaintextAlert(hello, 80);
  assert.deepEqual([...alert.subarray(0, 3)], [21, 0xfe, 0xfd]);
  assert.deepEqual([...alert.subarray(11)], [0, 2, 2, 80]);
});
