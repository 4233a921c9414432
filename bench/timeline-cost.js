// What the flight recorder costs: in-process handshakes/s and records/s with
// nobody reading timelines (the recorder still runs in native code: it is
// always on), with both timelines read after every handshake (or every 100
// records), and with NODE_DEBUG=dtls printing every event live (in a child
// process, stderr discarded). Modes alternate in rounds so that machine noise
// hits them alike; the ratios are what to compare, within one run.
//
//   node bench/timeline-cost.js [handshakes=300] [records=30000] [rounds=3]
'use strict';
const { spawnSync } = require('node:child_process');
const { DtlsSession, createSecureContext, generateCertificate } = require('..');

const nHandshakes = Number(process.argv[2] ?? 300);
const nRecords = Number(process.argv[3] ?? 30000);
const rounds = Number(process.argv[4] ?? 3);
const child = process.env.TIMELINE_COST_CHILD === '1';

async function setup() {
  const { cert, key } = await generateCertificate();
  const serverCtx = createSecureContext({ cert, key });
  const clientCtx = createSecureContext({ rejectUnauthorized: false });
  const pair = () => {
    let c;
    let s;
    s = new DtlsSession({ role: 'server', context: serverCtx, send: (d) => c.receive(d) });
    c = new DtlsSession({ role: 'client', context: clientCtx, send: (d) => s.receive(d) });
    return { c, s };
  };
  return pair;
}

async function handshakes(pair, n, read) {
  let events = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const { c, s } = pair();
    await c.handshake();
    if (read) events += c.timeline().length + s.timeline().length;
    c.destroy();
    s.destroy();
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: n / secs, events };
}

async function records(pair, n, read) {
  const { c, s } = pair();
  await c.handshake();
  let got = 0;
  s.on('message', () => got++);
  const payload = Buffer.alloc(1200, 7);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    c.send(payload);
    if (read && i % 100 === 0) {
      c.timeline();
      s.timeline();
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  c.destroy();
  s.destroy();
  if (got !== n) throw new Error(`${got}/${n} records delivered`);
  return n / secs;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const pair = await setup();
  await handshakes(pair, 30, false); // warm-up
  if (child) {
    // NODE_DEBUG=dtls is read once at load: this process prints every event (to a discarded stderr).
    const hs = [];
    const rs = [];
    for (let r = 0; r < rounds; r++) {
      hs.push((await handshakes(pair, nHandshakes, false)).rate);
      rs.push(await records(pair, nRecords, false));
    }
    process.stdout.write(JSON.stringify({ handshakes: median(hs), records: median(rs) }));
    return;
  }
  const hs = { off: [], read: [] };
  const rs = { off: [], read: [] };
  let events = 0;
  for (let r = 0; r < rounds; r++) {
    hs.off.push((await handshakes(pair, nHandshakes, false)).rate);
    const read = await handshakes(pair, nHandshakes, true);
    hs.read.push(read.rate);
    events = read.events / nHandshakes;
    rs.off.push(await records(pair, nRecords, false));
    rs.read.push(await records(pair, nRecords, true));
  }
  // The same work in a child with NODE_DEBUG=dtls, and a child without it as its same-run baseline,
  // alternating (one round per child) so that noise hits both alike.
  const runChild = (debug) => {
    const out = spawnSync(process.execPath, [__filename, String(nHandshakes), String(nRecords), '1'], {
      env: { ...process.env, TIMELINE_COST_CHILD: '1', NODE_DEBUG: debug ? 'dtls' : '' },
      stdio: ['ignore', 'pipe', 'ignore'],
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (out.status !== 0) throw new Error(`child exited ${out.status}`);
    return JSON.parse(out.stdout);
  };
  const plainRuns = [];
  const debugRuns = [];
  for (let r = 0; r < rounds; r++) {
    plainRuns.push(runChild(false));
    debugRuns.push(runChild(true));
  }
  const plainChild = { handshakes: median(plainRuns.map((x) => x.handshakes)), records: median(plainRuns.map((x) => x.records)) };
  const debugChild = { handshakes: median(debugRuns.map((x) => x.handshakes)), records: median(debugRuns.map((x) => x.records)) };

  const f = (x) => x.toFixed(0).padStart(8);
  const ratio = (a, b) => (a / b).toFixed(3);
  const hOff = median(hs.off);
  const hRead = median(hs.read);
  const rOff = median(rs.off);
  const rRead = median(rs.read);
  console.log(`flight recorder cost, in-process (ECDHE-ECDSA P-256, 1200-byte records), medians of ${rounds} rounds`);
  console.log(`  ${events.toFixed(0)} recorder events per handshake (both sides)`);
  console.log(`  handshakes/s   nobody reads ${f(hOff)}   timeline() of both after each ${f(hRead)}   ratio ${ratio(hRead, hOff)}`);
  console.log(`  records/s      nobody reads ${f(rOff)}   timeline() of both every 100  ${f(rRead)}   ratio ${ratio(rRead, rOff)}`);
  console.log(`  NODE_DEBUG=dtls (child processes): handshakes/s ${f(plainChild.handshakes)} -> ${f(debugChild.handshakes)}   ratio ${ratio(debugChild.handshakes, plainChild.handshakes)}`);
  console.log(`                                     records/s    ${f(plainChild.records)} -> ${f(debugChild.records)}   ratio ${ratio(debugChild.records, plainChild.records)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
