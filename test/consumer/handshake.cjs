// Run inside a consumer project that installed the openssl-dtls tarball (scripts/pack-test.js):
// `require('openssl-dtls')`, one in-process handshake and echo, then one JSON line on stdout with what
// happened and which native binary the process mapped.
'use strict';
const dtls = require('openssl-dtls');
const { DtlsSession, generateCertificate, fingerprint, opensslVersion } = dtls;

function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const { cert, key } = await generateCertificate();
  let client;
  const server = new DtlsSession({ role: 'server', cert, key, send: (d) => client.receive(d) });
  client = new DtlsSession({
    role: 'client',
    remoteFingerprints: [{ algorithm: 'sha-256', value: fingerprint(cert) }],
    send: (d) => server.receive(d),
  });
  try {
    server.on('message', (m) => server.send(Buffer.concat([Buffer.from('echo:'), m])));
    const reply = new Promise((resolve) => client.once('message', resolve));
    const [info] = await within(10_000, Promise.all([client.handshake(), server.handshake()]), 'the handshake');
    client.send('ping');
    const echoed = await within(10_000, reply, 'the echo');
    await client.close();
    process.stdout.write(
      JSON.stringify({
        format: 'cjs',
        protocol: info.protocol,
        cipher: info.cipher.standardName,
        reply: echoed.toString(),
        opensslVersion,
        exports: Object.keys(dtls).sort(),
        addons: process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node')),
      }) + '\n',
    );
  } finally {
    client.destroy();
    server.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
