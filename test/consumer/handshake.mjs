// Run inside a consumer project that installed the openssl-dtls tarball (scripts/pack-test.js):
// `import` (the ESM entry), one in-process handshake and echo, then one JSON line on stdout with what
// happened, the ESM export names, whether ESM and CommonJS share one instance, and the mapped binaries.
import { createRequire } from 'node:module';
import * as namespace from 'openssl-dtls';
import dtls, { DtlsError, DtlsSession, generateCertificate, fingerprint, opensslVersion } from 'openssl-dtls';

const require = createRequire(import.meta.url);
const cjs = require('openssl-dtls');

function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

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
  // A failure raised by the library is an instance of the class both entries export.
  let wrongUse;
  try {
    client.send('after close');
  } catch (err) {
    wrongUse = err;
  }
  process.stdout.write(
    JSON.stringify({
      format: 'esm',
      protocol: info.protocol,
      cipher: info.cipher.standardName,
      reply: echoed.toString(),
      opensslVersion,
      exports: Object.keys(namespace).sort(),
      defaultIsCommonJs: dtls === cjs,
      sameClasses: DtlsSession === cjs.DtlsSession && DtlsError === cjs.DtlsError,
      errorCode: wrongUse?.code,
      errorIsDtlsError: wrongUse instanceof DtlsError && wrongUse instanceof cjs.DtlsError,
      addons: process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node')),
    }) + '\n',
  );
} finally {
  client.destroy();
  server.destroy();
}
