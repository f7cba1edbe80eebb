'use strict';
// Runs against a live server: OCR_NODE_FIXTURE names a JSON file with the target, test images and the text the
// in-process engine reads in them (tests/clients/test_node_client.py writes it and starts the server).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { OcrClient, OcrCallError, status, toJson } = require('../src/index.js');

const fixture = JSON.parse(fs.readFileSync(process.env.OCR_NODE_FIXTURE, 'utf8'));
const client = new OcrClient(fixture.target, { timeoutMs: 120000 });
test.after(() => client.close());

test('health and server info', async () => {
  assert.equal(await client.health(), 'SERVING');
  const info = await client.getServerInfo();
  assert.equal(info.ready, true);
  assert.equal(info.provenance.bundle_id, fixture.bundle_id);
  assert.ok(info.pixel_formats.includes('PIXEL_FORMAT_NV12'));
  assert.deepEqual(info.stage_precisions.map((s) => s.stage), ['det', 'cls', 'rec']);
  assert.ok(info.stage_precisions.every((s) => s.precision && s.reason));
});

test('recognize returns the engine text with polygons', async () => {
  const response = await client.recognize(fs.readFileSync(fixture.scene));
  assert.deepEqual(response.lines.map((l) => l.text), fixture.scene_lines);
  assert.equal(response.image_width, fixture.scene_size[0]);
  assert.equal(response.image_height, fixture.scene_size[1]);
  for (const line of response.lines) {
    assert.equal(line.polygon.length, 4);
    assert.ok(line.confidence > 0 && line.confidence <= 1);
  }
});

test('raw pixels and skip detection', async () => {
  const word = fs.readFileSync(fixture.word);
  const encoded = await client.recognize(word, { skipDetection: true });
  assert.equal(encoded.text, fixture.word_text);
  const gray = fixture.gray;
  const raw = await client.recognize(
    { width: gray.width, height: gray.height, pixelFormat: 'GRAY8', data: fs.readFileSync(gray.path) },
  );
  assert.deepEqual(raw.lines.map((l) => l.text), gray.lines);
});

test('errors carry code and reason', async () => {
  await assert.rejects(client.recognize(Buffer.from('not an image')), (error) => {
    assert.ok(error instanceof OcrCallError);
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.equal(error.reason, 'IMAGE_UNDECODABLE');
    return true;
  });
  await assert.rejects(client.recognize({}), (error) => error.reason === 'IMAGE_MISSING');
});

test('batch keeps order and isolates a bad image', async () => {
  const word = fs.readFileSync(fixture.word);
  const responses = await client.batchRecognize([word, Buffer.from('garbage'), word], { skipDetection: true });
  assert.equal(responses.length, 3);
  assert.equal(responses[0].text, fixture.word_text);
  assert.equal(responses[0].error, null);
  assert.equal(responses[2].error, null);
  assert.equal(responses[1].error.reason, 'IMAGE_UNDECODABLE');
  assert.equal(responses[1].error.code, status.INVALID_ARGUMENT);
  assert.equal(responses[2].text, fixture.word_text);
});

test('stream answers every frame in order', async () => {
  const word = fs.readFileSync(fixture.word);
  const responses = await client.streamRecognize([word, Buffer.alloc(0), word], {
    config: { options: { skip_detection: true }, flow_control: 'FLOW_CONTROL_ALL' },
  });
  // one response per frame, then at most one end-of-stream flush (its DISAPPEARED events)
  assert.ok(responses.length === 3 || responses.length === 4, `got ${responses.length} responses`);
  assert.deepEqual(responses.slice(0, 3).map((r) => r.sequence), [0, 1, 2]);
  assert.equal(responses[0].error, null);
  assert.equal(responses[1].error.reason, 'IMAGE_EMPTY');
  assert.deepEqual(responses[2].lines.map((l) => l.text), [fixture.word_text]);
});

const CLI = path.join(__dirname, '..', 'bin', 'ocr-client.js');

test('command line prints the text', () => {
  const out = execFileSync(process.execPath, [
    CLI, '--target', fixture.target, 'recognize', '--skip-detection', fixture.word,
  ], { encoding: 'utf8' });
  assert.equal(out.trim(), fixture.word_text);
});

test('recognize --json prints the proto3 JSON mapping', async () => {
  const out = execFileSync(process.execPath, [CLI, '--target', fixture.target, 'recognize', '--json', fixture.scene],
    { encoding: 'utf8' });
  const row = JSON.parse(out);
  assert.equal(row.image, fixture.scene);
  assert.deepEqual(row.lines.map((l) => l.text), fixture.scene_lines);
  assert.equal('error' in row, false);
  const direct = toJson(await client.recognize(fs.readFileSync(fixture.scene)));
  delete direct.timings;
  delete row.timings;
  delete row.image;
  assert.deepEqual(row, direct);
});

// ---- documents: RecognizeDocument, the library and `document` (the fixture's pages are the in-process reader's)
const doc = fixture.document;
const withoutTimings = ({ timings, ...rest }) => rest;

function runCli(args) {
  try {
    const stdout = execFileSync(process.execPath, [CLI, '--target', fixture.target, ...args],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    return { code: error.status, stdout: error.stdout, stderr: error.stderr };
  }
}

test('recognizeDocument yields the pages of the in-process reader, then the files', async () => {
  const call = client.recognizeDocument(doc.path, { chunkBytes: 1000, formats: ['text'] });
  const pages = [];
  const text = [];
  for await (const response of call) {
    if (response.page) pages.push(response.page);
    else text.push(response.output.content);
  }
  assert.deepEqual(pages.map((page) => withoutTimings(toJson(page, 'ocr.v1.Page'))), doc.pages);
  assert.ok(call.provenance && call.provenance.bundle_id === fixture.bundle_id);
  assert.equal(Buffer.concat(text).toString('utf8'), doc.text);
  const whole = await client.recognizeDocument(fs.readFileSync(doc.path), { formats: ['md'] }).collect();
  assert.equal(whole.pages.length, 3);
  assert.deepEqual(Object.keys(whole.outputs), ['md']);
});

test('pages() writes the searchable PDF as it arrives', async () => {
  const call = client.recognizeDocument(doc.path, { formats: ['pdf'], chunkBytes: 512 });
  const numbers = [];
  for await (const page of call.pages({ outputs: { pdf: doc.pdf_out } })) numbers.push(page.page_number);
  assert.deepEqual(numbers, [1, 2, 3]);
  assert.equal(fs.readFileSync(doc.pdf_out).subarray(0, 5).toString(), '%PDF-'); // its words: checked in Python
  const missing = client.recognizeDocument(doc.path, { formats: ['pdf'] });
  await assert.rejects(missing.pages().next(), /no place given to write the pdf output/);
});

test('document prints what the in-process command prints', () => {
  const json = runCli(['document', doc.path, '--to', 'json']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(json.stdout.trim().split('\n').map((line) => withoutTimings(JSON.parse(line))), doc.pages);
  const text = runCli(['document', doc.path, '--to', 'text']);
  assert.equal(text.stdout, doc.text);
  const pdf = runCli(['document', doc.path, '--to', 'pdf', '-o', doc.pdf_cli_out]);
  assert.equal(pdf.code, 0, pdf.stderr);
  assert.equal(pdf.stdout, '');
  const usage = runCli(['document', doc.path, '--to', 'pdf']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /\[USAGE_INVALID\]\n$/);
});

test('document: a bad page is exit 1 with the others written, a bad document exit 2', () => {
  const huge = runCli(['document', doc.huge, '--to', 'text']);
  assert.equal(huge.code, 1);
  assert.equal(huge.stderr, 'error: page 2 cannot be read [PAGE_TOO_LARGE]\n');
  assert.deepEqual(huge.stdout.split('\f').slice(0, 3).map((page) => page.split(/\s+/).filter(Boolean)),
    [doc.words[0], [], doc.words[2]]);
  const corrupt = runCli(['document', doc.corrupt, '--to', 'json']);
  assert.equal(corrupt.code, 2);
  assert.equal(corrupt.stdout, '');
  assert.match(corrupt.stderr, /^error: .* \[DOCUMENT_UNREADABLE\]\n$/);
  const absent = runCli(['document', `${doc.path}.absent`, '--to', 'json']);
  assert.equal(absent.code, 2);
  assert.match(absent.stderr, /^error: cannot read .*: No such file or directory \[DOCUMENT_UNREADABLE\]\n$/);
});

test('leaving the loop early cancels the call; call errors carry their reason', async () => {
  const call = client.recognizeDocument(doc.scans, { formats: ['pdf'] });
  const ended = new Promise((resolve) => { call.call.on('status', resolve); });
  for await (const response of call) {
    assert.equal(response.page.page_number, 1);
    break;
  }
  assert.equal((await ended).code, status.CANCELLED);
  await assert.rejects(client.recognizeDocument(Buffer.from('not a document')).collect(), (error) => {
    assert.ok(error instanceof OcrCallError);
    assert.equal(error.code, status.INVALID_ARGUMENT);
    assert.equal(error.reason, 'DOCUMENT_UNREADABLE');
    return true;
  });
  assert.equal((await client.recognizeDocument(doc.path).collect()).pages.length, 3); // still serving
});
