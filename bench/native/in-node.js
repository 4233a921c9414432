#!/usr/bin/env node
// Runs the C ceiling inside node, on node's own OpenSSL (see in_node.c):
//   node bench/native/in-node.js CERT.pem KEY.pem handshakes|records N
'use strict';
const path = require('node:path');

const [cert, key, mode, n] = process.argv.slice(2);
if (n === undefined) {
  console.error('usage: node bench/native/in-node.js CERT.pem KEY.pem handshakes|records N');
  process.exit(2);
}
// eslint-disable-next-line import/no-dynamic-require
const ceiling = require(path.join(__dirname, 'build', 'in_node.node'));
process.exitCode = ceiling.run(cert, key, mode, n);
