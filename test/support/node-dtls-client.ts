// node-dtls-client 2.0.3 (pure TypeScript DTLS 1.2 PSK client, devDependency) as an interop peer. Facts
// from its build/ sources:
// - ESM only ("type": "module"). The tests compile to CommonJS, where tsc turns `import()` into
//   require() (which cannot load ESM on Node 20), so the import goes through `new Function`, and by file
//   URL (its package.json "exports" has only "." and no "require" condition).
// - Client only, PSK only, no retransmission: one overall `timeout` (default 1000 ms) covers the
//   handshake. It sends a ClientHello without any extension (no EMS, no encrypt-then-MAC, no
//   renegotiation_info). Default suites: TLS_PSK_WITH_ 3DES_EDE_CBC_SHA, AES_128_CBC_SHA, AES_256_CBC_SHA,
//   AES_128_CBC_SHA256, AES_256_CBC_SHA384, AES_128_GCM_SHA256, AES_256_GCM_SHA384, AES_128_CCM,
//   AES_256_CCM, AES_128_CCM_8, AES_256_CCM_8 (in that order).
// - Its UDP socket binds to all interfaces on an ephemeral port (there is no bind address option).
// - Events: 'connected', 'message', 'error' (fatal alerts received: "received fatal alert: <name>"),
//   'close'. close() sends close_notify and throws when the socket has already gone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import type { dtls as NdcNamespace } from 'node-dtls-client';

export type NodeDtlsClient = typeof NdcNamespace;
export type NdcSocket = NdcNamespace.Socket;
export type NdcOptions = NdcNamespace.Options;

// Kept out of tsc's reach: with "module": "commonjs" a literal import() would become require().
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

/** The installed version (read from its package.json), or null when it is not installed. */
export function nodeDtlsClientVersion(): string | null {
  try {
    let dir = path.dirname(require.resolve('node-dtls-client'));
    while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
    return pkg.name === 'node-dtls-client' && typeof pkg.version === 'string' ? pkg.version : null;
  } catch {
    return null;
  }
}

let cached: Promise<{ dtls: NodeDtlsClient | null; reason?: string }> | undefined;

/** The `dtls` namespace of node-dtls-client, or null with the reason when it cannot be loaded. */
export function loadNodeDtlsClient(): Promise<{ dtls: NodeDtlsClient | null; reason?: string }> {
  cached ??= (async () => {
    try {
      const mod = (await importEsm(pathToFileURL(require.resolve('node-dtls-client')).href)) as { dtls?: NodeDtlsClient };
      if (mod.dtls === undefined || typeof mod.dtls.createSocket !== 'function') throw new Error('no dtls.createSocket export');
      return { dtls: mod.dtls };
    } catch (err) {
      return { dtls: null, reason: `node-dtls-client cannot be loaded: ${(err as Error).message}` };
    }
  })();
  return cached;
}
