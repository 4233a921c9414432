#!/usr/bin/env node
// Makes the N-API-free part of the native session compilable without node, for the fuzz harness.
//
//   node native/fuzz/transplant.js <out-dir>
//
// SessionHandle is an N-API ObjectWrap, but most of it — Feed, DriveHandshake, ReadAll, WritePlaintext,
// HandleTimer, Shutdown, the framing check, every OpenSSL callback (message, info, verify, timer, cookie,
// keylog), the resumption policy — touches no N-API. Rather than copy that logic into the harness (where it
// would drift from the real thing), this tool rewrites the real sources into <out-dir>:
//
//   session_handle.h   native/session_handle.h with the ObjectWrap base removed, every declaration that
//                      mentions Napi dropped, `friend class fuzz::FuzzDriver;` and a default constructor added;
//   session_handle.cc  native/session_handle.cc keeping every top-level item (function, constant, enum)
//                      whose code mentions neither `Napi` nor `addon_`, each under a #line directive, so
//                      compiler errors and sanitizer stack traces name native/session_handle.cc:<line>;
//   openssl_error.cc   native/openssl_error.cc filtered the same way (DrainErrors, SnapshotErrors, ...);
//   context_handle.cc  native/context_handle.cc filtered the same way (default suites, ALPN selection,
//                      PEM helpers; ContextState's destructor): the harness #includes it and configures
//                      its contexts with those items, as ContextHandle::Configure does.
//
// What is dropped (the constructor, Destroy, Step, BuildResult, the JS methods) is what the harness
// re-creates from the same OpenSSL calls (native/fuzz/harness.cc). Any other change to the sources flows
// into the fuzzer automatically; a change the filter cannot take makes the fuzz build fail loudly (fix the
// harness, not the filter).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node native/fuzz/transplant.js <out-dir>');
  process.exit(2);
}

// Splits C++ source into top-level items. An item is everything (leading comments included) up to a `;`
// at scope level or a brace block closed at scope level (plus a directly following `;`). Namespace braces
// (and the braces of a class named in `scopeClass`) are scopes: their head and closing brace are passed
// through and their contents are split in turn. Preprocessor lines and access specifiers pass through.
function split(src, scopeClass) {
  const items = []; // { kind: 'item' | 'pass', text, code, line }
  let i = 0;
  let line = 1;
  let start = 0;
  let startLine = 1;
  let code = ''; // the current item's text without comments and literals' contents
  let depth = 0; // braces inside the current item
  const scopes = [];
  const atLineStart = () => src.slice(src.lastIndexOf('\n', i - 1) + 1, i).trim() === '';
  const emit = (kind, end) => {
    const text = src.slice(start, end);
    if (text.trim() !== '') items.push({ kind, text, code, line: startLine + leadingBlankLines(text) });
    start = end;
    startLine = line;
    code = '';
  };
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === '\n') {
      line++;
      i++;
      code += ' ';
      continue;
    }
    if (c === '/' && next === '/') {
      const end = src.indexOf('\n', i);
      i = end === -1 ? src.length : end;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end === -1) throw new Error(`unterminated comment at line ${line}`);
      for (let k = i; k < end; k++) if (src[k] === '\n') line++;
      i = end + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      let k = i + 1;
      while (k < src.length && src[k] !== c) {
        if (src[k] === '\\') k++;
        if (src[k] === '\n') throw new Error(`unterminated literal at line ${line}`);
        k++;
      }
      code += src.slice(i, k + 1);
      i = k + 1;
      continue;
    }
    if (c === '#' && depth === 0 && atLineStart()) {
      // A preprocessor line: flush what came before (comments only), pass the line through.
      if (code.trim() !== '') throw new Error(`preprocessor line inside an item at line ${line}`);
      let end = src.indexOf('\n', i);
      while (end !== -1 && src[end - 1] === '\\') end = src.indexOf('\n', end + 1);
      end = end === -1 ? src.length : end + 1;
      i = end;
      line++;
      emit('pass', end);
      continue;
    }
    code += c;
    if (c === '{') {
      if (depth === 0) {
        const head = code.slice(0, -1).trim();
        if (/^(inline\s+)?namespace(\s+\w+)?$/.test(head) || (scopeClass && new RegExp(`^class\\s+${scopeClass}\\b`).test(head))) {
          scopes.push(head);
          i++;
          emit('open', i);
          continue;
        }
      }
      depth++;
    } else if (c === '}') {
      if (depth === 0) {
        if (scopes.length === 0) throw new Error(`unbalanced } at line ${line}`);
        scopes.pop();
        i++;
        // `};` closing a class scope
        if (src[i] === ';') i++;
        emit('close', i);
        continue;
      }
      depth--;
      if (depth === 0) {
        i++;
        if (src[i] === ';') {
          code += ';';
          i++;
        }
        emit('item', i);
        continue;
      }
    } else if (c === ';' && depth === 0) {
      i++;
      emit('item', i);
      continue;
    } else if (c === ':' && depth === 0 && /^\s*(public|private|protected)\s*:$/.test(code)) {
      i++;
      emit('pass', i);
      continue;
    }
    i++;
  }
  if (scopes.length !== 0 || depth !== 0) throw new Error('unbalanced braces at end of file');
  emit('pass', src.length);
  return items;
}

function leadingBlankLines(text) {
  let n = 0;
  for (const l of text.split('\n')) {
    if (l.trim() !== '') break;
    n++;
  }
  return n;
}

const napiFree = (item) => !/\bNapi\b|\baddon_\b/.test(item.code);

function transplantSource(rel, out) {
  const file = path.join(root, rel);
  const items = split(fs.readFileSync(file, 'utf8'));
  const kept = [];
  const dropped = [];
  const parts = [`// Generated by native/fuzz/transplant.js from ${rel}: do not edit.\n`];
  for (const it of items) {
    if (it.kind === 'item') {
      const name = (it.code.match(/([\w:~]+)\s*\(/) || it.code.match(/(\w+)\s*[=;{]/) || [, '?'])[1];
      if (!napiFree(it)) {
        dropped.push(name);
        continue;
      }
      kept.push(name);
      parts.push(`#line ${it.line} "${rel}"\n${it.text.replace(/^\s*\n/, '')}\n`);
    } else {
      parts.push(it.text.endsWith('\n') ? it.text : `${it.text}\n`);
    }
  }
  fs.writeFileSync(path.join(outDir, out), parts.join(''));
  return { kept, dropped };
}

function transplantHeader(rel, out) {
  const file = path.join(root, rel);
  const items = split(fs.readFileSync(file, 'utf8'), 'SessionHandle');
  const parts = [`// Generated by native/fuzz/transplant.js from ${rel}: do not edit.\n`];
  let classes = 0;
  for (const it of items) {
    if (it.kind === 'open' && /class\s+SessionHandle\b/.test(it.code)) {
      classes++;
      parts.push(
        it.text.replace(/class\s+SessionHandle\b[^{]*\{/, 'namespace fuzz {\nclass FuzzDriver;\n}  // namespace fuzz\n\nclass SessionHandle {') +
          '\n  friend class fuzz::FuzzDriver;  // the harness stands in for the N-API constructor and step\n' +
          '  SessionHandle();\n',
      );
    } else if (it.kind === 'item' && !napiFree(it)) {
      continue;
    } else {
      parts.push(it.text.replace(/\)\s*override\s*;/, ');'));
    }
  }
  if (classes !== 1) throw new Error(`${rel}: expected one class SessionHandle, found ${classes}`);
  fs.writeFileSync(path.join(outDir, out), parts.join('') + '\n');
}

fs.mkdirSync(outDir, { recursive: true });
transplantHeader('native/session_handle.h', 'session_handle.h');
const session = transplantSource('native/session_handle.cc', 'session_handle.cc');
const errors = transplantSource('native/openssl_error.cc', 'openssl_error.cc');
const context = transplantSource('native/context_handle.cc', 'context_handle.cc');
console.log(`transplant: session_handle.cc keeps ${session.kept.length} items, drops (N-API) ${session.dropped.join(', ')}`);
console.log(`transplant: openssl_error.cc keeps ${errors.kept.length} items, drops (N-API) ${errors.dropped.join(', ')}`);
console.log(`transplant: context_handle.cc keeps ${context.kept.length} items, drops (N-API) ${context.dropped.join(', ')}`);
