// Shared pieces of the interop tests against real peers (GnuTLS CLI, werift-dtls, node-dtls-client):
// bounded cleanup, event collection, listening a DtlsServer on 127.0.0.1, and a ClientHello parser that
// tells which cipher suites and extensions a peer offers.
import * as dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';

import type { DtlsServer } from '../../lib/index.js';
import { withTimeout } from './peers';

/**
 * Disposers run in reverse order of registration, each bounded in time; a failing or hanging disposer
 * does not keep the others from running. Call run() in `finally`.
 */
export class Cleanup {
  readonly #tasks: Array<{ label: string; fn: () => unknown }> = [];

  add(label: string, fn: () => unknown): void {
    this.#tasks.push({ label, fn });
  }

  async run(perTaskMs = 4000): Promise<void> {
    for (const { label, fn } of this.#tasks.splice(0).reverse()) {
      try {
        await withTimeout(Promise.resolve().then(fn), perTaskMs, `cleanup: ${label}`);
      } catch {
        // best effort: the next disposer still runs
      }
    }
  }
}

/** A udp4 socket bound to 127.0.0.1 (any port). */
export function bindLocal(): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const udp = dgram.createSocket('udp4');
    udp.once('error', reject);
    udp.bind(0, '127.0.0.1', () => {
      udp.off('error', reject);
      resolve(udp);
    });
  });
}

/** Binds the server on 127.0.0.1 (any free port) and resolves with the port. */
export function listenLocal(server: DtlsServer, ms = 5000): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', onError);
        resolve(server.address().port);
      });
    }),
    ms,
    'server.listen',
  );
}

/** Every emission of `event` (first argument), with a bounded wait for the n-th one. */
export interface Collector<T> {
  readonly items: T[];
  /** resolves once `count` items have arrived (at once if they already have); rejects after `ms` */
  waitFor(count: number, ms: number): Promise<T[]>;
}

export function collect<T>(emitter: EventEmitter, event: string): Collector<T> {
  const items: T[] = [];
  const waiters = new Set<() => void>();
  emitter.on(event, (v: T) => {
    items.push(v);
    for (const w of [...waiters]) w();
  });
  return {
    items,
    waitFor(count, ms) {
      return new Promise<T[]>((resolve, reject) => {
        const check = (): void => {
          if (items.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(items);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms} ms waiting for ${count} '${event}' events (got ${items.length})`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

/** Resolves once `predicate()` holds, re-checked on every `event` of `emitter`; rejects after `ms`. */
export function until(emitter: EventEmitter, event: string, predicate: () => boolean, ms: number, label: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!predicate()) return;
      emitter.off(event, check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      emitter.off(event, check);
      reject(new Error(`${label}: timed out after ${ms} ms`));
    }, ms);
    emitter.on(event, check);
    check();
  });
}

/** The last entry of the "SSL routines" library (the one our errors are classified by). */
export function lastSslEntry<E extends { library: string }>(entries: readonly E[]): E | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.library === 'SSL routines') return entries[i];
  return undefined;
}

// ------------------------------------------------------------------------------------- ClientHello

export interface ClientHelloOffer {
  cookie: Buffer;
  /** cipher suite ids in the client's order */
  suites: number[];
  /** extension types in the client's order */
  extensions: number[];
}

/**
 * Parses an unfragmented DTLS ClientHello at the start of a datagram. Returns undefined for anything
 * else (other records, fragments, truncated data).
 */
export function parseClientHello(d: Buffer): ClientHelloOffer | undefined {
  const REC = 13;
  const HS = 12;
  if (d.length < REC + HS || d[0] !== 22 || d[1] !== 0xfe) return undefined;
  const recLen = d.readUInt16BE(11);
  if (d[REC] !== 1 || REC + recLen > d.length) return undefined;
  const msgLen = d.readUIntBE(REC + 1, 3);
  const fragOff = d.readUIntBE(REC + 6, 3);
  const fragLen = d.readUIntBE(REC + 9, 3);
  if (fragOff !== 0 || fragLen !== msgLen || HS + msgLen > recLen) return undefined;
  const end = REC + HS + msgLen;
  let off = REC + HS + 2 + 32; // client_version, random
  const need = (n: number): boolean => off + n <= end;
  if (!need(1)) return undefined;
  off += 1 + d[off]!; // session_id
  if (!need(1)) return undefined;
  const cookieLen = d[off]!;
  if (!need(1 + cookieLen)) return undefined;
  const cookie = Buffer.from(d.subarray(off + 1, off + 1 + cookieLen));
  off += 1 + cookieLen;
  if (!need(2)) return undefined;
  const suitesLen = d.readUInt16BE(off);
  off += 2;
  if (!need(suitesLen) || suitesLen % 2 !== 0) return undefined;
  const suites: number[] = [];
  for (let i = 0; i < suitesLen; i += 2) suites.push(d.readUInt16BE(off + i));
  off += suitesLen;
  if (!need(1)) return undefined;
  off += 1 + d[off]!; // compression methods
  const extensions: number[] = [];
  if (off + 2 <= end) {
    const extEnd = off + 2 + d.readUInt16BE(off);
    off += 2;
    while (off + 4 <= extEnd && extEnd <= end) {
      extensions.push(d.readUInt16BE(off));
      off += 4 + d.readUInt16BE(off + 2);
    }
  }
  return { cookie, suites, extensions };
}

// IANA names of the suites the interop peers offer (RFC 4279, 5487, 6655, 5289).
const SUITE_NAMES: Record<number, string> = {
  0x008b: 'TLS_PSK_WITH_3DES_EDE_CBC_SHA',
  0x008c: 'TLS_PSK_WITH_AES_128_CBC_SHA',
  0x008d: 'TLS_PSK_WITH_AES_256_CBC_SHA',
  0x00a8: 'TLS_PSK_WITH_AES_128_GCM_SHA256',
  0x00a9: 'TLS_PSK_WITH_AES_256_GCM_SHA384',
  0x00ae: 'TLS_PSK_WITH_AES_128_CBC_SHA256',
  0x00af: 'TLS_PSK_WITH_AES_256_CBC_SHA384',
  0xc0a4: 'TLS_PSK_WITH_AES_128_CCM',
  0xc0a5: 'TLS_PSK_WITH_AES_256_CCM',
  0xc0a8: 'TLS_PSK_WITH_AES_128_CCM_8',
  0xc0a9: 'TLS_PSK_WITH_AES_256_CCM_8',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  0x00ff: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
};

/** IANA name of a cipher suite id, or its hex value when the table above does not know it. */
export function suiteName(id: number): string {
  return SUITE_NAMES[id] ?? `0x${id.toString(16).padStart(4, '0')}`;
}
