#!/usr/bin/env node
'use strict';
// The compiled CLI (npm ci runs `prepare`, which builds dist/).
const { main } = require('../dist/client/cli.js');

// process.exit drops what a pipe has not taken yet: a --json document larger than the pipe's
// buffer (64 kB; a migration of 2,000 tables) reached a slower reader cut short. An empty write's
// callback runs once every earlier write is through.
const flushed = (stream) => new Promise((resolve) => stream.write('', resolve));

main(process.argv.slice(2)).then(async (code) => {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
});
