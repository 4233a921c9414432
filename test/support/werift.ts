// werift-dtls 0.5.8 (pure TypeScript DTLS 1.2, devDependency) as an interop peer. Facts from its lib/
// sources (its README does not match its API):
// - `require('werift-dtls')` throws (its `main` is not in the package): load lib/dtls/src/index.js.
// - DtlsClient / DtlsServer take { transport, cert?, key?, signatureHash?, extendedMasterSecret? }; the
//   transport is any object with { type, address, closed, onData, send(buf), close() } — here one that
//   sends to a single remote over a node:dgram socket, so datagrams are routed to one peer per object.
// - Events are werift `Event`s (subscribe), bridged here to an EventEmitter: 'connect', 'data', 'close'
//   (any received alert, close_notify included), 'werift-error'.
// - It offers and accepts TLS_ECDHE_ECDSA/RSA_WITH_AES_128_GCM_SHA256 only; it sends HelloVerifyRequest
//   as a server; close() sends no close_notify; flights are retransmitted on its own timers (0.5 s, 1 s…).
// - Its onClose on a received close_notify is unreliable (found here, ~1 in 15 closes): it first reads
//   the still-encrypted alert fragment as plaintext and decrypts only when the second byte is not a known
//   alert description; when it is, it sees a garbage "fatal" alert, throws internally and never reports
//   the close (record/receive.js parsePlainText). Tests check our close_notify on the wire instead
//   (UdpPeerTransport.received: an encrypted alert record arriving after the close).
import type * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type * as WeriftModule from 'werift-dtls/lib/dtls/src/index.js';

export type Werift = typeof WeriftModule;
export type WeriftSocket = InstanceType<Werift['DtlsClient']> | InstanceType<Werift['DtlsServer']>;

let cached: { mod: Werift | null; version: string | null } | undefined;

/** The werift-dtls module and its version, or nulls when it is not installed. */
export function loadWerift(): { mod: Werift | null; version: string | null } {
  if (cached !== undefined) return cached;
  try {
    const mod = require('werift-dtls/lib/dtls/src/index.js') as Werift;
    const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('werift-dtls/package.json')), 'package.json'), 'utf8')) as { version: string };
    cached = { mod, version: pkg.version };
  } catch {
    cached = { mod: null, version: null };
  }
  return cached;
}

/**
 * A werift Transport that talks to one remote through a dgram socket (shared or its own). It keeps
 * every datagram both ways and emits 'datagram' for each one that arrives.
 */
export class UdpPeerTransport extends EventEmitter {
  readonly type = 'udp';
  closed = false;
  onData: (data: Buffer, addr: readonly [string, number]) => void = () => {};
  /** every datagram werift sent, in order */
  readonly sent: Buffer[] = [];
  /** every datagram that arrived from the remote, in order */
  readonly received: Buffer[] = [];

  constructor(
    private readonly udp: dgram.Socket,
    readonly remote: { address: string; port: number },
    private readonly ownsSocket: boolean,
  ) {
    super();
  }

  get address() {
    return this.udp.address();
  }

  /** hands a datagram that arrived from the remote to werift */
  deliver(data: Buffer): void {
    if (this.closed) return;
    this.received.push(data);
    this.emit('datagram', data);
    this.onData(data, [this.remote.address, this.remote.port]);
  }

  readonly send = (data: Buffer): Promise<void> =>
    new Promise<void>((resolve) => {
      if (this.closed) {
        resolve();
        return;
      }
      this.sent.push(Buffer.from(data));
      this.udp.send(data, this.remote.port, this.remote.address, () => resolve());
    });

  readonly close = async (): Promise<void> => {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsSocket) await new Promise<void>((resolve) => this.udp.close(() => resolve()));
  };
}

/** werift's Event callbacks as EventEmitter events: 'connect', 'data', 'close', 'werift-error'. */
export function bridge(sock: WeriftSocket): EventEmitter {
  const ee = new EventEmitter();
  sock.onConnect.subscribe(() => ee.emit('connect'));
  sock.onData.subscribe((d: Buffer) => ee.emit('data', d));
  sock.onClose.subscribe(() => ee.emit('close'));
  sock.onError.subscribe((e: Error) => ee.emit('werift-error', e));
  return ee;
}

/** An alert record protected by the session keys (epoch ≥ 1): what close_notify looks like on the wire. */
export function isEncryptedAlert(datagram: Buffer): boolean {
  return datagram.length >= 13 && datagram[0] === 21 && datagram.readUInt16BE(3) >= 1;
}
