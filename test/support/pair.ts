// Two in-process DtlsSessions wired through their send callbacks, either
// directly (delivery on setImmediate) or through a seeded LossyLink.
import { DtlsSession, type HandshakeInfo, type SessionOptions } from '../../lib/index.js';
import { ecPair } from './fixtures';
import { LossyLink, type LinkOptions } from './lossy-link';

export interface PairOptions {
  client?: Partial<SessionOptions>;
  server?: Partial<SessionOptions>;
  /** route datagrams through a LossyLink (client → server is 'a->b') */
  link?: LinkOptions;
  /** observe (and copy) every datagram: dir 'c->s' or 's->c' */
  tap?: (dgram: Buffer, dir: 'c->s' | 's->c') => void;
}

export interface Pair {
  client: DtlsSession;
  server: DtlsSession;
  link?: LossyLink;
  /** every datagram each side sent, in order */
  clientOut: Buffer[];
  serverOut: Buffer[];
  handshake(): Promise<[HandshakeInfo, HandshakeInfo]>;
  /** destroys both sessions and the link (no timers left behind) */
  dispose(): void;
}

export function makePair(opts: PairOptions = {}): Pair {
  const { cert, key } = ecPair();
  const clientOut: Buffer[] = [];
  const serverOut: Buffer[] = [];
  const link = opts.link !== undefined ? new LossyLink(opts.link) : undefined;
  let client!: DtlsSession;
  let server!: DtlsSession;
  const toServer = link !== undefined ? link.endpoint('a->b', (d) => server.receive(d)) : (d: Buffer) => setImmediate(() => server.receive(d));
  const toClient = link !== undefined ? link.endpoint('b->a', (d) => client.receive(d)) : (d: Buffer) => setImmediate(() => client.receive(d));
  client = new DtlsSession({
    role: 'client',
    rejectUnauthorized: false,
    ...opts.client,
    send: (d) => {
      clientOut.push(d);
      opts.tap?.(d, 'c->s');
      toServer(d);
    },
  } as SessionOptions);
  server = new DtlsSession({
    role: 'server',
    cert,
    key,
    ...opts.server,
    send: (d) => {
      serverOut.push(d);
      opts.tap?.(d, 's->c');
      toClient(d);
    },
  } as SessionOptions);
  return {
    client,
    server,
    link,
    clientOut,
    serverOut,
    handshake: () => Promise.all([client.handshake(), server.handshake()]),
    dispose: () => {
      link?.close();
      client.destroy();
      server.destroy();
    },
  };
}

/** Runs `fn` on a fresh pair and always disposes it. */
export async function withPair<T>(opts: PairOptions, fn: (p: Pair) => Promise<T>): Promise<T> {
  const p = makePair(opts);
  try {
    return await fn(p);
  } finally {
    p.dispose();
  }
}

/** Resolves with the next `event` emitted by `emitter`, rejecting after `ms`. */
export function nextEvent<T = unknown>(emitter: NodeJS.EventEmitter, event: string, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    const on = (v: T) => {
      clearTimeout(timer);
      resolve(v);
    };
    emitter.once(event, on);
  });
}
