// A DTLS echo server on UDP: certificates for clients that verify us, PSK for constrained devices.
//
//   node dist-examples/echo-server.js [port]      (npm run build:examples first)
//
// It prints "listening on 127.0.0.1:<port>" and echoes every message back until Ctrl-C.
import { createServer, generateCertificate } from 'openssl-dtls';

// Demo PSK table: identity → key. A real server looks keys up in its device registry.
const devices = new Map([['sensor-1', Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')]]);

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 0);
  // A throwaway self-signed ECDSA P-256 certificate; use your own in production.
  const { cert, key } = await generateCertificate({ commonName: 'echo.example' });

  const server = createServer(
    {
      cert,
      key,
      pskCallback: (identity) => devices.get(identity) ?? null,
      pskIdentityHint: 'echo-example',
      idleTimeout: 60_000,
    },
    (socket) => {
      const who = `${socket.remoteAddress}:${socket.remotePort}`;
      console.log(`${who} connected (${socket.getCipher()?.name})`);
      socket.on('message', (data) => socket.send(data));
      socket.on('close', () => console.log(`${who} closed`));
    },
  );
  // A client whose handshake failed: the alert, OpenSSL's error queue, and what it means.
  server.on('tlsClientError', (err, remote) => {
    console.log(`${remote.address}:${remote.port} failed: ${err.code} ${err.message}`);
    if (err.explanation) console.log(`  ${err.explanation.summary}`);
  });

  server.listen(port, '127.0.0.1', () => {
    const a = server.address();
    console.log(`listening on ${a.address}:${a.port}`);
  });
  process.once('SIGINT', () => void server.close());
  process.once('SIGTERM', () => void server.close());
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
