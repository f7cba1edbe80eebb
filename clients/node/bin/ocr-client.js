#!/usr/bin/env node
'use strict';
// ocr-client-node [--target host:port] COMMAND: the Node.js twin of the Python `ocr-client` command.
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { OcrClient, toJson } = require('../src/index.js');

const USAGE = `usage: ocr-client-node [--target host:port] [--timeout-ms N] [--ca FILE] [--cert FILE --key FILE]
                       [--token TOKEN] {recognize,info,health} ...

security:
  --ca FILE          PEM CA that signed the server's certificate: turns TLS on (OCR_CA)
  --cert, --key      PEM client certificate and key for mutual TLS (OCR_CERT, OCR_KEY)
  --token TOKEN      bearer token (prefer OCR_TOKEN: a flag shows in the process list)

commands:
  recognize [--json] [--skip-detection] FILE...   print the text of image files; --json prints one object per
                                                  image: {"image": FILE} and the proto3 JSON mapping of
                                                  ocr.v1.RecognizeResponse (the shape of the Python CLIs)
  info                                            models, backend, precision per stage and why, limits (JSON)
  health                                          grpc.health.v1 status; exit 0 only when SERVING

Every failure is one line on stderr, "error: <message> [<REASON>]", and a non-zero exit.`;

function fail(message, reason, prefix = '') {
  console.error(`${prefix}error: ${message} [${reason}]`);
}

function reasonOf(error) {
  if (error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'EISDIR') return 'IMAGE_UNREADABLE';
  return error.reason || error.codeName || 'CLIENT_ERROR';
}

async function recognize(client, files, values) {
  let failures = 0;
  for (const file of files) {
    try {
      const response = await client.recognize(fs.readFileSync(file), { skipDetection: values['skip-detection'] });
      if (values.json) console.log(JSON.stringify({ image: file, ...toJson(response) }));
      else {
        if (files.length > 1) console.log(`== ${file}`);
        console.log(response.text);
      }
    } catch (error) {
      failures += 1;
      const message = error.details || error.message;
      fail(message, reasonOf(error), `${file}: `);
      if (values.json) {
        const body = { reason: reasonOf(error), message };
        console.log(JSON.stringify({
          image: file, error: typeof error.code === 'number' ? { code: error.code, ...body } : body,
        }));
      }
    }
  }
  return failures ? 1 : 0;
}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string', default: process.env.OCR_TARGET || 'localhost:50051' },
        'timeout-ms': { type: 'string', default: '60000' },
        ca: { type: 'string', default: process.env.OCR_CA || undefined },
        cert: { type: 'string', default: process.env.OCR_CERT || undefined },
        key: { type: 'string', default: process.env.OCR_KEY || undefined },
        token: { type: 'string', default: process.env.OCR_TOKEN || undefined },
        'server-name': { type: 'string' },
        json: { type: 'boolean', default: false },
        'skip-detection': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    fail(error.message, 'USAGE_INVALID');
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...files] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!['recognize', 'info', 'health'].includes(command) || (command === 'recognize' && files.length === 0)) {
    const what = command === undefined ? 'no command given'
      : command === 'recognize' ? 'recognize needs at least one FILE' : `unknown command '${command}'`;
    fail(`${what}; choose one of recognize, info, health (--help)`, 'USAGE_INVALID');
    return 2;
  }
  let client;
  try {
    client = new OcrClient(values.target, {
      timeoutMs: Number(values['timeout-ms']),
      ca: values.ca,
      cert: values.cert,
      key: values.key,
      token: values.token,
      serverName: values['server-name'],
    });
  } catch (error) {
    fail(error.message, error.code === 'ENOENT' || error.code === 'EACCES' ? 'CREDENTIALS_UNREADABLE' : 'USAGE_INVALID');
    return 2;
  }
  try {
    if (command === 'recognize') return await recognize(client, files, values);
    if (command === 'info') {
      const info = toJson(await client.getServerInfo(), 'ocr.v1.GetServerInfoResponse');
      console.log(JSON.stringify(info, null, 2));
      for (const s of info.stage_precisions) console.error(`${s.stage}: ${s.precision} (${s.reason})`);
      return 0;
    }
    const status = await client.health();
    console.log(status);
    return status === 'SERVING' ? 0 : 1;
  } catch (error) {
    fail(error.details || error.message, reasonOf(error));
    return 1;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
