// The ESM entry of openssl-dtls (package.json "exports" → "import").
//
// The library is one CommonJS build (lib/); this file re-exports it, so `import` and `require` share one
// instance: one loaded addon, one DtlsError class (instanceof works across both), one set of live
// sessions. Node finds the named exports of lib/index.js statically (cjs-module-lexer), so every export
// added to src/index.ts appears here without editing this file; scripts/pack-test.sh checks that the ESM
// and CommonJS export lists are identical.
export * from './lib/index.js';
export { default } from './lib/index.js';
