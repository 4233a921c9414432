// Helpers for interop tests against real DTLS peers (OpenSSL CLI, GnuTLS CLI, ...); peer facts: PEERS.md.
//
// Gating: a test calls `if (!requirePeer(t, 'gnutls-cli', which('gnutls-cli') !== null, 'gnutls-cli not
// installed')) return;`. Locally a missing peer skips the test; with DTLS_REQUIRE_PEERS=1 (CI) it fails it.
//
// Every child started with spawnPeer() is tracked and killed when the process exits, and every wait is
// bounded by a timeout whose error carries the collected output.
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';

// ---------------------------------------------------------------------------------------------- lookup

/** Absolute path of an executable found on PATH (or `cmd` itself if it is a path), else null. */
export function which(cmd: string): string | null {
  const isExecutable = (file: string): boolean => {
    try {
      if (!fs.statSync(file).isFile()) return false;
      fs.accessSync(file, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return isExecutable(cmd) ? path.resolve(cmd) : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, cmd);
    if (isExecutable(file)) return file;
  }
  return null;
}

/** The part of node:test's TestContext used here (structural, so any `t` fits). */
export interface SkippableContext {
  skip(message?: string): void;
}

/** True when peers are mandatory (CI): a missing peer is then a failure, not a skip. */
export function peersRequired(): boolean {
  return process.env.DTLS_REQUIRE_PEERS === '1';
}

/**
 * Gate a test on a peer. Returns true when the peer is available. When it is not: throws if
 * DTLS_REQUIRE_PEERS=1, otherwise marks the test skipped (and prints `# skip: reason`) and returns false;
 * the caller must then return from the test.
 */
export function requirePeer(t: SkippableContext, name: string, available: boolean, reason: string): boolean {
  if (available) return true;
  if (peersRequired()) {
    throw new Error(`peer ${name} is required (DTLS_REQUIRE_PEERS=1) but unavailable: ${reason}`);
  }
  t.skip(reason);
  console.log('# skip: ' + reason);
  return false;
}

// -------------------------------------------------------------------------------------------- versions

const versionCache = new Map<string, string | null>();

function firstLineOf(cmd: string, args: string[]): string | null {
  const key = [cmd, ...args].join(' ');
  if (versionCache.has(key)) return versionCache.get(key) ?? null;
  let line: string | null = null;
  if (which(cmd) !== null) {
    try {
      const out = execFileSync(cmd, args, {
        encoding: 'utf8',
        timeout: 10_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      line = out.split('\n')[0]?.trim() || null;
    } catch {
      line = null;
    }
  }
  versionCache.set(key, line);
  return line;
}

/** `openssl version` of the system CLI, e.g. "OpenSSL 3.0.19 27 Jan 2026 (Library: ...)"; "openssl: not found" if absent. */
export function opensslVersion(): string {
  return firstLineOf('openssl', ['version']) ?? 'openssl: not found';
}

/** First line of `gnutls-cli --version` (e.g. "gnutls-cli 3.7.9"), or null when GnuTLS CLI is not installed. */
export function gnutlsVersion(): string | null {
  return firstLineOf('gnutls-cli', ['--version']);
}

// ---------------------------------------------------------------------------------------------- ports

/** A UDP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', (err) => {
      sock.close();
      reject(err);
    });
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------------------------------- timeouts

/** Rejects with `Error("<label>: timed out after <ms> ms")` unless `promise` settles first. Clears its timer. */
export function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// -------------------------------------------------------------------------------------------- spawning

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnPeerOptions extends Omit<SpawnOptions, 'stdio'> {
  /** Written to stdin right after spawning. stdin stays open unless `endInput` is true (default false). */
  input?: string | Buffer;
  /** Close stdin after `input` (s_server quits at once on EOF unless -quiet; gnutls-cli exits on EOF). */
  endInput?: boolean;
  /** Cap per stream on collected output; older output is discarded beyond it. Default 4 MiB. */
  maxOutput?: number;
  /** Grace period between SIGTERM and SIGKILL in kill(). Default 2000 ms. */
  killGraceMs?: number;
  /**
   * Run the peer in its own process group (spawn `detached`) and signal the whole group, so that
   * grandchildren (a `sh -c` wrapper's pipeline) die with it. Default true except on Windows.
   */
  processGroup?: boolean;
  /**
   * Under scripts/sanitize.sh (DTLS_SANITIZER set) the sanitizer runtime is preloaded into node; a peer
   * program must not inherit it (it is not built for it). Node children keep it; set this for a wrapper
   * (such as `unshare … node`) whose node must keep it too.
   */
  inheritSanitizer?: boolean;
}

/** The environment for a peer process: without the sanitizer preload unless it runs our node. */
export function peerEnv(cmd: string, env: NodeJS.ProcessEnv = process.env, inherit = false): NodeJS.ProcessEnv {
  if (!env.DTLS_SANITIZER || inherit || cmd === process.execPath || cmd === 'node') return env;
  const { LD_PRELOAD: _preload, ASAN_OPTIONS: _asan, UBSAN_OPTIONS: _ubsan, LSAN_OPTIONS: _lsan, ...rest } = env;
  return rest;
}

export interface PeerProcess {
  readonly child: ChildProcess;
  /** The command line, for messages. */
  readonly command: string;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved in arrival order. */
  output(): string;
  /** Resolves once the combined output matches; rejects on timeout or if the process exits first. */
  waitFor(pattern: RegExp | string, timeoutMs: number): Promise<void>;
  /** Resolves with the exit status; rejects (with the output) if the process is still running after timeoutMs. */
  waitForExit(timeoutMs: number): Promise<ExitInfo>;
  /** Settles (never rejects) when the process has exited, or failed to spawn (code null, signal null). */
  readonly exited: Promise<ExitInfo>;
  /** True once the process has exited (or failed to spawn). */
  readonly hasExited: boolean;
  /** Spawn error (e.g. ENOENT), if any. */
  readonly spawnError: Error | undefined;
  write(data: string | Buffer): void;
  endInput(): void;
  /** SIGTERM now (to the process group), SIGKILL after the grace period if anything is left. Idempotent. */
  kill(signal?: NodeJS.Signals): void;
}

interface Tracked {
  child: ChildProcess;
  group: boolean;
}
const live = new Set<Tracked>();
let cleanupInstalled = false;

/** Signal the child, or its whole process group (so grandchildren of a shell wrapper die too). */
function signal(t: Tracked, sig: NodeJS.Signals): void {
  const pid = t.child.pid;
  if (pid === undefined) return;
  try {
    if (t.group) process.kill(-pid, sig);
    else t.child.kill(sig);
  } catch {
    // already gone
  }
}

function killAllNow(): void {
  for (const t of live) signal(t, 'SIGKILL');
  live.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllNow);
  // A signal's default action skips 'exit' handlers: kill the children, then re-raise the signal so the
  // process still dies the way it would have (the listener is removed first, so the default action applies).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllNow();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function tail(text: string, max = 4000): string {
  return text.length <= max ? text : `...[${text.length - max} chars omitted]...` + text.slice(-max);
}

function matches(text: string, pattern: RegExp | string): boolean {
  if (typeof pattern === 'string') return text.includes(pattern);
  pattern.lastIndex = 0; // a /g or /y regex is stateful
  return pattern.test(text);
}

/** After 'exit', how long to wait for the output pipes to close (a grandchild may hold them open). */
const CLOSE_GRACE_MS = 500;

/** Spawn a peer process, collecting its output. Call kill() when the test ends (t.after(() => p.kill())). */
export function spawnPeer(cmd: string, args: readonly string[], opts: SpawnPeerOptions = {}): PeerProcess {
  const {
    input,
    endInput = false,
    maxOutput = 4 * 1024 * 1024,
    killGraceMs = 2000,
    processGroup = process.platform !== 'win32',
    inheritSanitizer = false,
    ...spawnOpts
  } = opts;
  const command = [cmd, ...args].join(' ');
  installCleanup();

  let out = '';
  let err = '';
  let all = '';
  let exitInfo: ExitInfo | undefined; // set once the process has exited and its output is collected
  let pipesClosed = false; // 'close': every process holding our pipes is gone
  let spawnError: Error | undefined;
  const listeners = new Set<() => void>(); // re-evaluated on every output chunk and on exit

  const env = peerEnv(cmd, spawnOpts.env ?? process.env, inheritSanitizer);
  const child = spawn(cmd, [...args], { ...spawnOpts, env, detached: processGroup, stdio: ['pipe', 'pipe', 'pipe'] });
  const tracked: Tracked = { child, group: processGroup };
  live.add(tracked);

  const clip = (s: string): string => (s.length > maxOutput ? s.slice(s.length - maxOutput) : s);
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out = clip(out + chunk);
    all = clip(all + chunk);
    notify();
  });
  child.stderr?.on('data', (chunk: string) => {
    err = clip(err + chunk);
    all = clip(all + chunk);
    notify();
  });
  // Writes after the peer has gone away raise EPIPE on stdin; that is not the test's concern.
  child.stdin?.on('error', () => {});

  let resolveExited!: (info: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((resolve) => {
    resolveExited = resolve;
  });
  const finish = (info: ExitInfo): void => {
    if (exitInfo !== undefined) return;
    exitInfo = info;
    resolveExited(info);
    notify();
  };
  child.once('error', (e: Error) => {
    // ENOENT and friends: the process never ran. (An 'error' from kill() on a live child is not fatal.)
    if (child.pid === undefined) {
      spawnError = e;
      pipesClosed = true;
      live.delete(tracked);
      finish({ code: null, signal: null });
    }
  });
  // 'close' comes after 'exit' once all output has been read. If a grandchild keeps the pipes open, settle
  // CLOSE_GRACE_MS after 'exit' anyway (the group stays tracked, and kill() still reaches it).
  child.once('exit', (code: number | null, sig: NodeJS.Signals | null) => {
    const t = setTimeout(() => finish({ code, signal: sig }), CLOSE_GRACE_MS);
    child.once('close', () => {
      clearTimeout(t);
      finish({ code, signal: sig });
    });
  });
  child.once('close', () => {
    pipesClosed = true;
    live.delete(tracked);
  });

  const describe = (what: string): string =>
    `${what}\n  command: ${command}` +
    (spawnError ? `\n  spawn error: ${spawnError.message}` : '') +
    (exitInfo ? `\n  exited: code=${exitInfo.code} signal=${exitInfo.signal}` : '\n  still running') +
    `\n  --- stdout ---\n${tail(out)}\n  --- stderr ---\n${tail(err)}`;

  const waitFor = (pattern: RegExp | string, timeoutMs: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (e?: Error): void => {
        listeners.delete(check);
        clearTimeout(timer);
        if (e) reject(e);
        else resolve();
      };
      const check = (): void => {
        if (matches(all, pattern)) done();
        else if (exitInfo !== undefined) done(new Error(describe(`peer exited before output matched ${String(pattern)}`)));
      };
      timer = setTimeout(
        () => done(new Error(describe(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}`))),
        timeoutMs,
      );
      listeners.add(check);
      check();
    });

  const waitForExit = (timeoutMs: number): Promise<ExitInfo> =>
    new Promise<ExitInfo>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(describe(`timed out after ${timeoutMs} ms waiting for the peer to exit`))),
        timeoutMs,
      );
      void exited.then((info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });

  let killed = false;
  const kill = (sig: NodeJS.Signals = 'SIGTERM'): void => {
    if (pipesClosed) return; // nothing of it is left (and its pid/pgid may be reused: never signal it again)
    if (killed && sig !== 'SIGKILL') return; // a second kill() only matters to escalate
    killed = true;
    child.stdin?.destroy();
    signal(tracked, sig);
    if (sig !== 'SIGKILL') {
      const hard = setTimeout(() => {
        if (!pipesClosed) signal(tracked, 'SIGKILL');
      }, killGraceMs);
      hard.unref(); // if the test process ends first, the 'exit' handler sends SIGKILL
      child.once('close', () => clearTimeout(hard));
    }
  };

  if (input !== undefined) child.stdin?.write(input);
  if (endInput) child.stdin?.end();

  return {
    child,
    command,
    stdout: () => out,
    stderr: () => err,
    output: () => all,
    waitFor,
    waitForExit,
    exited,
    get hasExited() {
      return exitInfo !== undefined;
    },
    get spawnError() {
      return spawnError;
    },
    write: (data) => {
      if (child.stdin && !child.stdin.destroyed && child.stdin.writable) child.stdin.write(data);
    },
    endInput: () => {
      child.stdin?.end();
    },
    kill,
  };
}
