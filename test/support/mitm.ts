// The man-in-the-middle harness for tests: the library's own record/handshake parser and targeted mutations
// (src/mitm.ts, which dtls-probe selftest uses too), wired between two in-process DtlsSessions.
//
//   const r = await runThroughMitm({
//     rules: [{ direction: 's->c', message: HandshakeType.ServerKeyExchange, mutate: flipLastByte }],
//   });
//   r.client.alerts, r.server.result, r.mitm.edits ...
//
// Deliveries run on setImmediate (as in support/pair.ts), so a step never re-enters the peer synchronously.
import { DtlsSession, type DtlsAlert, type DtlsError, type HandshakeInfo, type SessionOptions, type SessionStats, type TimelineEvent } from '../../lib/index.js';
import { Mitm, type MitmRule } from '../../lib/mitm.js';
import { ecPair } from './fixtures';
import { withTimeout } from './peers';

export * from '../../lib/mitm.js';

export interface MitmRunOptions {
  client?: Partial<SessionOptions>;
  server?: Partial<SessionOptions>;
  rules?: MitmRule[];
  /** both sides' handshakeTimeout (default 10 s); the whole run is bounded by it plus 2 s */
  handshakeTimeout?: number;
  /** called with each session before the handshake starts (to add listeners) */
  onClient?: (session: DtlsSession) => void;
  onServer?: (session: DtlsSession) => void;
}

export interface SideResult {
  result: PromiseSettledResult<HandshakeInfo>;
  alerts: DtlsAlert[];
  errors: DtlsError[];
  state: string;
  stats: SessionStats;
  timeline: TimelineEvent[];
}

/** A fast, fixed retransmission schedule: OpenSSL's 12 retransmissions take ~0.3 s instead of ~30 s. */
export const FAST_RETRANSMIT: Partial<SessionOptions> = { retransmitTimeout: () => 20 };

/**
 * Runs one handshake between a fresh client and server (the server has ecPair() unless `server.cert` says
 * otherwise; the client does not verify unless told to) through a Mitm, and collects what each side saw.
 * Both sessions are destroyed before it returns.
 */
export async function runThroughMitm(opts: MitmRunOptions = {}): Promise<{ client: SideResult; server: SideResult; mitm: Mitm }> {
  const limit = opts.handshakeTimeout ?? 10_000;
  const mitm = new Mitm(opts.rules ?? []);
  let client!: DtlsSession;
  let server!: DtlsSession;
  let done = false;
  const deliver = (to: () => DtlsSession) => (d: Buffer) =>
    setImmediate(() => {
      if (!done) to().receive(d);
    });
  const toClient = deliver(() => client);
  const toServer = deliver(() => server);
  server = new DtlsSession({
    role: 'server',
    ...ecPair(),
    handshakeTimeout: limit,
    ...opts.server,
    send: (d) => {
      for (const x of mitm.process(d, 's->c')) toClient(x);
    },
  } as SessionOptions);
  client = new DtlsSession({
    role: 'client',
    rejectUnauthorized: false,
    handshakeTimeout: limit,
    ...opts.client,
    send: (d) => {
      for (const x of mitm.process(d, 'c->s')) toServer(x);
    },
  } as SessionOptions);
  const seen = {
    client: { alerts: [] as DtlsAlert[], errors: [] as DtlsError[] },
    server: { alerts: [] as DtlsAlert[], errors: [] as DtlsError[] },
  };
  client.on('alert', (a) => seen.client.alerts.push(a));
  server.on('alert', (a) => seen.server.alerts.push(a));
  client.on('error', (e) => seen.client.errors.push(e));
  server.on('error', (e) => seen.server.errors.push(e));
  opts.onClient?.(client);
  opts.onServer?.(server);
  try {
    const [c, s] = await Promise.allSettled([
      withTimeout(client.handshake(), limit + 2000, 'client handshake'),
      withTimeout(server.handshake(), limit + 2000, 'server handshake'),
    ]);
    const side = (session: DtlsSession, result: PromiseSettledResult<HandshakeInfo>, s2: typeof seen.client): SideResult => ({
      result,
      ...s2,
      state: session.state,
      stats: session.getStats(),
      timeline: session.timeline(),
    });
    return { client: side(client, c, seen.client), server: side(server, s, seen.server), mitm };
  } finally {
    done = true;
    client.destroy();
    server.destroy();
  }
}
