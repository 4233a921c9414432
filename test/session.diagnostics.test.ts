import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { explain, type OpenSSLErrorEntry } from '../lib/index.js';
import { makePair } from './support/pair';

test('keylog lines are NSS format, one per secret, and only while a listener is attached', async () => {
  const p = makePair();
  try {
    const clientLines: string[] = [];
    p.client.on('keylog', (line) => clientLines.push(line.toString('latin1')));
    await p.handshake();
    // TLS 1.2 logs one CLIENT_RANDOM line: 32-byte client random, 48-byte master secret.
    assert.equal(clientLines.length, 1);
    assert.match(clientLines[0]!, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}\n$/);
  } finally {
    p.dispose();
  }
  const q = makePair();
  try {
    let serverLines = 0;
    const onKeylog = () => serverLines++;
    q.server.on('keylog', onKeylog);
    q.server.off('keylog', onKeylog);
    await q.handshake();
    assert.equal(serverLines, 0);
  } finally {
    q.dispose();
  }
});

test('both sides log the same master secret', async () => {
  const p = makePair();
  try {
    const lines: Record<string, string> = {};
    p.client.on('keylog', (l) => (lines.client = l.toString()));
    p.server.on('keylog', (l) => (lines.server = l.toString()));
    await p.handshake();
    assert.ok(lines.client !== undefined && lines.server !== undefined);
    assert.equal(lines.client, lines.server);
  } finally {
    p.dispose();
  }
});

test('timeline() records the full handshake in order, with state changes', async () => {
  const p = makePair();
  try {
    await p.handshake();
    const out = (tl: ReturnType<typeof p.client.timeline>, dir: 'in' | 'out') =>
      tl.flatMap((e) => (e.type === 'message' && e.direction === dir ? [e.message] : []));
    const c = p.client.timeline();
    assert.deepEqual(out(c, 'out'), ['ClientHello', 'ClientKeyExchange', 'ChangeCipherSpec', 'Finished']);
    assert.deepEqual(out(c, 'in'), ['ServerHello', 'Certificate', 'ServerKeyExchange', 'ServerHelloDone', 'NewSessionTicket', 'ChangeCipherSpec', 'Finished']);
    const states = c.flatMap((e) => (e.type === 'state' ? [e.state] : []));
    assert.deepEqual(states, ['connecting', 'connected']);
    for (let i = 1; i < c.length; i++) assert.ok(c[i]!.at >= c[i - 1]!.at, 'timestamps are monotonic');
    const s = p.server.timeline();
    assert.deepEqual(out(s, 'in'), ['ClientHello', 'ClientKeyExchange', 'ChangeCipherSpec', 'Finished']);
    await p.client.close();
    // After close the recorder is still readable and shows the close.
    const after = p.client.timeline();
    assert.ok(after.some((e) => e.type === 'alert' && e.description === 'close_notify' && e.direction === 'sent'));
    assert.equal(after.at(-1)?.type, 'state');
  } finally {
    p.dispose();
  }
});

test('explain() gives an honest generic answer for a path it does not know', () => {
  const entry: OpenSSLErrorEntry = {
    code: 0x0a000123,
    library: 'SSL routines',
    reason: 'some new reason',
    reasonCode: 0x123,
    function: 'tls_some_future_function',
    file: '/build/x/ssl/statem/statem_new.c',
    line: 77,
  };
  const x = explain([entry]);
  assert.equal(x.path, 'tls_some_future_function');
  assert.match(x.summary, /some new reason/);
  assert.match(x.meaning, /ssl\/statem\/statem_new\.c:77/);
  assert.deepEqual(x.likelyCauses, []);
  assert.equal(explain([]).path, 'unknown');
});
