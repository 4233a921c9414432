// The three things the UDP benchmarks compare, behind one small interface:
//   openssl-dtls  createServer/connect when the library has them; until then
//                 DtlsSessions over node:dgram with a demultiplexer here
//   werift-dtls   0.5.8 (pure TypeScript), one DtlsServer per remote address
//                 behind one dgram socket (it serves one peer per object)
//   dgram         raw node:dgram, no DTLS: the transport's own ceiling
//
// server = await impl.server({ cert, key, onMessage(data, reply), onConnection() })
//   -> { port, close() }
// client = await impl.client({ port, ca, onMessage(data) }) -> resolves once connected
//   -> { send(data), close() }
// All sockets are udp4 on 127.0.0.1.
'use strict';

const dgram = require('node:dgram');

const lib = require('../..');

const HOST = '127.0.0.1';

function bind(socket, port = 0) {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, HOST, () => {
      socket.off('error', reject);
      resolve(socket.address().port);
    });
  });
}

function closeSocket(socket) {
  return new Promise((resolve) => {
    try {
      socket.close(resolve);
    } catch {
      resolve();
    }
  });
}

/** Clients send on a connected socket (no per-send address resolution), whatever the implementation. */
function connectSocket(socket, port) {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function udpSocket() {
  // Same buffers for every implementation (the kernel caps them at rmem_max/wmem_max).
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  return s;
}

// ---- openssl-dtls -------------------------------------------------------------

/** A handshake record of epoch 0 carrying a ClientHello. */
function isClientHello(d) {
  return d.length > 25 && d[0] === 22 && d[3] === 0 && d[4] === 0 && d[13] === 1;
}

const hasServerApi = typeof lib.createServer === 'function' && typeof lib.connect === 'function';

const opensslDtls = {
  name: 'openssl-dtls',
  api: hasServerApi ? 'createServer/connect' : 'DtlsSession over node:dgram (bench demultiplexer)',

  async server({ cert, key, onMessage, onConnection, serverOptions = {} }) {
    if (hasServerApi) {
      const server = lib.createServer({ cert, key, ...serverOptions }, (socket) => {
        socket.on('message', (m) => onMessage?.(m, (d) => socket.send(d)));
        socket.on('error', () => {});
      });
      server.on('secureConnection', () => onConnection?.());
      server.on('tlsClientError', () => {});
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return { port: server.address().port, stats: () => server.getStats(), close: () => server.close() };
    }
    const context = lib.createSecureContext({ cert, key });
    const socket = udpSocket();
    const sessions = new Map();
    socket.on('message', (d, rinfo) => {
      const k = `${rinfo.address}|${rinfo.port}`;
      let s = sessions.get(k);
      if (s !== undefined && s.state !== 'connecting' && isClientHello(d)) {
        // A new ClientHello (epoch 0) from an address whose session is over
        // or established: the port was reused by a new client (RFC 6347 §4.2.8).
        s.destroy();
        s = undefined;
      }
      if (s === undefined) {
        if (!lib.isDtlsPacket(d)) return;
        const address = rinfo.address;
        const port = rinfo.port;
        s = new lib.DtlsSession({
          role: 'server',
          context,
          cookieExchange: true,
          peer: { address, port },
          send: (out) => socket.send(out, port, address),
        });
        s.on('error', () => {});
        const mine = s;
        s.on('close', () => {
          if (sessions.get(k) === mine) sessions.delete(k);
        });
        s.on('message', (m) => onMessage?.(m, (out) => s.send(out)));
        s.handshake().then(() => onConnection?.(), () => {});
        sessions.set(k, s);
      }
      s.receive(d);
    });
    const port = await bind(socket);
    return {
      port,
      sessions,
      async close() {
        for (const s of sessions.values()) s.destroy();
        await closeSocket(socket);
      },
    };
  },

  async client({ port, ca, onMessage, clientOptions = {} }) {
    if (hasServerApi) {
      // The benchmark certificate is issued to bench.test (bench/run.js).
      const socket = lib.connect({ host: HOST, port, ca, servername: 'bench.test', ...clientOptions });
      await new Promise((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      socket.on('message', (m) => onMessage?.(m));
      return { send: (d) => socket.send(d), close: () => socket.close() };
    }
    const socket = udpSocket();
    await bind(socket);
    await connectSocket(socket, port);
    const session = new lib.DtlsSession({ role: 'client', ca, ...clientOptions, send: (d) => socket.send(d) });
    socket.on('message', (d) => session.receive(d));
    session.on('message', (m) => onMessage?.(m));
    session.on('error', () => {});
    try {
      await session.handshake();
    } catch (e) {
      await closeSocket(socket);
      throw e;
    }
    return {
      session,
      send: (d) => session.send(d),
      async close() {
        await session.close(); // close_notify: the server forgets this peer
        await closeSocket(socket);
      },
    };
  },
};

// ---- werift-dtls --------------------------------------------------------------

let werift;
function loadWerift() {
  // Its package `main` is missing: the DTLS entry point is this file.
  werift ??= require('werift-dtls/lib/dtls/src/index.js');
  return werift;
}

/** werift's Transport over a dgram socket and one remote (a connected socket when `port` is null). */
function weriftTransport(socket, address, port) {
  return {
    type: 'udp',
    closed: false,
    onData: () => {},
    get address() {
      return socket.address();
    },
    send: (data) =>
      new Promise((resolve) => {
        if (port === null) socket.send(data, () => resolve());
        else socket.send(data, port, address, () => resolve());
      }),
    close: async () => {},
  };
}

const weriftDtls = {
  name: 'werift-dtls',
  api: 'werift-dtls 0.5.8 DtlsServer per remote / DtlsClient',

  async server({ cert, key, onMessage, onConnection }) {
    const { DtlsServer, HashAlgorithm, SignatureAlgorithm } = loadWerift();
    // werift needs the certificate's signature algorithm spelled out.
    const signatureHash = { hash: HashAlgorithm.sha256_4, signature: SignatureAlgorithm.ecdsa_3 };
    const socket = udpSocket();
    const peers = new Map();
    socket.on('message', (d, rinfo) => {
      const k = `${rinfo.address}|${rinfo.port}`;
      let p = peers.get(k);
      if (p === undefined) {
        const transport = weriftTransport(socket, rinfo.address, rinfo.port);
        const server = new DtlsServer({ transport, cert, key, signatureHash });
        server.onConnect.subscribe(() => onConnection?.());
        server.onData.subscribe((m) => onMessage?.(m, (out) => server.send(out)));
        server.onError.subscribe(() => {});
        p = { transport, server };
        peers.set(k, p);
      }
      p.transport.onData(d, rinfo);
    });
    const port = await bind(socket);
    return {
      port,
      async close() {
        for (const p of peers.values()) {
          p.transport.closed = true;
          p.server.close();
        }
        await closeSocket(socket);
      },
    };
  },

  async client({ port, onMessage }) {
    const { DtlsClient } = loadWerift();
    const socket = udpSocket();
    await bind(socket);
    await connectSocket(socket, port);
    const transport = weriftTransport(socket, HOST, null);
    socket.on('message', (d, rinfo) => transport.onData(d, rinfo));
    const client = new DtlsClient({ transport });
    client.onData.subscribe((m) => onMessage?.(m));
    client.onError.subscribe(() => {});
    try {
      await client.connect();
    } catch (e) {
      await closeSocket(socket);
      throw e;
    }
    return {
      send: (d) => client.send(d),
      async close() {
        transport.closed = true;
        client.close();
        await closeSocket(socket);
      },
    };
  },
};

// ---- raw dgram ----------------------------------------------------------------

const rawDgram = {
  name: 'dgram',
  api: 'node:dgram, no DTLS',

  async server({ onMessage }) {
    const socket = udpSocket();
    socket.on('message', (d, rinfo) => onMessage?.(d, (out) => socket.send(out, rinfo.port, rinfo.address)));
    const port = await bind(socket);
    return { port, close: () => closeSocket(socket) };
  },

  async client({ port, onMessage }) {
    const socket = udpSocket();
    await bind(socket);
    await connectSocket(socket, port);
    socket.on('message', (d) => onMessage?.(d));
    return { send: (d) => socket.send(d), close: () => closeSocket(socket) };
  },
};

const IMPLS = { 'openssl-dtls': opensslDtls, werift: weriftDtls, dgram: rawDgram };

function impl(name) {
  const i = IMPLS[name];
  if (i === undefined) throw new Error(`unknown impl '${name}' (${Object.keys(IMPLS).join(', ')})`);
  return i;
}

module.exports = { impl, hasServerApi, HOST };
