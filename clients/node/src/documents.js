'use strict';
/**
 * RecognizeDocument for the Node.js client: the file goes out in chunks after its options (read from disk only as
 * gRPC takes them), pages and output files come back as they arrive, so a long document's searchable PDF is never
 * held whole.
 *
 *   const call = client.recognizeDocument('contract.pdf', { formats: ['pdf'] });
 *   for await (const page of call.pages({ outputs: { pdf: 'contract.ocr.pdf' } })) {
 *     console.log(page.page_number, page.error ? page.error.reason : page.text.slice(0, 40));
 *   }
 *
 * Iterating a DocumentCall yields the RecognizeDocumentResponse objects: `{ page }` in page order, then
 * `{ output: { format, content, last } }` for each format asked for; the first also carries `provenance`.
 * Breaking out of the loop, or `cancel()`, cancels the call. A document that cannot be opened rejects with
 * OcrCallError; a page that cannot be read has `error` set and the other pages still come.
 */
const fs = require('node:fs');
const { once } = require('node:events');

const OUTPUT_FORMATS = {
  text: 'OUTPUT_FORMAT_TEXT',
  md: 'OUTPUT_FORMAT_MARKDOWN',
  hocr: 'OUTPUT_FORMAT_HOCR',
  alto: 'OUTPUT_FORMAT_ALTO',
  pdf: 'OUTPUT_FORMAT_PDF',
};
const FORMAT_NAMES = Object.fromEntries(Object.entries(OUTPUT_FORMATS).map(([name, value]) => [value, name]));
const TEXT_LAYER_MODES = {
  auto: 'TEXT_LAYER_MODE_AUTO', ignore: 'TEXT_LAYER_MODE_IGNORE', only: 'TEXT_LAYER_MODE_ONLY',
};
// Well under any server's message limit (gRPC's default is 4 MiB), large enough that framing costs nothing.
const DEFAULT_CHUNK_BYTES = 1024 * 1024;

/** An OutputFormat enum name from a --to name ('pdf') or the enum name itself ('OUTPUT_FORMAT_PDF'). */
function outputFormat(value) {
  if (OUTPUT_FORMATS[value]) return OUTPUT_FORMATS[value];
  if (FORMAT_NAMES[value]) return value;
  throw new TypeError(`unknown output format ${JSON.stringify(value)}; choose one of ${Object.keys(OUTPUT_FORMATS)}`);
}

function textLayerMode(value) {
  if (TEXT_LAYER_MODES[value]) return TEXT_LAYER_MODES[value];
  if (Object.values(TEXT_LAYER_MODES).includes(value)) return value;
  const choices = Object.keys(TEXT_LAYER_MODES);
  throw new TypeError(`unknown text layer mode ${JSON.stringify(value)}; choose one of ${choices}`);
}

/**
 * The file's size and its chunks (an async iterable of Buffers). A path is checked here, so a missing file
 * throws before any call starts.
 */
function openDocument(document, chunkBytes) {
  if (Buffer.isBuffer(document) || document instanceof Uint8Array) {
    const data = Buffer.from(document);
    return {
      size: data.length,
      chunks: (function* slices() {
        for (let start = 0; start < data.length; start += chunkBytes) yield data.subarray(start, start + chunkBytes);
      }()),
    };
  }
  if (typeof document === 'string') {
    const stat = fs.statSync(document);
    if (!stat.isFile()) {
      const error = new Error(`EISDIR: illegal operation on a directory, read '${document}'`);
      error.code = 'EISDIR';
      throw error;
    }
    return { size: stat.size, chunks: fs.createReadStream(document, { highWaterMark: chunkBytes }) };
  }
  throw new TypeError('document must be a Buffer or a file path');
}

/** Writes chunks of one output file to a path (opened at its first chunk) or a Writable stream, in order. */
class OutputSink {
  constructor(target) {
    this.target = target;
    this.handle = null;
  }

  async write(content) {
    if (typeof this.target === 'string') {
      if (this.handle === null) this.handle = await fs.promises.open(this.target, 'w');
      await this.handle.write(content);
    } else if (!this.target.write(content)) {
      await once(this.target, 'drain');
    }
  }

  async close() {
    if (this.handle !== null) {
      const { handle } = this;
      this.handle = null;
      await handle.close();
    }
  }
}

/** One RecognizeDocument call: an async iterable of its responses, as they arrive. */
class DocumentCall {
  constructor(call, formats, mapError) {
    this.call = call;
    this.formats = formats; // the --to names asked for, in order
    this.mapError = mapError;
    this.sendError = null; // set when reading the file failed (the call is then cancelled)
    this.provenance = null; // of the first response, once it came
  }

  async* [Symbol.asyncIterator]() {
    try {
      for await (const response of this.call) {
        if (response.provenance && this.provenance === null) this.provenance = response.provenance;
        yield response;
      }
    } catch (error) {
      if (this.sendError) throw this.sendError;
      throw typeof error.code === 'number' ? this.mapError(error) : error;
    } finally {
      this.call.cancel(); // a no-op once the call has ended; stops the server when the caller left early
    }
  }

  /** Cancel the call if it is still going: the server stops reading. */
  cancel() {
    this.call.cancel();
  }

  /**
   * The pages as they arrive; each output chunk written to `outputs[format]` (keys: 'pdf', 'hocr', ... or the enum
   * names; values: a path, opened at the file's first chunk, or a Writable) as it comes. Every format asked for
   * needs a place; the files are complete when the iteration ends. Leaving early cancels the call.
   */
  async* pages({ outputs = {} } = {}) {
    const sinks = {};
    for (const [key, target] of Object.entries(outputs)) sinks[outputFormat(key)] = new OutputSink(target);
    const missing = this.formats.filter((name) => !sinks[OUTPUT_FORMATS[name]]);
    if (missing.length) {
      this.cancel();
      throw new TypeError(`no place given to write the ${missing.join(', ')} output`);
    }
    try {
      for await (const response of this) {
        if (response.page) {
          yield response.page;
        } else if (response.output && sinks[response.output.format]) {
          const sink = sinks[response.output.format];
          await sink.write(response.output.content);
          if (response.output.last) await sink.close();
        }
      }
    } finally {
      await Promise.all(Object.values(sinks).map((sink) => sink.close()));
    }
  }

  /** Everything at once (small documents): `{ pages, outputs }`, outputs whole as Buffers by --to name. */
  async collect() {
    const pages = [];
    const parts = {};
    for await (const response of this) {
      if (response.page) pages.push(response.page);
      else if (response.output) (parts[FORMAT_NAMES[response.output.format]] ||= []).push(response.output.content);
    }
    return { pages, outputs: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Buffer.concat(v)])) };
  }
}

/**
 * Start a RecognizeDocument call on `stub`: the options, then the file in chunks with gRPC's flow control
 * respected. Bad options and a missing file throw here, before the call.
 */
function startDocumentCall(stub, metadata, callOptions, document, options, mapError) {
  const {
    pages = '', textLayer = 'auto', password = '', formats = [], chunkBytes = DEFAULT_CHUNK_BYTES,
  } = options;
  if (!(chunkBytes > 0)) throw new RangeError('chunkBytes must be positive');
  const formatValues = formats.map(outputFormat);
  const documentOptions = {
    pages, text_layer: textLayerMode(textLayer), password: password || '', formats: formatValues,
  };
  const source = openDocument(document, chunkBytes);
  documentOptions.total_bytes = source.size;
  const call = stub.RecognizeDocument(metadata, callOptions);
  call.on('error', () => {}); // reported by the iteration; a late one (after the caller left) must not crash
  const result = new DocumentCall(call, formatValues.map((value) => FORMAT_NAMES[value]), mapError);
  (async () => {
    call.write({ options: documentOptions });
    for await (const chunk of source.chunks) {
      if (call.destroyed || call.writableEnded) break; // cancelled: stop reading the file
      if (!call.write({ chunk })) await once(call, 'drain');
    }
    if (!call.destroyed && !call.writableEnded) call.end();
  })().catch((error) => {
    if (typeof error.code !== 'number') { // reading the file failed (a gRPC error is the reader's to report)
      result.sendError = error;
      call.cancel();
    }
    if (typeof source.chunks.destroy === 'function') source.chunks.destroy();
  });
  return result;
}

module.exports = {
  DocumentCall, startDocumentCall, openDocument, outputFormat, OUTPUT_FORMATS, TEXT_LAYER_MODES, DEFAULT_CHUNK_BYTES,
};
