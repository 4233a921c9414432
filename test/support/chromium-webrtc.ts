// Headless Chromium against examples/webrtc-echo, both inside a private network namespace that has only
// loopback (`unshare -n`): predictable 127.0.0.1 candidates, and nothing leaves the machine.
//
// Parent side (the test): startWebRtcDriver() runs this file as a child under
//   unshare -n sh -c 'ip link set lo up && exec node <this file> --child'
// and talks to it in JSON lines (stdin: cases, stdout: results; stderr: the child's log). The child
// launches one Chromium (playwright-core, /usr/bin/chromium, never a downloaded browser) and one echo
// server for every case, and gives each case a fresh browser context.
//
// Peer facts (flags, pitfalls): shared/PEERS.md.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { ContentType, HandshakeType, parseRecords } from './lossy-link';
import { peerEnv, spawnPeer, which, withTimeout, type PeerProcess } from './peers';

export const CHROMIUM = '/usr/bin/chromium';
const EXAMPLE = path.resolve(__dirname, '../../examples/webrtc-echo/server.js');

// PEERS.md's flags, plus a fake microphone (a beep) granted without a prompt.
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

export interface WebRtcCase {
  /** Node's a=setup in the answer: 'active' = Node is the DTLS client, 'passive' = the DTLS server */
  setup: 'active' | 'passive';
  srtpProfiles: string[];
  /** Node's answer carries another certificate's fingerprint */
  wrongAnswerFingerprint?: boolean;
  /** Node expects another fingerprint than the browser's */
  wrongRemoteFingerprint?: boolean;
  /** 'media': wait for DTLS connected and RTP both ways; 'failure': wait for both sides to fail */
  expect: 'media' | 'failure';
  /** media: how many browser RTP packets Node must have decrypted */
  minRtp?: number;
  timeoutMs: number;
}

export interface BrowserSnapshot {
  connectionState: string;
  /** RTCDtlsTransport.state */
  dtlsTransportState: string | null;
  /** every RTCDtlsTransport 'statechange' the page saw, in order */
  dtlsEvents: string[];
  transport: { dtlsState?: string; dtlsRole?: string; srtpCipher?: string; tlsVersion?: string; dtlsCipher?: string; packetsReceived?: number } | null;
  inboundRtpPackets: number;
  outboundRtpPackets: number;
}

export interface NodeErrorSummary {
  code: string;
  message: string;
  alert?: { direction: string; level: string; description: string; code: number };
  verifyResult?: { code: number; message: string };
  opensslErrors: Array<{ library: string; reason: string; function: string }>;
}

export interface WebRtcCaseResult {
  timedOut: boolean;
  role: 'client' | 'server';
  node: {
    state: string;
    error?: NodeErrorSummary;
    alerts: Array<{ direction: string; level: string; description: string }>;
    protocol?: string;
    srtpProfile?: string;
    stats: { rtpIn: number; rtpOut: number; rtcpIn: number; authFailures: number; beforeKeys: number; dtlsIn: number; dtlsOut: number };
    /** ms from the first DTLS datagram received (sent) to connected */
    handshakeFromFirstIn?: number;
    handshakeFromFirstOut?: number;
    /** the browser's first ClientHello (Node as server): its length and how many fragments it came in */
    clientHelloLength?: number;
    clientHelloFragments?: number;
  };
  browser: BrowserSnapshot;
}

export interface WebRtcDriver {
  readonly browserVersion: string;
  run(c: WebRtcCase): Promise<WebRtcCaseResult>;
  /** the child's stderr so far (for failure messages) */
  log(): string;
  close(): Promise<void>;
}

/** Whether this machine can run the suite; otherwise why not. */
export function chromiumAvailability(): { ok: true } | { ok: false; reason: string } {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
  } catch {
    return { ok: false, reason: `${CHROMIUM} not found (apt-get install -y chromium)` };
  }
  try {
    require.resolve('playwright-core');
  } catch {
    return { ok: false, reason: 'playwright-core is not installed (npm ci)' };
  }
  if (which('unshare') === null || which('ip') === null) return { ok: false, reason: 'unshare (util-linux) or ip (iproute2) not found' };
  try {
    execFileSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return { ok: false, reason: 'cannot create a network namespace (unshare -n needs root or user namespaces)' };
  }
  return { ok: true };
}

/** `chromium --version` ("Chromium 156.0.8078.114 ..."), or null. */
export function chromiumVersion(): string | null {
  try {
    const out = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return /Chromium [\d.]+/.exec(out)?.[0] ?? (out.trim() || null);
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------------ parent

export async function startWebRtcDriver(startTimeoutMs = 60_000): Promise<WebRtcDriver> {
  const child: PeerProcess = spawnPeer('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, __filename, '--child'], {
    inheritSanitizer: true, // the node inside runs our (maybe sanitized) addon
  });
  const waiting = new Map<number, { resolve: (r: WebRtcCaseResult) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let ready: ((version: string) => void) | undefined;
  const readyP = new Promise<string>((resolve) => (ready = resolve));

  const lines = readline.createInterface({ input: child.child.stdout! });
  lines.on('line', (line) => {
    let msg: { type: string; id?: number; version?: string; result?: WebRtcCaseResult; error?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return; // not ours
    }
    if (msg.type === 'ready') ready?.(msg.version ?? '');
    else if (msg.id !== undefined) {
      const w = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.type === 'result') w?.resolve(msg.result!);
      else w?.reject(new Error(`driver: ${msg.error}\n--- driver log ---\n${child.stderr()}`));
    }
  });
  void child.exited.then((info) => {
    for (const w of waiting.values()) w.reject(new Error(`the driver exited (${JSON.stringify(info)})\n--- driver log ---\n${child.stderr()}`));
    waiting.clear();
  });

  let browserVersion: string;
  try {
    browserVersion = await withTimeout(
      Promise.race([readyP, child.exited.then((i) => Promise.reject(new Error(`the driver exited before it was ready (${JSON.stringify(i)})`)))]),
      startTimeoutMs,
      'starting Chromium and the echo server',
    );
  } catch (err) {
    child.kill();
    throw new Error(`${(err as Error).message}\n--- driver log ---\n${child.stderr()}`);
  }

  return {
    browserVersion,
    log: () => child.stderr(),
    run(c) {
      const id = nextId++;
      const p = new Promise<WebRtcCaseResult>((resolve, reject) => waiting.set(id, { resolve, reject }));
      child.write(`${JSON.stringify({ id, case: c })}\n`);
      // The child bounds the case by c.timeoutMs; this bounds the child.
      return withTimeout(p, c.timeoutMs + 15_000, 'WebRTC case');
    },
    async close() {
      child.endInput();
      await withTimeout(child.exited, 10_000, 'driver exit').catch(() => child.kill());
      child.kill();
    },
  };
}

// ------------------------------------------------------------------------------------------- child

/* eslint-disable @typescript-eslint/no-explicit-any -- the example and playwright are untyped here */
async function childMain(): Promise<void> {
  const write = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
  const log = (...a: unknown[]) => process.stderr.write(`[driver] ${a.map(String).join(' ')}\n`);
  const { chromium } = require('playwright-core');
  const { startEchoServer } = require(EXAMPLE);
  const dtls = require('../../lib/index.js');

  const stranger = await dtls.generateCertificate();
  const wrong = dtls.localFingerprints(stranger.cert, ['sha-256']);
  let peerOptions: Record<string, unknown> = {};
  const echo = await startEchoServer({ peerOptions: () => peerOptions });
  // The browser never gets the sanitizer preload the node running this may have (scripts/sanitize.sh).
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true, timeout: 30_000, env: peerEnv(CHROMIUM) as Record<string, string> });
  log(`echo server ${echo.url}, ${browser.version()}`);

  const shutdown = async () => {
    await browser.close().catch(() => {});
    await echo.close().catch(() => {});
  };

  async function runCase(c: WebRtcCase): Promise<WebRtcCaseResult> {
    peerOptions = {
      setup: c.setup,
      srtpProfiles: c.srtpProfiles,
      ...(c.wrongAnswerFingerprint ? { answerFingerprints: wrong } : {}),
      ...(c.wrongRemoteFingerprint ? { remoteFingerprints: wrong } : {}),
    };
    const deadline = Date.now() + c.timeoutMs;
    const context = await browser.newContext();
    let peer: any;
    const alerts: WebRtcCaseResult['node']['alerts'] = [];
    let connectedInfo: any;
    // The browser's first ClientHello (message_seq 0): its length and its distinct fragment offsets.
    let helloLength: number | undefined;
    const helloOffsets = new Set<number>();
    const onPeer = (p: any) => {
      peer = p;
      p.ice.onData.subscribe((d: Buffer) => {
        for (const r of parseRecords(d)) {
          if (r.type !== ContentType.Handshake || r.epoch !== 0 || r.body.length < 12 || r.body[0] !== HandshakeType.ClientHello) continue;
          if (r.body.readUInt16BE(4) !== 0) continue;
          helloLength = r.body.readUIntBE(1, 3);
          helloOffsets.add(r.body.readUIntBE(6, 3));
        }
      });
      p.session.on('alert', (a: any) => alerts.push({ direction: a.direction, level: a.level, description: a.description }));
      p.session.once('secureConnect', (info: any) => (connectedInfo = info));
    };
    echo.events.once('peer', onPeer);
    try {
      const page = await context.newPage();
      await page.goto(echo.url, { timeout: 10_000 });
      await page.evaluate(async () => {
        const w = globalThis as any;
        await w.start();
        w.dtlsEvents = [];
        const t = w.echo.pc.getSenders()[0]?.transport;
        t?.addEventListener('statechange', () => w.dtlsEvents.push(t.state));
      });
      const snapshot = (): Promise<BrowserSnapshot> =>
        page.evaluate(async () => {
          const w = globalThis as any;
          const pc = w.echo.pc;
          const out: any = { connectionState: pc.connectionState, dtlsTransportState: pc.getSenders()[0]?.transport?.state ?? null, dtlsEvents: [...w.dtlsEvents], transport: null, inboundRtpPackets: 0, outboundRtpPackets: 0 };
          (await pc.getStats()).forEach((v: any) => {
            if (v.type === 'transport') {
              out.transport = { dtlsState: v.dtlsState, dtlsRole: v.dtlsRole, srtpCipher: v.srtpCipher, tlsVersion: v.tlsVersion, dtlsCipher: v.dtlsCipher, packetsReceived: v.packetsReceived };
            }
            if (v.type === 'inbound-rtp' && v.kind === 'audio') out.inboundRtpPackets += v.packetsReceived ?? 0;
            if (v.type === 'outbound-rtp' && v.kind === 'audio') out.outboundRtpPackets += v.packetsSent ?? 0;
          });
          return out;
        });
      // Counters have no event to await: poll, bounded by the case deadline.
      let browserState = await snapshot();
      let timedOut = true;
      for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
        const done =
          c.expect === 'media'
            ? browserState.dtlsTransportState === 'connected' && peer?.stats.rtpIn >= (c.minRtp ?? 50) && browserState.inboundRtpPackets > 0
            : (browserState.dtlsTransportState === 'failed' || browserState.transport?.dtlsState === 'failed') && peer?.error !== undefined;
        if (done) {
          timedOut = false;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
        browserState = await snapshot();
      }
      const session = peer?.session;
      const err = peer?.error;
      const result: WebRtcCaseResult = {
        timedOut,
        role: peer?.role,
        node: {
          state: session?.state ?? 'none',
          alerts,
          stats: { ...(peer?.stats ?? {}) },
        },
        browser: browserState,
      };
      if (connectedInfo !== undefined) {
        result.node.protocol = connectedInfo.protocol;
        if (connectedInfo.srtpKeys !== undefined) result.node.srtpProfile = connectedInfo.srtpKeys.profile;
      }
      const t = peer?.timing;
      if (t?.connected !== undefined) {
        if (t.firstDtlsIn !== undefined) result.node.handshakeFromFirstIn = t.connected - t.firstDtlsIn;
        if (t.firstDtlsOut !== undefined) result.node.handshakeFromFirstOut = t.connected - t.firstDtlsOut;
      }
      if (helloLength !== undefined) {
        result.node.clientHelloLength = helloLength;
        result.node.clientHelloFragments = helloOffsets.size;
      }
      if (err !== undefined) {
        result.node.error = {
          code: err.code,
          message: err.message,
          opensslErrors: (err.opensslErrors ?? []).map((e: any) => ({ library: e.library, reason: e.reason, function: e.function })),
        };
        if (err.alert !== undefined) result.node.error.alert = { direction: err.alert.direction, level: err.alert.level, description: err.alert.description, code: err.alert.code };
        if (err.verifyResult !== undefined) result.node.error.verifyResult = err.verifyResult;
      }
      return result;
    } finally {
      echo.events.off('peer', onPeer);
      await context.close().catch(() => {});
      if (peer !== undefined) await peer.close().catch(() => {});
    }
  }

  write({ type: 'ready', version: browser.version() });
  const rl = readline.createInterface({ input: process.stdin });
  let queue: Promise<unknown> = Promise.resolve();
  rl.on('line', (line) => {
    const msg = JSON.parse(line) as { id: number; case: WebRtcCase };
    queue = queue.then(() =>
      runCase(msg.case).then(
        (result) => write({ type: 'result', id: msg.id, result }),
        (e) => write({ type: 'error', id: msg.id, error: (e as Error)?.stack ?? String(e) }),
      ),
    );
  });
  rl.on('close', () => {
    void queue.then(shutdown).then(() => process.exit(0));
  });
}

if (require.main === module && process.argv.includes('--child')) {
  childMain().catch((e) => {
    process.stderr.write(`[driver] ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  });
}
