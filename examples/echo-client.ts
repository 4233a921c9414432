// A DTLS client: connects, sends a few messages, prints the echoes, closes.
//
//   node dist-examples/echo-client.js <port> [host]
//
// The example server's certificate is self-signed, so this client pins nothing and verifies nothing
// (rejectUnauthorized: false). Against a real server, pass `ca` (or rely on Node's roots) instead.
import { connect } from 'openssl-dtls';

const port = Number(process.argv[2]);
const host = process.argv[3] ?? '127.0.0.1';
const messages = ['hello', 'over', 'DTLS'];

const socket = connect({ host, port, rejectUnauthorized: false }, () => {
  console.log(`connected: ${socket.getProtocol()} ${socket.getCipher()?.name}`);
  for (const m of messages) socket.send(m);
});

let received = 0;
socket.on('message', (data) => {
  console.log(`echo: ${data.toString()}`);
  if (++received === messages.length) void socket.close();
});
socket.on('error', (err) => {
  console.error(`failed: ${err.code} ${err.message}`);
  process.exitCode = 1;
});
