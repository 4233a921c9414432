// The flight recorder beyond messages (fragments, retransmissions, encrypted records, the negotiated
// parameters), the keylogFile option, and NODE_DEBUG=dtls.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { createSecureContext, DtlsSession, type TimelineEvent } from '../lib/index.js';
import { datedCertificate } from '../lib/faults.js';
import { ecPair, rsa4096Chain } from './support/fixtures';
import { makePair, withPair } from './support/pair';

type Of<T extends TimelineEvent['type']> = Extract<TimelineEvent, { type: T }>;
const only = <T extends TimelineEvent['type']>(tl: TimelineEvent[], type: T): Array<Of<T>> => tl.filter((e): e is Of<T> => e.type === type);

function tmpFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtls-diag-'));
  return path.join(dir, name);
}

test('fragments: a 4 KB Certificate at mtu 576 is recorded fragment by fragment on both sides, covering the message exactly', async () => {
  await withPair({ client: { mtu: 576 }, server: { ...rsa4096Chain(), mtu: 576 } }, async (p) => {
    await p.handshake();
    const sent = only(p.server.timeline(), 'fragment').filter((f) => f.direction === 'out' && f.message === 'Certificate');
    const got = only(p.client.timeline(), 'fragment').filter((f) => f.direction === 'in' && f.message === 'Certificate');
    assert.ok(sent.length >= 4, `${sent.length} fragments`);
    const msg = only(p.server.timeline(), 'message').find((m) => m.direction === 'out' && m.message === 'Certificate')!;
    // Contiguous from 0 to the message length, each fragment carrying the same message length and seq.
    let next = 0;
    for (const f of sent) {
      assert.equal(f.offset, next);
      assert.equal(f.messageLength, msg.length);
      assert.equal(f.seq, msg.seq);
      assert.ok(f.length + 12 + 13 <= 576, 'a fragment, its headers and the record header fit the mtu');
      next += f.length;
    }
    assert.equal(next, msg.length);
    assert.deepEqual(got.map((f) => [f.offset, f.length]), sent.map((f) => [f.offset, f.length]), 'the client saw the same fragments');
    // The reassembled message follows its last fragment on the receiving side.
    const tl = p.client.timeline();
    const lastFragment = tl.lastIndexOf(got[got.length - 1]!);
    const message = tl.findIndex((e) => e.type === 'message' && e.direction === 'in' && e.message === 'Certificate');
    assert.ok(message > lastFragment);
  });
});

test('retransmissions: a lost server flight — both timers resend, each resend is a retransmit event followed by the flight marked resent; stats agree', async () => {
  // The client's timer (50 ms) fires before the server's (100 ms): OpenSSL 3.0 ignores a repeated
  // ClientHello, so the server's own timer brings its flight back. How often each fires depends on timing;
  // what is asserted is how the recorder and the counters relate.
  await withPair({ link: { seed: 1, drop: (_d, index, dir) => dir === 'b->a' && index === 0 }, client: { retransmitTimeout: 50 } }, async (p) => {
    await p.handshake();
    const ct = p.client.timeline();
    const clientResends = only(ct, 'retransmit').length;
    assert.ok(clientResends >= 1);
    assert.equal(p.client.getStats().retransmits, clientResends);
    const hellos = only(ct, 'message').filter((m) => m.direction === 'out' && m.message === 'ClientHello');
    assert.equal(hellos.length, 1 + clientResends);
    assert.equal(hellos[0]!.retransmission, undefined);
    for (const h of hellos.slice(1)) {
      assert.equal(h.retransmission, true);
      assert.equal(h.seq, hellos[0]!.seq);
    }
    assert.ok(ct.indexOf(only(ct, 'retransmit')[0]!) < ct.indexOf(hellos[1]!));

    const st = p.server.timeline();
    const serverResends = only(st, 'retransmit').length;
    assert.ok(serverResends >= 1, 'the lost flight came back by the server timer');
    assert.equal(p.server.getStats().retransmits, serverResends);
    const resent = only(st, 'message').filter((m) => m.retransmission === true).map((m) => m.message);
    const flight = ['ServerHello', 'Certificate', 'ServerKeyExchange', 'ServerHelloDone'];
    assert.deepEqual(resent, Array.from({ length: serverResends }, () => flight).flat());
  });
});

test('encrypted records: the peer Finished shows as an epoch-1 record before it is decrypted; undecryptedRecords is 0 once it was', async () => {
  await withPair({}, async (p) => {
    await p.handshake();
    for (const s of [p.client, p.server]) {
      const tl = s.timeline();
      const rec = only(tl, 'record');
      assert.ok(rec.length >= 1);
      assert.deepEqual([rec[0]!.contentType, rec[0]!.epoch], ['handshake', 1]);
      const fin = tl.findIndex((e) => e.type === 'message' && e.direction === 'in' && e.message === 'Finished');
      assert.ok(tl.indexOf(rec[0]!) < fin);
      assert.equal(s.getStats().undecryptedRecords, 0);
    }
    // After the handshake, application data is not recorded record by record.
    const before = p.server.timeline().length;
    const got = new Promise((r) => p.server.once('message', r));
    p.client.send('x');
    await got;
    assert.equal(p.server.timeline().length, before);
  });
});

test("the 'negotiated' event: version, suite, EMS, ETM, resumption, verify result and the peer certificate's validity", async () => {
  const cbc = 'ECDHE-ECDSA-AES128-SHA';
  await withPair({ client: { ciphers: cbc }, server: { ciphers: cbc } }, async (p) => {
    const [c] = await p.handshake();
    const tl = p.client.timeline();
    const n = only(tl, 'negotiated');
    assert.equal(n.length, 1);
    const e = n[0]!;
    assert.equal(e.protocol, 'DTLSv1.2');
    assert.equal(e.cipher, cbc);
    assert.equal(e.extendedMasterSecret, true);
    assert.equal(e.encryptThenMac, true, 'CBC suites negotiate encrypt-then-MAC');
    assert.equal(e.resumed, false);
    assert.deepEqual(e.verifyResult, c.verifyResult);
    const cert = e.peerCertificate!;
    assert.equal(cert.subject, 'CN=ec.test');
    assert.equal(cert.fingerprint256, c.peerCertificate!.fingerprint256);
    assert.equal(cert.validTo, new Date(c.peerCertificate!.validTo).toISOString());
    assert.equal(cert.expired, false);
    assert.equal(cert.notYetValid, false);
    // Right before the state change to connected.
    const i = tl.indexOf(e);
    assert.deepEqual(tl[i + 1], { at: tl[i + 1]!.at, type: 'state', state: 'connected' });
    // The server saw no client certificate.
    assert.equal(only(p.server.timeline(), 'negotiated')[0]!.peerCertificate, undefined);
  });
  await withPair({ client: { extendedMasterSecret: false } }, async (p) => {
    await p.handshake();
    const e = only(p.client.timeline(), 'negotiated')[0]!;
    assert.equal(e.extendedMasterSecret, false);
    assert.equal(e.encryptThenMac, false, 'AES-GCM: no encrypt-then-MAC');
  });
});

test("the 'negotiated' event flags an expired peer certificate accepted without verification (the seed's case)", async () => {
  const dated = datedCertificate();
  await withPair({ server: dated }, async (p) => {
    const [c] = await p.handshake();
    assert.equal(c.verifyResult.code, 10, 'OpenSSL saw the expiry; rejectUnauthorized: false let it pass');
    const cert = only(p.client.timeline(), 'negotiated')[0]!.peerCertificate!;
    assert.equal(cert.expired, true);
    assert.equal(cert.validTo, '2020-02-01T00:00:00.000Z');
  });
});

test("'negotiated' on a resumed handshake says resumed: true", async () => {
  const serverCtx = createSecureContext(ecPair());
  const first = makePair({ server: { context: serverCtx } });
  let session: Buffer | undefined;
  try {
    await first.handshake();
    session = first.client.getSession();
  } finally {
    first.dispose();
  }
  assert.ok(session !== undefined);
  await withPair({ client: { session }, server: { context: serverCtx } }, async (p) => {
    const [c] = await p.handshake();
    assert.equal(c.resumed, true);
    assert.equal(only(p.client.timeline(), 'negotiated')[0]!.resumed, true);
    assert.equal(only(p.server.timeline(), 'negotiated')[0]!.resumed, true);
  });
});

test('keylogFile (session option): appends one CLIENT_RANDOM line per handshake, the same lines the keylog event gives', async () => {
  const file = tmpFile('keys.log');
  fs.writeFileSync(file, '# existing content stays\n');
  const events: string[] = [];
  await withPair({ client: { keylogFile: file } }, async (p) => {
    p.client.on('keylog', (l) => events.push(l.toString('latin1')));
    await p.handshake();
  });
  await withPair({ client: { keylogFile: file } }, async (p) => {
    // A keylog listener that comes and goes does not switch the file off.
    const f = () => undefined;
    p.client.on('keylog', f);
    p.client.off('keylog', f);
    await p.handshake();
  });
  const lines = fs.readFileSync(file, 'latin1').split('\n');
  assert.equal(lines[0], '# existing content stays');
  const keys = lines.filter((l) => l.startsWith('CLIENT_RANDOM '));
  assert.equal(keys.length, 2);
  for (const l of keys) assert.match(l, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/);
  assert.equal(`${keys[0]}\n`, events[0]);
  assert.notEqual(keys[0], keys[1]);
});

test('keylogFile (context option): every session on the context logs; a session option overrides it', async () => {
  const ctxFile = tmpFile('ctx.log');
  const own = tmpFile('own.log');
  const context = createSecureContext({ ...ecPair(), keylogFile: ctxFile });
  assert.equal(context.keylogFile, ctxFile);
  await withPair({ server: { context } }, (p) => p.handshake());
  await withPair({ server: { context, keylogFile: own } }, (p) => p.handshake());
  assert.equal(fs.readFileSync(ctxFile, 'latin1').split('\n').filter((l) => l.startsWith('CLIENT_RANDOM ')).length, 1);
  assert.equal(fs.readFileSync(own, 'latin1').split('\n').filter((l) => l.startsWith('CLIENT_RANDOM ')).length, 1);
});

test('keylogFile: a wrong type is ERR_INVALID_ARG_TYPE, an unwritable path fails at construction', () => {
  const send = () => undefined;
  assert.throws(() => new DtlsSession({ role: 'client', send, keylogFile: 42 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => createSecureContext({ keylogFile: {} as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new DtlsSession({ role: 'client', send, keylogFile: path.join(os.tmpdir(), 'no-such-dir-dtls', 'x', 'keys.log') }), { code: 'ENOENT' });
});

const DEBUG_SCRIPT = `
const { DtlsSession } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))});
const fs = require('fs');
const fx = (n) => fs.readFileSync(${JSON.stringify(path.join(__dirname, '..', 'test', 'fixtures'))} + '/' + n, 'utf8');
let c, s;
s = new DtlsSession({ role: 'server', cert: fx('ec-cert.pem'), key: fx('ec-key.pem'), send: (d) => setImmediate(() => c.receive(d)) });
c = new DtlsSession({ role: 'client', rejectUnauthorized: false, send: (d) => setImmediate(() => s.receive(d)) });
Promise.all([c.handshake(), s.handshake()]).then(async () => { await c.close(); s.destroy(); console.log('done'); });
`;

test('NODE_DEBUG=dtls prints every recorder event live on stderr; without it nothing is printed', () => {
  const on = spawnSync(process.execPath, ['-e', DEBUG_SCRIPT], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_DEBUG: 'dtls' } });
  assert.equal(on.status, 0, on.stderr);
  assert.equal(on.stdout.trim(), 'done');
  const lines = on.stderr.trim().split('\n');
  for (const l of lines) assert.match(l, /^DTLS \d+: (client|server)#\d+ \+\d+\.\d{3}ms /);
  const client = lines.filter((l) => / client#\d+ /.test(l)).map((l) => l.replace(/^.*?ms /, ''));
  assert.equal(client[0], 'state connecting');
  assert.equal(client[1], '--> ClientHello seq=0 len=138');
  assert.ok(client.includes('<-- ServerKeyExchange seq=2 len=109') || client.some((l) => /^<-- ServerKeyExchange seq=2 /.test(l)));
  assert.ok(client.some((l) => /^negotiated DTLSv1\.2 ECDHE-ECDSA-AES128-GCM-SHA256, EMS on, ETM off, verify 18 self-signed certificate, peer CN=ec\.test valid /.test(l)));
  assert.ok(client.includes('--> alert warning close_notify'));
  assert.equal(client[client.length - 1], 'state closed');
  // The same events as the timeline, one line each: the server's first line is its first fragment in.
  assert.ok(lines.some((l) => / server#\d+ .*<-- {3}fragment ClientHello seq=0 \[0, 138\) of 138$/.test(l)));

  const off = spawnSync(process.execPath, ['-e', DEBUG_SCRIPT], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_DEBUG: '' } });
  assert.equal(off.status, 0, off.stderr);
  assert.equal(off.stderr, '');
});
