// A deterministic in-memory datagram link for tests: loss, duplication, reordering and delay, driven by a
// seeded PRNG so that a run can be replayed. Independent of the DTLS library: it moves Buffers between two
// callbacks, and the helpers at the bottom parse DTLS record headers so tests can recognise flights.
//
//   const link = new LossyLink({ seed: 1, loss: 0.2 });
//   const toServer = link.endpoint('a->b', (d) => server.receive(d));
//   const toClient = link.endpoint('b->a', (d) => client.receive(d));
//   client = new DtlsSession({ role: 'client', send: toServer, ... });
//   ...
//   t.after(() => link.close());
//
// Determinism: each direction has its own PRNG stream (derived from `seed`), and every datagram consumes the
// same number of draws whatever happens to it, so the fate of the n-th datagram of a direction depends only
// on the seed and n (and on `drop`). With the default delay [0, 0] deliveries run in setImmediate FIFO order,
// so the delivered sequence is fully reproducible; with non-zero delays, timer ordering is up to Node.

export type Direction = 'a->b' | 'b->a';

export interface LinkOptions {
  seed: number;
  /** Probability that a datagram is lost. Default 0. */
  loss?: number;
  /** Probability that a (not lost) datagram is delivered twice. Default 0. */
  duplicate?: number;
  /** Probability that a datagram is held back and delivered after the next one of its direction. Default 0. */
  reorder?: number;
  /** Delivery delay range in ms, uniform in [min, max]. Default [0, 0] (setImmediate). */
  delayMs?: [number, number];
  /**
   * Longest time a reordered datagram waits for a successor before it is released anyway (so the last
   * datagram of a flight cannot be stuck until the peer retransmits). Default 100 ms; Infinity waits forever
   * (until the next datagram or close()).
   */
  reorderHoldMs?: number;
  /**
   * Targeted loss: return true to drop this datagram. `index` counts datagrams sent in `dir`, from 0
   * (retransmissions get new indices). Called before the random decisions; drop wins.
   */
  drop?: (dgram: Buffer, index: number, dir: Direction) => boolean;
}

export interface LinkStats {
  /** Datagrams handed to a send function (both directions). */
  sent: number;
  /** Deliveries made (a duplicated datagram counts twice). */
  delivered: number;
  /** Datagrams lost (random loss, `drop`, or sent after close()). */
  dropped: number;
  /** Extra copies scheduled. */
  duplicated: number;
  /** Datagrams held back to be delivered after their successor. */
  reordered: number;
}

/** mulberry32: a tiny 32-bit PRNG, good enough for test fault injection. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Pending = { kind: 'timeout'; handle: NodeJS.Timeout } | { kind: 'immediate'; handle: NodeJS.Immediate };

interface Held {
  dgram: Buffer;
  delay: number;
  deliver: (dgram: Buffer) => void;
  timer: Pending | undefined;
}

interface DirState {
  rng: () => number;
  index: number;
  held: Held | undefined;
}

function checkProbability(name: string, value: number | undefined): number {
  const v = value ?? 0;
  if (!(v >= 0 && v <= 1)) throw new RangeError(`LossyLink: ${name} must be within [0, 1], got ${String(value)}`);
  return v;
}

export class LossyLink {
  readonly stats: LinkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0 };

  readonly #loss: number;
  readonly #duplicate: number;
  readonly #reorder: number;
  readonly #delay: [number, number];
  readonly #holdMs: number;
  readonly #drop: LinkOptions['drop'];
  readonly #dirs: Record<Direction, DirState>;
  readonly #pending = new Set<Pending>();
  #closed = false;

  constructor(opts: LinkOptions) {
    if (!Number.isFinite(opts.seed)) throw new RangeError('LossyLink: seed must be a finite number');
    this.#loss = checkProbability('loss', opts.loss);
    this.#duplicate = checkProbability('duplicate', opts.duplicate);
    this.#reorder = checkProbability('reorder', opts.reorder);
    const [min, max] = opts.delayMs ?? [0, 0];
    if (!(min >= 0 && max >= min && Number.isFinite(max))) {
      throw new RangeError(`LossyLink: delayMs must be [min, max] with 0 <= min <= max, got [${min}, ${max}]`);
    }
    this.#delay = [min, max];
    this.#holdMs = opts.reorderHoldMs ?? 100;
    if (!(this.#holdMs >= 0)) throw new RangeError('LossyLink: reorderHoldMs must be >= 0');
    this.#drop = opts.drop;
    this.#dirs = {
      'a->b': { rng: mulberry32(opts.seed), index: 0, held: undefined },
      'b->a': { rng: mulberry32((opts.seed ^ 0x9e3779b9) >>> 0), index: 0, held: undefined },
    };
  }

  /** Timers/immediates scheduled and not yet run (deliveries plus reorder hold timers). */
  get pending(): number {
    return this.#pending.size;
  }

  /** Datagrams currently held back for reordering. */
  get held(): number {
    return (this.#dirs['a->b'].held ? 1 : 0) + (this.#dirs['b->a'].held ? 1 : 0);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The send function for one direction; what survives is passed to `deliver` asynchronously. */
  endpoint(dir: Direction, deliver: (dgram: Buffer) => void): (dgram: Buffer) => void {
    const state = this.#dirs[dir];
    if (state === undefined) throw new TypeError(`LossyLink: direction must be 'a->b' or 'b->a', got ${String(dir)}`);
    return (dgram: Buffer): void => this.#send(state, dir, dgram, deliver);
  }

  /** Cancels every pending delivery and hold timer and discards held datagrams. Later sends are dropped. */
  close(): void {
    this.#closed = true;
    for (const p of this.#pending) {
      if (p.kind === 'timeout') clearTimeout(p.handle);
      else clearImmediate(p.handle);
    }
    this.#pending.clear();
    for (const state of Object.values(this.#dirs)) state.held = undefined;
  }

  #send(state: DirState, dir: Direction, dgram: Buffer, deliver: (dgram: Buffer) => void): void {
    const index = state.index++;
    this.stats.sent++;
    // Always draw the same number of values so later datagrams' fates do not depend on earlier outcomes.
    const rLoss = state.rng();
    const rDup = state.rng();
    const rReorder = state.rng();
    const rDelay = state.rng();
    const rDupDelay = state.rng();

    if (this.#closed) {
      this.stats.dropped++;
      return;
    }
    const targeted = this.#drop !== undefined && this.#drop(dgram, index, dir);
    if (targeted || rLoss < this.#loss) {
      this.stats.dropped++;
      return;
    }
    const copy = Buffer.from(dgram); // the sender may reuse its buffer; each delivery gets its own copy below
    const delay = this.#pickDelay(rDelay);

    const held = state.held;
    if (held === undefined && rReorder < this.#reorder) {
      // Hold this one back; it goes out right after the next datagram of this direction.
      this.stats.reordered++;
      const h: Held = { dgram: copy, delay, deliver, timer: undefined };
      state.held = h;
      if (Number.isFinite(this.#holdMs)) {
        const entry: Pending = {
          kind: 'timeout',
          handle: setTimeout(() => {
            this.#pending.delete(entry);
            if (state.held === h) {
              state.held = undefined;
              this.#schedule(h.dgram, h.delay, h.deliver);
            }
          }, this.#holdMs),
        };
        h.timer = entry;
        this.#pending.add(entry);
      }
    } else {
      this.#schedule(copy, delay, deliver);
    }
    if (rDup < this.#duplicate) {
      this.stats.duplicated++;
      this.#schedule(Buffer.from(copy), this.#pickDelay(rDupDelay), deliver);
    }
    if (held !== undefined) {
      state.held = undefined;
      if (held.timer !== undefined && held.timer.kind === 'timeout') {
        clearTimeout(held.timer.handle);
        this.#pending.delete(held.timer);
      }
      this.#schedule(held.dgram, held.delay, held.deliver);
    }
  }

  #pickDelay(r: number): number {
    const [min, max] = this.#delay;
    return min + r * (max - min);
  }

  #schedule(dgram: Buffer, delay: number, deliver: (dgram: Buffer) => void): void {
    const run = (entry: Pending): void => {
      this.#pending.delete(entry);
      if (this.#closed) return;
      this.stats.delivered++;
      deliver(dgram);
    };
    if (delay <= 0) {
      const entry: Pending = { kind: 'immediate', handle: setImmediate(() => run(entry)) };
      this.#pending.add(entry);
    } else {
      const entry: Pending = { kind: 'timeout', handle: setTimeout(() => run(entry), delay) };
      this.#pending.add(entry);
    }
  }
}

// ------------------------------------------------------------------------------- DTLS record parsing

// The record and handshake type numbers: one table, the library's (src/mitm.ts).
import { ContentType, HandshakeType } from '../../lib/mitm.js';
export { ContentType, HandshakeType };

/** handshakeTypes() entry for a handshake record in epoch > 0 (encrypted: in DTLS 1.2, the Finished). */
export const ENCRYPTED_HANDSHAKE = -1;

const RECORD_HEADER = 13;
const HANDSHAKE_HEADER = 12;

export interface RecordInfo {
  type: number;
  version: number;
  epoch: number;
  /** 48-bit sequence number (fits a JS number exactly). */
  seq: number;
  length: number;
  /** The record body (a view into the datagram); shorter than `length` when the datagram is truncated. */
  body: Buffer;
  truncated: boolean;
}

/** Splits a datagram into DTLS records. Stops at the first incomplete header; never throws. */
export function parseRecords(dgram: Buffer): RecordInfo[] {
  const records: RecordInfo[] = [];
  let off = 0;
  while (off + RECORD_HEADER <= dgram.length) {
    const length = dgram.readUInt16BE(off + 11);
    const start = off + RECORD_HEADER;
    const end = Math.min(start + length, dgram.length);
    records.push({
      type: dgram[off]!,
      version: dgram.readUInt16BE(off + 1),
      epoch: dgram.readUInt16BE(off + 3),
      seq: dgram.readUIntBE(off + 5, 6),
      length,
      body: dgram.subarray(start, end),
      truncated: start + length > dgram.length,
    });
    off = start + length;
  }
  return records;
}

/** Content type of each record in the datagram (20 CCS, 21 alert, 22 handshake, 23 application data). */
export function recordTypes(dgram: Buffer): number[] {
  return parseRecords(dgram).map((r) => r.type);
}

/** Epoch of each record in the datagram. */
export function epochs(dgram: Buffer): number[] {
  return parseRecords(dgram).map((r) => r.epoch);
}

/**
 * Handshake message types in the datagram: for each epoch-0 handshake record, the msg_type of every
 * handshake message (fragment) it carries; for each handshake record in a later epoch, ENCRYPTED_HANDSHAKE.
 */
export function handshakeTypes(dgram: Buffer): number[] {
  const types: number[] = [];
  for (const r of parseRecords(dgram)) {
    if (r.type !== ContentType.Handshake) continue;
    if (r.epoch !== 0) {
      types.push(ENCRYPTED_HANDSHAKE);
      continue;
    }
    types.push(...messageTypes(r.body));
  }
  return types;
}

/** msg_type of each handshake message (fragment) in a plaintext handshake record body. */
function messageTypes(body: Buffer): number[] {
  const types: number[] = [];
  let off = 0;
  while (off < body.length) {
    types.push(body[off]!); // a message starts here, even if its header is cut short
    if (off + HANDSHAKE_HEADER > body.length) break;
    off += HANDSHAKE_HEADER + body.readUIntBE(off + 9, 3); // fragment_length
  }
  return types;
}

/** True when the datagram carries an epoch-0 handshake message of this type (e.g. HandshakeType.Certificate). */
export function hasHandshake(dgram: Buffer, type: number): boolean {
  return handshakeTypes(dgram).includes(type);
}

const contentNames: Record<number, string> = { 20: 'CCS', 21: 'Alert', 22: 'Handshake', 23: 'AppData' };
const handshakeNames: Record<number, string> = Object.fromEntries(
  Object.entries(HandshakeType).map(([name, value]) => [value, name]),
);

/** One-line description for test messages, e.g. "Handshake/e0[ClientHello] CCS/e0 Handshake/e1[encrypted]". */
export function describeDatagram(dgram: Buffer): string {
  const records = parseRecords(dgram);
  if (records.length === 0) return `(no DTLS record, ${dgram.length} bytes)`;
  return records
    .map((r) => {
      const name = contentNames[r.type] ?? `type${r.type}`;
      let text = `${name}/e${r.epoch}`;
      if (r.type === ContentType.Handshake) {
        text +=
          r.epoch !== 0
            ? '[encrypted]'
            : `[${messageTypes(r.body).map((t) => handshakeNames[t] ?? `hs${t}`).join(',')}]`;
      }
      return r.truncated ? text + '(truncated)' : text;
    })
    .join(' ');
}
