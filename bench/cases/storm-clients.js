// The client side of bench/cases/storm.js: first a warm-up storm of W
// clients (the server's code paths get compiled, as in a server that has
// been up for a while), then N DtlsSession clients, each on its own
// connected udp4 socket, all started in the same turn. Prints "start" just
// before the first ClientHello of the N leaves, then one JSON line.
//   node bench/cases/storm-clients.js <certDir> <port> <N> [W]
'use strict';

const dgram = require('node:dgram');

const { DtlsSession, createSecureContext } = require('../..');
const { readCert, emit, main } = require('../support/common');

const [certDir, portArg, nArg, warmArg] = process.argv.slice(2);
const port = Number(portArg);
const n = Number(nArg);
const warm = Number(warmArg ?? 0);
const { cert } = readCert(certDir);

async function storm(context, count, onReady) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    const socket = dgram.createSocket('udp4');
    await new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => socket.connect(port, '127.0.0.1', resolve));
    });
    const session = new DtlsSession({ role: 'client', context, handshakeTimeout: 60_000, send: (d) => socket.send(d) });
    socket.on('message', (d) => session.receive(d));
    session.on('error', () => {});
    clients.push({ socket, session });
  }
  onReady();
  const t0 = process.hrtime.bigint();
  const results = await Promise.allSettled(clients.map((c) => c.session.handshake()));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  let retransmits = 0;
  for (const c of clients) retransmits += c.session.getStats().retransmits;
  const failed = results.filter((r) => r.status === 'rejected').length;
  for (const c of clients) {
    await c.session.close();
    c.socket.close();
  }
  return { connected: count - failed, failed, retransmits, seconds: secs };
}

main(async () => {
  const context = createSecureContext({ ca: cert });
  if (warm > 0) await storm(context, warm, () => {});
  emit(await storm(context, n, () => process.stdout.write('start\n')));
});
