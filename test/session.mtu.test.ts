// MTU: a large RSA-4096 chain must be fragmented so that no handshake datagram exceeds the session's mtu,
// mtu validation, and maxPayload.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';

import { DtlsSession, type SessionOptions } from '../lib/index.js';
import { rsa4096Chain, rsa4096Root } from './support/fixtures';
import { describeDatagram, HandshakeType, handshakeTypes, parseRecords } from './support/lossy-link';
import { makePair, nextEvent, withPair } from './support/pair';


function derLength(pem: string): number {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.reduce((n, b) => n + new X509Certificate(b).raw.length, 0);
}

function assertAllWithin(list: Buffer[], mtu: number, who: string): void {
  assert.ok(list.length > 0, `${who} sent nothing`);
  list.forEach((d, i) => {
    assert.ok(d.length <= mtu, `${who} datagram ${i} is ${d.length} bytes > mtu ${mtu}: ${describeDatagram(d)}`);
    // Every datagram is whole DTLS records (the BIO never cuts a record).
    const records = parseRecords(d);
    assert.ok(records.length > 0, `${who} datagram ${i}: ${describeDatagram(d)}`);
    assert.ok(records.every((r) => !r.truncated), `${who} datagram ${i} has a truncated record: ${describeDatagram(d)}`);
    assert.equal(records.reduce((n, r) => n + 13 + r.length, 0), d.length, `${who} datagram ${i} has trailing bytes`);
  });
}

function certificateDatagrams(list: Buffer[]): number {
  return list.filter((d) => handshakeTypes(d).includes(HandshakeType.Certificate)).length;
}

test('the RSA-4096 chain fixture is leaf + intermediate, > 3 KB, for CN/SAN localhost', () => {
  const { cert } = rsa4096Chain();
  assert.equal((cert.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2);
  assert.ok(derLength(cert) > 3072, `chain is ${derLength(cert)} bytes DER`);
  const leaf = new X509Certificate(cert);
  assert.equal(leaf.checkHost('localhost'), 'localhost');
});

for (const mtu of [256, 576, 1200]) {
  test(`mtu ${mtu}: the RSA-4096 chain handshake completes, verified, and no datagram exceeds ${mtu} bytes`, async () => {
    await withPair(
      {
        server: { ...rsa4096Chain(), mtu },
        client: { mtu, rejectUnauthorized: true, ca: rsa4096Root(), servername: 'localhost' },
      },
      async (p) => {
        const [ci, si] = await p.handshake();
        assert.equal(ci.protocol, 'DTLSv1.2');
        assert.ok(ci.cipher.name.startsWith('ECDHE-RSA-'), ci.cipher.name);
        // Verified against the root through the intermediate the server sent.
        assert.deepEqual(ci.verifyResult, { code: 0, message: 'ok' });
        assert.equal(ci.peerCertificate?.fingerprint256, new X509Certificate(rsa4096Chain().cert).fingerprint256);

        assertAllWithin(p.clientOut, mtu, 'client');
        assertAllWithin(p.serverOut, mtu, 'server');
        // The server's Certificate message (> 3 KB) went out in fragments over several datagrams.
        const n = certificateDatagrams(p.serverOut);
        assert.ok(n >= Math.ceil(derLength(rsa4096Chain().cert) / mtu), `only ${n} datagrams carry Certificate fragments at mtu ${mtu}`);
        assert.ok(n > 1);
        // maxPayload: a full record fits one datagram of this mtu.
        assert.ok(ci.maxPayload > 0 && ci.maxPayload < mtu, `maxPayload ${ci.maxPayload}`);
        assert.equal(si.maxPayload, ci.maxPayload);
        assert.equal(p.client.getStats().retransmits, 0);
        assert.equal(p.server.getStats().retransmits, 0);

        // Data still flows at this mtu.
        const got = nextEvent<Buffer>(p.server, 'message');
        p.client.send(Buffer.alloc(ci.maxPayload, 0x5a));
        assert.ok((await got).equals(Buffer.alloc(ci.maxPayload, 0x5a)));
        assert.ok(p.clientOut[p.clientOut.length - 1]!.length <= mtu);
      },
    );
  });
}

test('mtu sweep 256..400 (default ECDSA certificate, session tickets on): no datagram of either side exceeds the mtu', async () => {
  const over: string[] = [];
  for (let mtu = 256; mtu <= 400; mtu++) {
    await withPair({ server: { mtu }, client: { mtu } }, async (p) => {
      await p.handshake();
      for (const [who, out] of [['client', p.clientOut], ['server', p.serverOut]] as const) {
        for (const d of out) if (d.length > mtu) over.push(`mtu ${mtu}: ${who} sent ${d.length} bytes (${describeDatagram(d)})`);
      }
    });
  }
  assert.deepEqual(over, []);
});

test('mtu 576 with mutual auth: both sides present the RSA-4096 chain, every datagram <= 576', async () => {
  const mtu = 576;
  await withPair(
    {
      server: { ...rsa4096Chain(), mtu, requestCert: true, rejectUnauthorized: true, ca: rsa4096Root() },
      client: { ...rsa4096Chain(), mtu, rejectUnauthorized: true, ca: rsa4096Root(), servername: 'localhost' },
    },
    async (p) => {
      const [ci, si] = await p.handshake();
      assert.deepEqual(ci.verifyResult, { code: 0, message: 'ok' });
      assert.deepEqual(si.verifyResult, { code: 0, message: 'ok' });
      const leaf = new X509Certificate(rsa4096Chain().cert).fingerprint256;
      assert.equal(ci.peerCertificate?.fingerprint256, leaf);
      assert.equal(si.peerCertificate?.fingerprint256, leaf);
      assertAllWithin(p.clientOut, mtu, 'client');
      assertAllWithin(p.serverOut, mtu, 'server');
      assert.ok(certificateDatagrams(p.serverOut) > 1);
      assert.ok(certificateDatagrams(p.clientOut) > 1, 'the client Certificate was not fragmented');
    },
  );
});

test('mtu validation: out of range and wrong types are rejected with Node-style errors', () => {
  const base = { role: 'client', send: () => {}, rejectUnauthorized: false } as const;
  const cases: Array<[unknown, string, new (...a: never[]) => Error]> = [
    [255, 'ERR_OUT_OF_RANGE', RangeError],
    [65508, 'ERR_OUT_OF_RANGE', RangeError],
    [1.5, 'ERR_OUT_OF_RANGE', RangeError],
    [0, 'ERR_OUT_OF_RANGE', RangeError],
    [-1200, 'ERR_OUT_OF_RANGE', RangeError],
    [Number.NaN, 'ERR_OUT_OF_RANGE', RangeError],
    ['1200', 'ERR_INVALID_ARG_TYPE', TypeError],
    [1200n, 'ERR_INVALID_ARG_TYPE', TypeError],
  ];
  for (const [mtu, code, type] of cases) {
    assert.throws(
      () => new DtlsSession({ ...base, mtu } as unknown as SessionOptions),
      (err: unknown) => {
        assert.ok(err instanceof type, `mtu ${String(mtu)}: ${String(err)}`);
        assert.equal((err as { code?: string }).code, code, `mtu ${String(mtu)}`);
        return true;
      },
    );
  }
  // The bounds themselves are accepted.
  for (const mtu of [256, 65507]) new DtlsSession({ ...base, mtu }).destroy();
});

test('maxPayload at mtu 576 is in (500, 576), and a maxPayload record is one datagram <= 576', async () => {
  const mtu = 576;
  await withPair({ client: { mtu }, server: { mtu } }, async (p) => {
    const [ci, si] = await p.handshake();
    assert.ok(ci.maxPayload < mtu && ci.maxPayload > 500, `maxPayload ${ci.maxPayload}`);
    assert.equal(si.maxPayload, ci.maxPayload);
    assert.equal(p.client.maxPayload, ci.maxPayload);
    for (const [from, to, out] of [[p.client, p.server, p.clientOut], [p.server, p.client, p.serverOut]] as const) {
      const before = out.length;
      const got = nextEvent<Buffer>(to, 'message');
      const data = Buffer.alloc(ci.maxPayload, 0xa5);
      from.send(data);
      assert.equal(out.length, before + 1, 'one send, one datagram');
      const d = out[out.length - 1]!;
      assert.ok(d.length <= mtu, `${d.length} bytes`);
      // maxPayload is the most that fits: the record fills the datagram exactly.
      assert.equal(d.length, mtu, `a maxPayload record is ${d.length} bytes at mtu ${mtu}`);
      assert.ok((await got).equals(data));
    }
  });
});
