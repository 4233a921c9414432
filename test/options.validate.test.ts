// Bad input throws Node-style errors (TypeError ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE, RangeError
// ERR_OUT_OF_RANGE) or a DtlsError carrying OpenSSL's entries, and never crashes the process; garbage
// datagrams are dropped without harming a session.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { createSecureContext, DtlsError, DtlsSession, fingerprint, type ContextOptions, type SessionOptions } from '../lib/index.js';
import { binding } from '../lib/binding.js';
import { caCert, clientPair, ecPair } from './support/fixtures';
import { mulberry32, parseRecords } from './support/lossy-link';
import { makePair, nextEvent } from './support/pair';

const send = (): void => {};
const TYPE = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
const VALUE = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };
const RANGE = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };

/** Constructs a client session with extra options; destroys it if construction unexpectedly succeeds. */
function session(extra: Record<string, unknown>): void {
  const s = new DtlsSession({ role: 'client', send, ...extra } as unknown as SessionOptions);
  s.destroy();
}

function context(options: unknown): void {
  createSecureContext(options as ContextOptions);
}

/** Context options go through both entry points: createSecureContext() and new DtlsSession(). */
function bothThrow(options: Record<string, unknown>, expected: { name: string; code: string }, what: string): void {
  assert.throws(() => context(options), expected, `createSecureContext: ${what}`);
  assert.throws(() => session(options), expected, `DtlsSession: ${what}`);
}

const fp256 = (): string => fingerprint(ecPair().cert);

// ------------------------------------------------------------------------------------ session options

test('options must be an object; role is required and must be client or server', () => {
  for (const bad of [undefined, null, 'client', 1, [] as unknown]) {
    assert.throws(() => new DtlsSession(bad as SessionOptions), TYPE, `options ${String(bad)}`);
  }
  assert.throws(() => new DtlsSession({ send } as unknown as SessionOptions), TYPE, 'role missing');
  assert.throws(() => session({ role: 'peer' }), VALUE, "role 'peer'");
  assert.throws(() => session({ role: 1 }), TYPE, 'role 1');
  assert.throws(() => session({ role: 'Client' }), VALUE, "role 'Client'");
});

test('send must be a function', () => {
  assert.throws(() => new DtlsSession({ role: 'client' } as SessionOptions), TYPE, 'send missing');
  assert.throws(() => session({ send: 'x' }), TYPE, "send 'x'");
  assert.throws(() => session({ send: {} }), TYPE, 'send {}');
});

test('mtu: an integer in 256..65507', () => {
  for (const bad of [0, -1, 255, 65508, 1e9]) assert.throws(() => session({ mtu: bad }), RANGE, `mtu ${bad}`);
  for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => session({ mtu: bad }), RANGE, `mtu ${bad}`);
  for (const bad of ['1200', {}, true]) assert.throws(() => session({ mtu: bad }), TYPE, `mtu ${String(bad)}`);
  for (const ok of [256, 1200, 65507]) assert.doesNotThrow(() => session({ mtu: ok }), `mtu ${ok}`);
});

/** Runs one handshake at `mtu` and returns a description of every datagram longer than `mtu`. */
async function datagramsOverMtu(mtu: number, withClientCert: boolean): Promise<string[]> {
  const p = makePair({
    client: { mtu, handshakeTimeout: 10_000, ...(withClientCert ? clientPair() : {}) },
    server: { mtu, handshakeTimeout: 10_000, ...(withClientCert ? { requestCert: true, rejectUnauthorized: false } : {}) },
  });
  try {
    const [c] = await p.handshake();
    assert.ok(c.maxPayload > 0 && c.maxPayload < mtu, `maxPayload ${c.maxPayload} for mtu ${mtu}`);
    return [...p.clientOut, ...p.serverOut]
      .filter((d) => d.length > mtu)
      .map((d) => `mtu ${mtu}${withClientCert ? ' (client cert)' : ''}: ${d.length} bytes = ${parseRecords(d).map((r) => `[type ${r.type} epoch ${r.epoch}: ${13 + r.length}]`).join(' ')}`);
  } finally {
    p.dispose();
  }
}

test('mtu: handshakes complete at the bounds and no handshake datagram exceeds the mtu', async () => {
  // DESIGN §3: "No handshake datagram may exceed the MTU." Besides the bounds, sweep small MTUs with a client
  // certificate: the flights then fill datagrams to the limit at many different offsets (whatever the fixture
  // sizes), which is where an underestimated record overhead shows.
  const over: string[] = [];
  for (const withClientCert of [false, true]) {
    for (const mtu of [256, 65507]) over.push(...(await datagramsOverMtu(mtu, withClientCert)));
  }
  for (let mtu = 257; mtu <= 400; mtu++) over.push(...(await datagramsOverMtu(mtu, true)));
  assert.deepEqual(over.slice(0, 8), [], `${over.length} datagrams over the mtu (first 8 shown)`);
});

test('handshakeTimeout: an integer number of ms >= 1', () => {
  for (const bad of [0, -1, 1.5, 2 ** 31]) assert.throws(() => session({ handshakeTimeout: bad }), RANGE, `handshakeTimeout ${bad}`);
  assert.throws(() => session({ handshakeTimeout: 'x' }), TYPE, "handshakeTimeout 'x'");
  assert.doesNotThrow(() => session({ handshakeTimeout: 1 }));
});

test('retransmitTimeout: a number in 20..60000 or a function returning one (growing schedules are capped at 60000)', () => {
  for (const bad of [0, 19, 70000, -5]) assert.throws(() => session({ retransmitTimeout: bad }), RANGE, `retransmitTimeout ${bad}`);
  assert.throws(() => session({ retransmitTimeout: 'x' }), TYPE, "retransmitTimeout 'x'");
  assert.throws(() => session({ retransmitTimeout: () => Number.NaN }), RANGE, 'function returning NaN');
  assert.throws(() => session({ retransmitTimeout: () => 0 }), RANGE, 'function returning 0');
  assert.throws(() => session({ retransmitTimeout: () => 10 }), RANGE, 'function returning 10 (OpenSSL treats < 15 ms as expired)');
  assert.throws(() => session({ retransmitTimeout: () => '100' }), TYPE, 'function returning a string');
  assert.doesNotThrow(() => session({ retransmitTimeout: () => 70000 }), 'a value above 60000 is capped');
  assert.doesNotThrow(() => session({ retransmitTimeout: (prev: number) => (prev === 0 ? 100 : prev * 10) }), 'a schedule that grows past 60000 is capped');
  assert.doesNotThrow(() => session({ retransmitTimeout: 50 }));
  assert.doesNotThrow(() => session({ retransmitTimeout: (prev: number) => Math.min(4000, prev === 0 ? 100 : prev * 2) }));
});

test('remoteFingerprints: an array of { algorithm, value } with a known algorithm and a hex value of the right length', () => {
  const good = fp256();
  const list = (fp: unknown): Record<string, unknown> => ({ remoteFingerprints: [fp] });
  assert.throws(() => session(list({ algorithm: 'md5', value: good })), VALUE, 'algorithm md5');
  assert.throws(() => session(list({ algorithm: 'SHA256', value: good })), VALUE, 'algorithm SHA256');
  assert.throws(() => session(list({ algorithm: 'sha-256', value: good.slice(0, -3) })), VALUE, 'one byte short');
  assert.throws(() => session(list({ algorithm: 'sha-384', value: good })), VALUE, 'a sha-256 value for sha-384');
  assert.throws(() => session(list({ algorithm: 'sha-256', value: 'ZZ' + good.slice(2) })), VALUE, 'not hex');
  assert.throws(() => session(list({ algorithm: 'sha-256', value: 42 })), TYPE, 'value of type number');
  assert.throws(() => session(list('AB:CD')), TYPE, 'entry not an object');
  assert.throws(() => session({ remoteFingerprints: { algorithm: 'sha-256', value: good } }), TYPE, 'not an array');
  assert.doesNotThrow(() => session(list({ algorithm: 'sha-256', value: good })));
  assert.doesNotThrow(() => session(list({ algorithm: 'sha-256', value: good.replace(/:/g, '') })), 'colons are optional');
});

test('peer, session, context, servername, signal, cookieExchange', () => {
  assert.throws(() => session({ peer: { address: '127.0.0.1', port: 70000 } }), RANGE, 'port 70000');
  assert.throws(() => session({ peer: { address: '127.0.0.1', port: -1 } }), RANGE, 'port -1');
  assert.throws(() => session({ peer: { address: '127.0.0.1', port: '5000' } }), TYPE, "port '5000'");
  assert.throws(() => session({ peer: { address: 127, port: 5000 } }), TYPE, 'address 127');
  assert.throws(() => session({ peer: '127.0.0.1:5000' }), TYPE, 'peer string');
  assert.throws(() => session({ session: 'abc' }), TYPE, 'session string');
  assert.throws(() => session({ context: {} }), TYPE, 'context {}');
  assert.throws(() => session({ context: binding.ContextHandle }), TYPE, 'context: a native class');
  assert.throws(() => session({ servername: 1 }), TYPE, 'servername 1');
  assert.throws(() => session({ signal: {} }), TYPE, 'signal {}');
  assert.throws(() => session({ role: 'server', cookieExchange: 'yes' }), TYPE, "cookieExchange 'yes'");
  assert.doesNotThrow(() => session({ peer: { address: '127.0.0.1', port: 65535 } }));
  assert.doesNotThrow(() => session({ context: createSecureContext({ rejectUnauthorized: false }) }));
});

// ------------------------------------------------------------------------------------ context options

test('createSecureContext: options must be an object (or omitted)', () => {
  for (const bad of [null, 'x', 1, [] as unknown]) assert.throws(() => context(bad), TYPE, `options ${String(bad)}`);
  assert.doesNotThrow(() => createSecureContext());
});

test('cert without key and key without cert: ERR_INVALID_ARG_VALUE', () => {
  const { cert, key } = ecPair();
  bothThrow({ cert }, VALUE, 'cert without key');
  bothThrow({ key }, VALUE, 'key without cert');
});

test('cert, key and ca of a wrong type: ERR_INVALID_ARG_TYPE', () => {
  const { cert, key } = ecPair();
  bothThrow({ cert: 1, key }, TYPE, 'cert of type number');
  bothThrow({ cert, key: {} }, TYPE, 'key {}');
  bothThrow({ ca: 1 }, TYPE, 'ca of type number');
  bothThrow({ ca: [caCert(), 1] }, TYPE, 'ca entry of type number');
  bothThrow({ passphrase: 1, cert, key }, TYPE, 'passphrase of type number');
});

test('a garbage PEM certificate: DtlsError ERR_OSSL_PEM_NO_START_LINE with the PEM entry', () => {
  const { key } = ecPair();
  for (const make of [() => context({ cert: 'garbage', key }), () => session({ cert: 'garbage', key })]) {
    let caught: unknown;
    try {
      make();
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof DtlsError, `expected a DtlsError, got ${String(caught)}`);
    assert.equal(caught.code, 'ERR_OSSL_PEM_NO_START_LINE');
    assert.equal(caught.library, 'PEM routines');
    assert.equal(caught.reason, 'no start line');
    assert.equal(caught.opensslErrors.length, 1);
    const [e] = caught.opensslErrors;
    assert.equal(e!.library, 'PEM routines');
    assert.equal(e!.reason, 'no start line');
    assert.equal(e!.function, 'get_name');
    assert.ok(e!.file.endsWith('crypto/pem/pem_lib.c'), e!.file);
    assert.equal(e!.data, 'Expecting: TRUSTED CERTIFICATE');
  }
});

test("minVersion / maxVersion 'TLSv1.2': ERR_INVALID_ARG_VALUE", () => {
  bothThrow({ minVersion: 'TLSv1.2' }, VALUE, "minVersion 'TLSv1.2'");
  bothThrow({ maxVersion: 'TLSv1.2' }, VALUE, "maxVersion 'TLSv1.2'");
  bothThrow({ minVersion: 12 }, TYPE, 'minVersion 12');
  assert.doesNotThrow(() => createSecureContext({ minVersion: 'DTLSv1', maxVersion: 'DTLSv1.2' }));
});

test('alpnProtocols: an array of 1..255-byte names', () => {
  bothThrow({ alpnProtocols: [''] }, RANGE, "alpnProtocols ['']");
  bothThrow({ alpnProtocols: ['x'.repeat(256)] }, RANGE, 'a 256-byte name');
  bothThrow({ alpnProtocols: 'h2' }, TYPE, "alpnProtocols 'h2'");
  bothThrow({ alpnProtocols: [1] }, TYPE, 'alpnProtocols [1]');
  assert.doesNotThrow(() => createSecureContext({ alpnProtocols: ['webrtc', Buffer.from('c-webrtc')] }));
});

test('booleans and strings of a wrong type', () => {
  bothThrow({ rejectUnauthorized: 'no' }, TYPE, "rejectUnauthorized 'no'");
  bothThrow({ requestCert: 1 }, TYPE, 'requestCert 1');
  bothThrow({ extendedMasterSecret: 'x' }, TYPE, "extendedMasterSecret 'x'");
  bothThrow({ ciphers: 1 }, TYPE, 'ciphers 1');
  bothThrow({ groups: ['P-256'] }, TYPE, 'groups array');
});

// ------------------------------------------------------------------------------------------- methods

test('receive() takes a Buffer, a Uint8Array or an array of them', () => {
  const s = new DtlsSession({ role: 'server', ...ecPair(), send });
  try {
    assert.throws(() => s.receive(123 as unknown as Buffer), TYPE, 'receive(123)');
    assert.throws(() => s.receive('x' as unknown as Buffer), TYPE, "receive('x')");
    assert.throws(() => s.receive([Buffer.alloc(13), 'x'] as unknown as Buffer[]), TYPE, "receive([Buffer, 'x'])");
    assert.throws(() => s.receive(null as unknown as Buffer), TYPE, 'receive(null)');
    // a rejected array is rejected as a whole: nothing of it was processed
    assert.equal(s.getStats().datagramsIn + s.getStats().dropped, 0);
    assert.equal(s.state, 'new');
  } finally {
    s.destroy();
  }
});

test('exportKeyingMaterial: ERR_DTLS_INVALID_STATE before connect, ERR_OUT_OF_RANGE for length 0', async () => {
  const p = makePair();
  try {
    assert.throws(() => p.client.exportKeyingMaterial(32, 'EXTRACTOR-test'), (err: unknown) => {
      assert.ok(err instanceof DtlsError, String(err));
      assert.equal(err.code, 'ERR_DTLS_INVALID_STATE');
      return true;
    });
    await p.handshake();
    assert.throws(() => p.client.exportKeyingMaterial(0, 'EXTRACTOR-test'), RANGE, 'length 0');
    assert.throws(() => p.client.exportKeyingMaterial(-1, 'EXTRACTOR-test'), RANGE, 'length -1');
    assert.throws(() => p.client.exportKeyingMaterial(1.5, 'EXTRACTOR-test'), RANGE, 'length 1.5');
    assert.throws(() => p.client.exportKeyingMaterial('32' as unknown as number, 'EXTRACTOR-test'), TYPE, "length '32'");
    assert.throws(() => p.client.exportKeyingMaterial(32, 1 as unknown as string), TYPE, 'label 1');
    assert.throws(() => p.client.exportKeyingMaterial(32, 'EXTRACTOR-test', 'ctx' as unknown as Buffer), TYPE, "context 'ctx'");
    const a = p.client.exportKeyingMaterial(32, 'EXTRACTOR-test');
    const b = p.server.exportKeyingMaterial(32, 'EXTRACTOR-test');
    assert.equal(a.length, 32);
    assert.ok(a.equals(b));
  } finally {
    p.dispose();
  }
});

test('the native layer rejects wrong types with an exception, never a crash', () => {
  const ctx = new binding.ContextHandle({});
  assert.throws(() => new (binding.ContextHandle as unknown as new () => unknown)(), TypeError);
  assert.throws(() => new binding.ContextHandle(1 as unknown as object), TypeError);
  assert.throws(() => new (binding.SessionHandle as unknown as new () => unknown)(), TypeError);
  assert.throws(() => new binding.SessionHandle({} as never, {} as never), TypeError);
  assert.throws(() => new binding.SessionHandle(ctx, { server: false, mtu: 1200, fingerprints: [1] } as never));
  assert.throws(() => new binding.SessionHandle(ctx, { server: false, mtu: 1200, fingerprints: [{ algorithm: 'SHA256', digest: 'x' }] } as never), TypeError);
  const h = new binding.SessionHandle(ctx, { server: true, mtu: 1200 } as never);
  const r = h.step([1, null, {}, 'x'] as never, [1, 'x'] as never, 0);
  assert.equal(r, undefined, 'nothing rare happened');
  assert.equal(binding.stepMeta[2], 0, 'no items');
  assert.equal(binding.stepMeta[1], -1, 'no timer');
  assert.equal(h.stats().dropped, 4, 'the four non-Buffer datagrams counted as dropped');
  h.destroy();
  h.destroy();
  assert.throws(() => h.step(null, null, 1), (e: unknown) => (e as { code?: string }).code === 'ERR_DTLS_INVALID_STATE');
});

// ------------------------------------------------------------------------------------ garbage datagrams

/** Does this datagram frame as whole DTLS records (what a session must at least check before OpenSSL)? */
function framesAsRecords(d: Buffer): boolean {
  if (d.length < 13) return false;
  let off = 0;
  while (off < d.length) {
    if (d.length - off < 13) return false;
    if (d[off]! < 20 || d[off]! > 25 || d[off + 1] !== 0xfe) return false;
    off += 13 + d.readUInt16BE(off + 11);
    if (off > d.length) return false;
  }
  return true;
}

/** Seeded garbage: random lengths 0..1500, every third one starting like a record (22, 0xFE), plus edge cases. */
function garbage(seed: number, n: number): Buffer[] {
  const rnd = mulberry32(seed);
  const out: Buffer[] = [Buffer.alloc(0), Buffer.from([22]), Buffer.from([22, 0xfe, 0xfd]), Buffer.alloc(12, 22)];
  // a 13-byte header that claims more body than there is
  const short = Buffer.alloc(20);
  short[0] = 22;
  short[1] = 0xfe;
  short[2] = 0xfd;
  short.writeUInt16BE(100, 11);
  out.push(short);
  while (out.length < n) {
    const len = Math.floor(rnd() * 1501);
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(rnd() * 256);
    if (out.length % 3 === 0 && len >= 2) {
      b[0] = 22;
      b[1] = 0xfe;
    }
    out.push(b);
  }
  return out;
}

/** Well-framed records with random contents in epochs >= 1: OpenSSL itself must drop them quietly. */
function framedGarbage(seed: number, n: number): Buffer[] {
  const rnd = mulberry32(seed);
  const out: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const len = Math.floor(rnd() * 200);
    const b = Buffer.alloc(13 + len);
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
    b[0] = 20 + Math.floor(rnd() * 4); // CCS, alert, handshake, application data
    b[1] = 0xfe;
    b[2] = 0xfd;
    b.writeUInt16BE(1 + Math.floor(rnd() * 1000), 3); // epoch >= 1: no keys for it yet / wrong keys
    b.writeUInt16BE(len, 11);
    out.push(b);
  }
  return out;
}

test('200 garbage datagrams to a new server session: no failure, dropped counts them, then a normal handshake completes', async () => {
  const p = makePair({ server: { handshakeTimeout: 10_000 }, client: { handshakeTimeout: 10_000 } });
  const errors: unknown[] = [];
  const alerts: unknown[] = [];
  p.server.on('error', (e) => errors.push(e));
  p.server.on('alert', (a) => alerts.push(a));
  try {
    const junk = garbage(20240601, 200);
    assert.equal(junk.length, 200);
    const implausible = junk.filter((d) => !framesAsRecords(d)).length;
    assert.ok(implausible > 150, `the generator makes mostly unframeable datagrams (${implausible})`);
    for (const d of junk) p.server.receive(d);
    const framed = framedGarbage(7, 50);
    for (const d of framed) p.server.receive(d);

    assert.notEqual(p.server.state, 'failed');
    assert.deepEqual(p.serverOut, [], 'garbage is never answered');
    const st = p.server.getStats();
    assert.ok(st.dropped > 0, 'dropped > 0');
    assert.ok(st.dropped >= implausible, `every unframeable datagram is dropped (${st.dropped} >= ${implausible})`);
    assert.equal(st.dropped + st.datagramsIn, junk.length + framed.length, 'every datagram is either counted in or dropped');

    const [c, s] = await p.handshake();
    assert.equal(c.protocol, 'DTLSv1.2');
    assert.equal(s.protocol, 'DTLSv1.2');
    const got = nextEvent<Buffer>(p.server, 'message');
    p.client.send('after the garbage');
    assert.equal((await got).toString(), 'after the garbage');
    assert.deepEqual(errors, []);
    assert.deepEqual(alerts, []);
  } finally {
    p.dispose();
  }
});

test('garbage to a connected session: no error, data still flows, dropped increases', async () => {
  const p = makePair();
  const errors: unknown[] = [];
  const alerts: unknown[] = [];
  for (const s of [p.client, p.server]) {
    s.on('error', (e) => errors.push(e));
    s.on('alert', (a) => alerts.push(a));
  }
  try {
    await p.handshake();
    const before = p.server.getStats();
    const junk = garbage(99, 200);
    const implausible = junk.filter((d) => !framesAsRecords(d)).length;
    for (const d of junk) p.server.receive(d);
    for (const d of framedGarbage(11, 100)) p.server.receive(d);
    const after = p.server.getStats();
    assert.ok(after.dropped - before.dropped >= implausible, `dropped grew by ${after.dropped - before.dropped}, expected >= ${implausible}`);
    assert.ok(after.dropped > before.dropped);
    assert.equal(after.messagesIn, before.messagesIn, 'no garbage was delivered as a message');
    assert.equal(p.server.state, 'connected');

    const toServer = nextEvent<Buffer>(p.server, 'message');
    p.client.send('still flows');
    assert.equal((await toServer).toString(), 'still flows');
    const toClient = nextEvent<Buffer>(p.client, 'message');
    p.server.send('both ways');
    assert.equal((await toClient).toString(), 'both ways');
    assert.deepEqual(errors, []);
    assert.deepEqual(alerts, []);
  } finally {
    p.dispose();
  }
});
