// The client side of bench/cases/storm.js: N DtlsSession clients, each on
// its own connected udp4 socket, all started in the same turn. Prints "start"
// just before the first ClientHello leaves, then one JSON line.
//   node bench/cases/storm-clients.js <certDir> <port> <N>
'use strict';

const dgram = require('node:dgram');

const { DtlsSession, createSecureContext } = require('../..');
const { readCert, emit, main } = require('../support/common');

const [certDir, portArg, nArg] = process.argv.slice(2);
const port = Number(portArg);
const n = Number(nArg);
const { cert } = readCert(certDir);

main(async () => {
  const context = createSecureContext({ ca: cert });
  const clients = [];
  for (let i = 0; i < n; i++) {
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
  process.stdout.write('start\n');
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
  emit({ connected: n - failed, failed, retransmits, seconds: secs });
});
