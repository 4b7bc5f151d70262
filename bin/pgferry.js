#!/usr/bin/env node
'use strict';
// The compiled CLI (npm ci runs `prepare`, which builds dist/).
const { main } = require('../dist/client/cli.js');
main(process.argv.slice(2)).then((code) => process.exit(code));
