// The client side of bench/scale.js: `count` connect() sockets (one dgram
// socket each) to a server on 127.0.0.1, at most `concurrency` handshaking at
// a time; then, once told to, a keepalive message on every socket once per
// `periodMs`, spread evenly over the period (one timer for the whole process,
// not one per socket); the server echoes each one back.
//
// Driven by the parent over IPC:
//   parent → child  { go: 'keepalive' }      start sending
//   parent → child  { go: 'stop' }           stop, close every socket, report
//   child → parent  { connected, failed }    once every handshake has finished
//   child → parent  { report: {...} }        after 'stop'
//
//   node bench/cases/scale-clients.js <certDir> <port> <count> [concurrency=50] [periodMs=1000]
'use strict';

const { connect } = require('../..');
const { readCert } = require('../support/common');

const [certDir, portArg, countArg, concArg, periodArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const concurrency = Number(concArg ?? 50);
const periodMs = Number(periodArg ?? 1000);
const { cert } = readCert(certDir);
const TICK_MS = 10;

const sockets = [];
const errors = {};
let failed = 0;
let sent = 0;
let echoed = 0;
let closedEarly = 0;
let stopping = false;

function noteError(e) {
  const k = `${e?.code ?? e?.name}: ${e?.message}`.slice(0, 160);
  errors[k] = (errors[k] ?? 0) + 1;
}

function open() {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca: cert, servername: 'bench.test', handshakeTimeout: 120_000 });
    const onError = (e) => {
      noteError(e);
      resolve(null);
    };
    s.once('error', onError);
    s.once('secureConnect', () => {
      s.off('error', onError);
      s.on('error', noteError);
      s.on('message', () => echoed++);
      s.once('close', () => {
        if (!stopping) closedEarly++;
      });
      resolve(s);
    });
  });
}

async function handshakes() {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      const s = await open();
      if (s === null) failed++;
      else sockets.push(s);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Every socket sends once per period: each tick serves the sockets whose slot falls in it. */
function keepalives() {
  const payload = Buffer.from('keepalive');
  const perTick = sockets.length * (TICK_MS / periodMs);
  let next = 0;
  let owed = 0;
  const timer = setInterval(() => {
    owed += perTick;
    while (owed >= 1) {
      owed--;
      const s = sockets[next];
      next = (next + 1) % sockets.length;
      if (s.state !== 'connected') continue;
      try {
        s.send(payload);
        sent++;
      } catch (e) {
        noteError(e);
      }
    }
  }, TICK_MS);
  return () => clearInterval(timer);
}

let stopKeepalives = () => {};
process.on('message', async (m) => {
  if (m.go === 'keepalive') {
    stopKeepalives = keepalives();
  } else if (m.go === 'stop') {
    stopKeepalives();
    // Let the last echoes arrive, then close (close_notify) every socket.
    await new Promise((r) => setTimeout(r, 500));
    stopping = true;
    const still = sockets.filter((s) => s.state === 'connected').length;
    // Paced (50 per 10 ms per process): thousands of close_notify at once overflow the server's socket buffer.
    for (let i = 0; i < sockets.length; i += 50) {
      await Promise.all(sockets.slice(i, i + 50).map((s) => s.close()));
      await new Promise((r) => setTimeout(r, 10));
    }
    process.send({ report: { sockets: sockets.length, stillConnected: still, failed, closedEarly, sent, echoed, errors } }, () => process.exit(0));
  }
});

handshakes().then(() => process.send({ connected: sockets.length, failed, errors }));
