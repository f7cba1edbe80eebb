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
