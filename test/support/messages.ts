// Self-describing application messages for loss/duplication tests: each carries its tag and index and
// a body derived from them, so a receiver can tell corruption, duplicates and strangers apart.
import * as assert from 'node:assert/strict';

/** A self-describing message: "<tag>:<index>:" followed by bytes derived from (tag, index). */
export function message(tag: string, index: number): Buffer {
  const head = Buffer.from(`${tag}:${index}:`, 'latin1');
  const body = Buffer.alloc(1 + ((index * 37) % 700));
  for (let i = 0; i < body.length; i++) body[i] = (i * 13 + index * 29 + tag.length) & 0xff;
  return Buffer.concat([head, body]);
}

/** Checks that every received message is one of `count` sent by `tag`, intact, and none arrived twice. */
export function checkReceived(received: Buffer[], tag: string, count: number, label: string): void {
  const seen = new Set<number>();
  for (const m of received) {
    const text = m.subarray(0, 24).toString('latin1');
    const match = /^([a-z]+):(\d+):/.exec(text);
    assert.ok(match !== null && match[1] === tag, `${label}: unexpected message ${JSON.stringify(text)}`);
    const index = Number(match[2]);
    assert.ok(index >= 0 && index < count, `${label}: index ${index} was never sent`);
    assert.ok(m.equals(message(tag, index)), `${label}: message ${index} is corrupted`);
    assert.ok(!seen.has(index), `${label}: message ${index} was delivered twice`);
    seen.add(index);
  }
}

