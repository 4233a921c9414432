// Worker body for test/lifetime/addon.worker.test.ts (not a test file itself: run-tests.js runs *.test.js only).
// workerData.mode selects what the worker does; results go back with parentPort.postMessage().
//
//   'echo'  generateCertificate() here, in-process handshake, 100 messages echoed, close; posts the result
//   'hang'  a client whose datagrams go nowhere (retransmission timer pending) plus a busy loop of in-process
//           handshakes; posts 'started' and then waits to be terminated
//   'many'  500 sessions created and never closed (workerData.startHandshakes of them mid-handshake); posts
//           the live count, then either returns (the worker exits when its loop is empty) or calls
//           process.exit(0) (workerData.exit)
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

import { createSecureContext, DtlsSession, fingerprint, generateCertificate, opensslVersion } from '../../lib/index.js';
import { binding } from '../../lib/binding.js';
import { makePair, nextEvent } from '../support/pair';

export interface WorkerInput {
  mode: 'echo' | 'hang' | 'many';
  cert?: string;
  key?: string;
  startHandshakes?: number;
  exit?: boolean;
}

export type WorkerOutput =
  | { kind: 'echo'; cipher: string; serverCipher: string; protocol: string; echoed: number; liveAfter: number; opensslVersion: string }
  | { kind: 'started'; sent: number; live: number }
  | { kind: 'many'; live: number };

const input = workerData as WorkerInput;
const port = parentPort!;

async function echo(): Promise<void> {
  const { cert, key } = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'worker.test' });
  const p = makePair({ server: { cert, key } });
  try {
    const [c, s] = await p.handshake();
    // The server really used the certificate generated in this worker.
    assert.ok(c.peerCertificate !== undefined);
    assert.equal(fingerprint(c.peerCertificate), fingerprint(new X509Certificate(cert)));
    p.server.on('message', (m) => p.server.send(m));
    const got: string[] = [];
    const all = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker: only ${got.length} of 100 echoes arrived`)), 20000);
      p.client.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 100) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (let i = 0; i < 100; i++) p.client.send(`message ${i}`);
    await all;
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `message ${i}`));
    const serverClosed = nextEvent(p.server, 'close', 10000);
    await p.client.close();
    await serverClosed;
    assert.equal(p.server.state, 'closed');
    const out: WorkerOutput = {
      kind: 'echo',
      cipher: c.cipher.name,
      serverCipher: s.cipher.name,
      protocol: c.protocol,
      echoed: got.length,
      liveAfter: binding.liveSessions(),
      opensslVersion,
    };
    port.postMessage(out);
  } finally {
    p.dispose();
  }
}

function hang(): void {
  let sent = 0;
  let announced = false;
  const lonely = new DtlsSession({
    role: 'client',
    rejectUnauthorized: false,
    retransmitTimeout: 20,
    send: () => {
      sent++;
      if (!announced) {
        announced = true;
        // Posted from inside a step's send callback; the session keeps retransmitting afterwards.
        setImmediate(() => port.postMessage({ kind: 'started', sent, live: binding.liveSessions() } satisfies WorkerOutput));
      }
    },
  });
  lonely.handshake().catch(() => {});
  // Keep the thread busy with handshakes so terminate() lands while sessions are stepping.
  const churn = (): void => {
    const p = makePair();
    p.handshake().then(
      () => {
        p.dispose();
        churn();
      },
      () => p.dispose(),
    );
  };
  churn();
  churn();
}

function many(): void {
  assert.ok(input.cert !== undefined && input.key !== undefined, 'workerData.cert/key');
  const context = createSecureContext({ cert: input.cert, key: input.key, rejectUnauthorized: false });
  const sessions: DtlsSession[] = [];
  for (let i = 0; i < 500; i++) {
    sessions.push(new DtlsSession({ role: i % 2 === 0 ? 'client' : 'server', context, send: () => {} }));
  }
  const start = input.startHandshakes ?? 0;
  for (let i = 0; i < start; i++) sessions[2 * i]!.handshake().catch(() => {});
  port.postMessage({ kind: 'many', live: binding.liveSessions() } satisfies WorkerOutput);
  (globalThis as { keep?: unknown }).keep = sessions; // reachable until the environment goes away
  if (input.exit === true) process.exit(0);
}

switch (input.mode) {
  case 'echo':
    // A failure becomes an uncaught exception: the parent sees it as the worker's 'error' event.
    echo().catch((e: unknown) => {
      process.nextTick(() => {
        throw e;
      });
    });
    break;
  case 'hang':
    hang();
    break;
  case 'many':
    many();
    break;
  default:
    throw new Error(`worker-script: unknown mode ${String((input as { mode?: unknown }).mode)}`);
}
