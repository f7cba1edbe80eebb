#!/usr/bin/env node
'use strict';
// ocr-client-node [--target host:port] COMMAND: the Node.js twin of the Python `ocr-client` command.
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { OcrClient, toJson } = require('../src/index.js');

const COMMANDS = ['recognize', 'document', 'info', 'health'];
const TO = ['json', 'text', 'md', 'hocr', 'alto', 'pdf'];
const TEXT_LAYERS = ['auto', 'ignore', 'only'];
const STRERROR = { ENOENT: 'No such file or directory', EACCES: 'Permission denied', EISDIR: 'Is a directory' };
const DEFAULT_TIMEOUT_MS = 60000;

const USAGE = `usage: ocr-client-node [--target host:port] [--timeout-ms N] [--ca FILE] [--cert FILE --key FILE]
                       [--token TOKEN] {recognize,document,info,health} ...

security:
  --ca FILE          PEM CA that signed the server's certificate: turns TLS on (OCR_CA)
  --cert, --key      PEM client certificate and key for mutual TLS (OCR_CERT, OCR_KEY)
  --token TOKEN      bearer token (prefer OCR_TOKEN: a flag shows in the process list)

commands:
  recognize [--json] [--skip-detection] FILE...   print the text of image files; --json prints one object per
                                                  image: {"image": FILE} and the proto3 JSON mapping of
                                                  ocr.v1.RecognizeResponse (the shape of the Python CLIs)
  document IN --to json|text|md|hocr|alto|pdf [-o OUT] [--pages 1-3,7] [--text-layer auto|ignore|only]
           [--password P]                         read a PDF, TIFF or image page by page, as
                                                  \`python -m edge_runtime document\`: json prints one line per
                                                  page (the proto3 JSON mapping of ocr.v1.Page) as it arrives;
                                                  the other formats are written by the server and streamed to
                                                  OUT or stdout (pdf needs -o). A page that cannot be read is
                                                  "error: page N cannot be read [REASON]" and exit code 1 once
                                                  the rest is written; a document that cannot be, exit code 2
  info                                            models, backend, precision per stage and why, limits (JSON)
  health                                          grpc.health.v1 status; exit 0 only when SERVING

Every failure is one line on stderr, "error: <message> [<REASON>]", and a non-zero exit; a call that never
reached the server (UNAVAILABLE, no reason) adds a hint of what to check: the TLS flags, or that nothing serves.`;

function fail(message, reason, prefix = '') {
  console.error(`${prefix}error: ${message} [${reason}]`);
}

/**
 * What to check when a call never reached the server (UNAVAILABLE with no reason: gRPC's own failure, such as a
 * refused TLS handshake, whose message names no cause), for the error line; '' for any other error. The same
 * words as the Python ocr-client's.
 */
function connectionHint(error, values) {
  if (!(error.codeName === 'UNAVAILABLE' || error.code === 14) || error.reason) return '';
  if (values.ca) {
    return `; hint: no server answered at ${values.target}, or the TLS handshake failed: check that --ca signed `
      + "the server's certificate (and --server-name matches it), and, where the server asks for client "
      + 'certificates, that --cert/--key come from the CA it trusts';
  }
  return `; hint: no server answered at ${values.target}; if it serves TLS, pass --ca (and --cert/--key where it `
    + 'asks for a client certificate)';
}

/** The error's text, less grpc-js's empty "Resolution note: " at the end of a connection failure. */
function detailsOf(error) {
  return (error.details || error.message).replace(/\.?\s*Resolution note:\s*$/, '');
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
      const message = detailsOf(error);
      fail(message + connectionHint(error, values), reasonOf(error), `${file}: `);
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

/** Standard output, or the file OUT opened at the first write (a document that cannot be read leaves none). */
class Sink {
  constructor(file) {
    this.file = file;
    this.fd = null;
  }

  write(content) {
    if (this.file === undefined) {
      process.stdout.write(content);
      return;
    }
    try {
      if (this.fd === null) {
        fs.mkdirSync(path.dirname(path.resolve(this.file)), { recursive: true });
        this.fd = fs.openSync(this.file, 'w');
      }
      fs.writeSync(this.fd, content);
    } catch (error) {
      const failure = new Error(`cannot write ${this.file}: ${STRERROR[error.code] || error.message}`);
      failure.reason = 'OUTPUT_UNWRITABLE';
      throw failure;
    }
  }

  close() {
    if (this.file === undefined) return;
    if (this.fd === null) this.write(Buffer.alloc(0));
    fs.closeSync(this.fd);
    this.fd = null;
  }
}

async function document(client, file, values) {
  let call;
  try {
    call = client.recognizeDocument(file, {
      pages: values.pages,
      textLayer: values['text-layer'],
      password: values.password,
      formats: values.to === 'json' ? [] : [values.to],
      timeoutMs: values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms']),
    });
  } catch (error) {
    if (!error.code || typeof error.code !== 'string') throw error;
    fail(`cannot read ${file}: ${STRERROR[error.code] || error.message}`, 'DOCUMENT_UNREADABLE');
    return 2;
  }
  const sink = new Sink(values.output);
  let failed = 0;
  try {
    for await (const response of call) {
      if (response.output) {
        sink.write(response.output.content);
        continue;
      }
      const { page } = response;
      if (page.error) {
        failed += 1;
        fail(`page ${page.page_number} cannot be read`, page.error.reason || String(page.error.code));
      }
      if (values.to === 'json') sink.write(`${JSON.stringify(toJson(page, 'ocr.v1.Page'))}\n`);
    }
    sink.close();
  } catch (error) {
    const reason = error.reason || (typeof error.code === 'string' ? 'DOCUMENT_UNREADABLE' : error.codeName);
    const message = typeof error.code === 'string' && !error.reason
      ? `cannot read ${file}: ${STRERROR[error.code] || error.message}` : error.details || error.message;
    fail(message + connectionHint(error, values), reason || 'CLIENT_ERROR');
    return 2;
  }
  return failed ? 1 : 0;
}

function usageError(command, files, values) {
  if (command === undefined) return 'no command given';
  if (!COMMANDS.includes(command)) return `unknown command '${command}'`;
  if (command === 'recognize' && files.length === 0) return 'recognize needs at least one FILE';
  if (command !== 'document') return null;
  if (files.length !== 1) return 'document needs one IN';
  if (!TO.includes(values.to)) return `document needs --to, one of ${TO.join(', ')}`;
  if (!TEXT_LAYERS.includes(values['text-layer'])) return `--text-layer must be one of ${TEXT_LAYERS.join(', ')}`;
  if (values.to === 'pdf' && values.output === undefined) return '--to pdf needs -o OUT';
  return null;
}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string', default: process.env.OCR_TARGET || 'localhost:50051' },
        'timeout-ms': { type: 'string' },
        ca: { type: 'string', default: process.env.OCR_CA || undefined },
        cert: { type: 'string', default: process.env.OCR_CERT || undefined },
        key: { type: 'string', default: process.env.OCR_KEY || undefined },
        token: { type: 'string', default: process.env.OCR_TOKEN || undefined },
        'server-name': { type: 'string' },
        json: { type: 'boolean', default: false },
        'skip-detection': { type: 'boolean', default: false },
        to: { type: 'string' },
        output: { type: 'string', short: 'o' },
        pages: { type: 'string', default: '' },
        'text-layer': { type: 'string', default: 'auto' },
        password: { type: 'string' },
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
  const what = usageError(command, files, values);
  if (what !== null) {
    fail(`${what}; see --help (commands: ${COMMANDS.join(', ')})`, 'USAGE_INVALID');
    return 2;
  }
  let client;
  try {
    client = new OcrClient(values.target, {
      timeoutMs: values['timeout-ms'] === undefined ? DEFAULT_TIMEOUT_MS : Number(values['timeout-ms']),
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
    if (command === 'document') return await document(client, files[0], values);
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
    fail(detailsOf(error) + connectionHint(error, values), reasonOf(error));
    return 1;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
