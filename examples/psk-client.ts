// A PSK-only DTLS client, as a constrained device (CoAP/LwM2M style) would be: no certificates at all.
//
//   node dist-examples/psk-client.js <port> [host]
import { connect } from 'openssl-dtls';

const port = Number(process.argv[2]);
const host = process.argv[3] ?? '127.0.0.1';

const socket = connect({
  host,
  port,
  psk: { identity: 'sensor-1', key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex') },
  // CoAP (RFC 7252) devices often speak only TLS_PSK_WITH_AES_128_CCM_8: name it to allow it.
  ciphers: 'PSK-AES128-GCM-SHA256:PSK-AES128-CCM8',
});
socket.on('secureConnect', () => {
  console.log(`connected with ${socket.getCipher()?.name}`);
  socket.send('temperature=21.5');
});
socket.on('message', (data) => {
  console.log(`echo: ${data.toString()}`);
  void socket.close();
});
socket.on('error', (err) => {
  console.error(`failed: ${err.code} ${err.message}`);
  process.exitCode = 1;
});
