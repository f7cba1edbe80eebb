'use strict';
// Runs against a live mutual-TLS server with a tokens file: OCR_NODE_TLS_FIXTURE names a JSON file with the
// target, the PKI's files and a token (tests/clients/test_secure_clients.py writes it and starts the server).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { OcrClient, OcrCallError, status } = require('../src/index.js');

const fixture = JSON.parse(fs.readFileSync(process.env.OCR_NODE_TLS_FIXTURE, 'utf8'));
const word = fs.readFileSync(fixture.word);

function clientWith(options) {
  return new OcrClient(fixture.target, { timeoutMs: 60000, ...options });
}

test('mutual TLS with a client certificate (paths) is served', async () => {
  const client = clientWith({ ca: fixture.ca, cert: fixture.cert, key: fixture.key });
  try {
    assert.equal(await client.health(), 'SERVING');
    const response = await client.recognize(word, { skipDetection: true });
    assert.equal(response.text, fixture.word_text);
  } finally {
    client.close();
  }
});

test('a token over mutual TLS (buffers); a wrong one is UNAUTHENTICATED with its reason', async () => {
  const pems = { ca: fs.readFileSync(fixture.ca), cert: fs.readFileSync(fixture.cert), key: fs.readFileSync(fixture.key) };
  const good = clientWith({ ...pems, token: fixture.token });
  const bad = clientWith({ ...pems, token: 'not-the-token' });
  try {
    const responses = await good.streamRecognize([word], { config: { options: { skip_detection: true } } });
    assert.ok(responses.length >= 1);
    await assert.rejects(bad.recognize(word, { skipDetection: true }), (error) => {
      assert.ok(error instanceof OcrCallError);
      assert.equal(error.code, status.UNAUTHENTICATED);
      assert.equal(error.reason, 'TOKEN_INVALID');
      assert.ok(error.requestId);
      return true;
    });
  } finally {
    good.close();
    bad.close();
  }
});

test('a certificate from another CA is refused at the handshake', async () => {
  const client = clientWith({ ca: fixture.ca, cert: fixture.other_cert, key: fixture.other_key, timeoutMs: 10000 });
  try {
    await assert.rejects(client.recognize(word, { skipDetection: true }),
      (error) => error.code === status.UNAVAILABLE && error.reason === null);
  } finally {
    client.close();
  }
});

test('the CLI takes --ca, --cert, --key and OCR_TOKEN', () => {
  const cli = path.resolve(__dirname, '..', 'bin', 'ocr-client.js');
  const out = execFileSync(process.execPath, [cli, '--target', fixture.target, '--ca', fixture.ca, '--cert',
    fixture.cert, '--key', fixture.key, 'recognize', '--skip-detection', fixture.word],
  { env: { ...process.env, OCR_TOKEN: fixture.token }, encoding: 'utf8' });
  assert.equal(out.trim(), fixture.word_text);
});
