#!/usr/bin/env node
'use strict';
// ocr-client-node [--target host:port] [--json] [--skip-detection] FILE...: print the text of image files.
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { OcrClient } = require('../src/index.js');

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      target: { type: 'string', default: process.env.OCR_TARGET || 'localhost:50051' },
      json: { type: 'boolean', default: false },
      'skip-detection': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log('usage: ocr-client-node [--target host:port] [--json] [--skip-detection] FILE...');
    return values.help ? 0 : 2;
  }
  const client = new OcrClient(values.target);
  let failures = 0;
  for (const file of positionals) {
    try {
      const response = await client.recognize(fs.readFileSync(file), { skipDetection: values['skip-detection'] });
      if (values.json) console.log(JSON.stringify({ image: file, ...response }));
      else {
        if (positionals.length > 1) console.log(`== ${file}`);
        console.log(response.text);
      }
    } catch (error) {
      failures += 1;
      console.error(`${file}: error: ${error.details || error.message} [${error.reason || error.code}]`);
    }
  }
  client.close();
  return failures ? 1 : 0;
}

main().then((code) => { process.exitCode = code; });
