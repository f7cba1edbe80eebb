'use strict';
/**
 * Node.js client of the edge-ocr service (ocr.v1.OcrService), promise-based.
 *
 *   const fs = require('node:fs');
 *   const { OcrClient } = require('@edge-ocr/client');
 *   const client = new OcrClient('localhost:50051');
 *   client.recognize(fs.readFileSync('receipt.jpg')).then((result) => console.log(result.text));
 *
 * Results are plain objects with the .proto's field names (snake_case), enums as their names; `error` is null on
 * success and `{ code, reason, message }` on a failed batch item or stream frame. `toJson(result)` gives the
 * proto3 JSON mapping, the shape every command line of the project prints.
 * Failed calls reject with OcrCallError: `code` (gRPC status number), `codeName`, `reason` (the server's stable
 * reason from the `ocr-error-reason` trailing metadata, or null when gRPC itself refused the call), `details`,
 * `requestId` (as in the server's audit log) and `retryAfterS` (set when a rate limit refused the call).
 *
 * Documents: `client.recognizeDocument(fileOrBuffer, { formats: ['pdf'] })` streams the file in chunks and yields
 * pages and output chunks as they arrive (src/documents.js); `toJson(page, 'ocr.v1.Page')` is a line of
 * `document --to json`.
 *
 * Security: `new OcrClient(target, { ca, cert, key, token })`: `ca` (PEM Buffer or a file path) turns TLS on,
 * `cert` + `key` add the client certificate (mutual TLS), `token` is sent as `authorization: Bearer <token>`.
 */
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const documents = require('./documents.js');
const { openChannel } = require('./channel.js');

const PROTO_DIR = process.env.OCR_PROTO_DIR || path.resolve(__dirname, '..', '..', '..', 'proto');
const HEALTH_DIR = path.resolve(__dirname, '..', 'proto');
const REASON_KEY = 'ocr-error-reason';
const REQUEST_ID_KEY = 'x-request-id';
const RETRY_AFTER_KEY = 'retry-after';
const LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

const definition = protoLoader.loadSync(
  ['ocr/v1/ocr_service.proto', 'grpc/health/v1/health.proto'],
  { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR, HEALTH_DIR] },
);
const packages = grpc.loadPackageDefinition(definition);
const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, value]) => [value, name]));

/** A failed call: gRPC status code, the server's stable reason and its message. */
class OcrCallError extends Error {
  constructor(code, reason, details, requestId = null, retryAfterS = null) {
    super(`${STATUS_NAMES[code] || code}${reason ? ` [${reason}]` : ''}: ${details}`);
    this.name = 'OcrCallError';
    this.code = code;
    this.codeName = STATUS_NAMES[code] || String(code);
    this.reason = reason;
    this.details = details;
    this.requestId = requestId;
    this.retryAfterS = retryAfterS;
  }

  static fromServiceError(error) {
    const first = (key) => {
      const values = error.metadata ? error.metadata.get(key) : [];
      return values.length ? String(values[0]) : null;
    };
    const retry = first(RETRY_AFTER_KEY);
    return new OcrCallError(error.code, first(REASON_KEY), error.details || error.message, first(REQUEST_ID_KEY),
      retry === null || Number.isNaN(Number(retry)) ? null : Number(retry));
  }
}

// ---- proto3 JSON mapping ---------------------------------------------------------------------------------
// The same dict Python's json_format.MessageToDict(message, preserving_proto_field_name=True,
// always_print_fields_with_no_presence=True) gives: fields without presence printed even when zero or empty,
// unset messages left out, `float` fields as the shortest decimal that reads back as the same 32-bit float.
const INT64_TYPES = new Set(['TYPE_INT64', 'TYPE_UINT64', 'TYPE_SINT64', 'TYPE_FIXED64', 'TYPE_SFIXED64']);

function nonFinite(value) {
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/** A float32 field's value as protobuf prints it: 6 significant digits, more until it reads back the same. */
function float32(value) {
  const f = Math.fround(value);
  if (!Number.isFinite(f)) return nonFinite(f);
  for (let precision = 6; precision < 18; precision += 1) {
    const rounded = Number(f.toPrecision(precision));
    if (Math.fround(rounded) === f) return rounded;
  }
  return f;
}

function timestampJson(ts) {
  const seconds = Number(ts.seconds || 0);
  const nanos = ts.nanos || 0;
  let fraction = '';
  if (nanos % 1e9 !== 0) {
    const digits = nanos % 1e6 === 0 ? 3 : nanos % 1e3 === 0 ? 6 : 9;
    fraction = `.${String(nanos).padStart(9, '0').slice(0, digits)}`;
  }
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}${fraction}Z`;
}

function lookupType(typeName, scope) {
  const nested = scope.type.nestedType.find((t) => t.name === typeName);
  if (nested) return { name: typeName, type: nested, package: scope.package };
  for (const name of [typeName, `${scope.package}.${typeName}`]) {
    if (definition[name] && definition[name].type) {
      return { name, type: definition[name].type, package: name.split('.').slice(0, -1).join('.') };
    }
  }
  throw new Error(`unknown message type ${typeName}`);
}

function scalarJson(field, value, scope) {
  if (field.type === 'TYPE_MESSAGE') return messageJson(lookupType(field.typeName, scope), value);
  if (field.type === 'TYPE_FLOAT') return float32(value);
  if (field.type === 'TYPE_DOUBLE') return Number.isFinite(value) ? value : nonFinite(value);
  if (INT64_TYPES.has(field.type)) return String(value);
  if (field.type === 'TYPE_BYTES') return Buffer.from(value).toString('base64');
  return value;
}

function messageJson(scope, message) {
  if (scope.name === 'google.protobuf.Timestamp') return timestampJson(message);
  const out = {};
  for (const field of scope.type.field) {
    const value = message[field.name];
    if (isOptional(scope, field) && message[`_${field.name}`] !== field.name) {
      continue; // an unset `optional` field: absent, as the proto3 JSON mapping leaves it (loader defaults fill it)
    }
    if (field.label === 'LABEL_REPEATED') {
      const entry = scope.type.nestedType.find((t) => t.name === field.typeName && t.options && t.options.mapEntry);
      if (entry) {
        const valueField = entry.field.find((f) => f.name === 'value');
        out[field.name] = Object.fromEntries(Object.entries(value || {})
          .map(([k, v]) => [k, scalarJson(valueField, v, scope)]));
      } else {
        out[field.name] = (value || []).map((v) => scalarJson(field, v, scope));
      }
    } else if (value === null || value === undefined) {
      if (field.type !== 'TYPE_MESSAGE' && !isOptional(scope, field)) {
        out[field.name] = scalarJson(field, defaultOf(field), scope);
      }
    } else {
      out[field.name] = scalarJson(field, value, scope);
    }
  }
  return out;
}

/** A proto3 `optional` field: the loader reports it as the only member of a synthetic oneof `_<name>`. */
function isOptional(scope, field) {
  if (field.proto3Optional) return true;
  const oneof = Number.isInteger(field.oneofIndex) ? (scope.type.oneofDecl || [])[field.oneofIndex] : undefined;
  return Boolean(oneof && oneof.name === `_${field.name}`);
}

function defaultOf(field) {
  if (field.type === 'TYPE_STRING') return '';
  if (field.type === 'TYPE_BOOL') return false;
  if (field.type === 'TYPE_BYTES') return Buffer.alloc(0);
  if (field.type === 'TYPE_ENUM') {
    const values = definition[lookupEnumName(field)];
    return values ? values.type.value[0].name : 0;
  }
  return 0;
}

function lookupEnumName(field) {
  return Object.keys(definition).find((name) => name.endsWith(`.${field.typeName}`) || name === field.typeName);
}

/**
 * The proto3 JSON mapping of a result (default: a RecognizeResponse; pass 'ocr.v1.GetServerInfoResponse' or
 * 'ocr.v1.StreamRecognizeResponse' for the others), equal to what `ocr-client ... --json` prints in Python.
 */
function toJson(message, typeName = 'ocr.v1.RecognizeResponse') {
  return messageJson(lookupType(typeName, { type: { nestedType: [] }, package: '' }), message);
}

/**
 * An `Image` message from a Buffer (an encoded JPEG/PNG/WebP/TIFF/BMP file) or
 * `{ width, height, pixelFormat: 'BGR8'|'RGB8'|'GRAY8'|'BGRA8'|'RGBA8'|'NV12', data: Buffer }` (raw pixels).
 */
function imageMessage(image) {
  if (Buffer.isBuffer(image) || image instanceof Uint8Array) {
    return { content: Buffer.from(image) };
  }
  if (image && image.data && image.width !== undefined) {
    const format = image.pixelFormat || image.pixel_format;
    return {
      raw: {
        width: image.width,
        height: image.height,
        pixel_format: format && format.startsWith('PIXEL_FORMAT_') ? format : `PIXEL_FORMAT_${format}`,
        data: Buffer.from(image.data),
      },
    };
  }
  if (image && typeof image === 'object' && image.data === undefined) {
    return image; // already an Image message ({ content } or { raw }), or an empty one
  }
  throw new TypeError('image must be a Buffer or { width, height, pixelFormat, data }');
}

function pem(value) {
  if (value === undefined || value === null) return null;
  return Buffer.isBuffer(value) ? value : fs.readFileSync(value);
}

/** Channel credentials: TLS when `ca` (or `tls: true`, the system roots) is given, mutual with `cert` + `key`. */
function channelCredentials({ ca, cert, key, tls } = {}) {
  if ((cert == null) !== (key == null)) throw new TypeError('a client certificate needs its key (cert and key)');
  if (ca == null && cert == null && !tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(pem(ca), pem(key), pem(cert));
}

class OcrClient {
  /**
   * @param {string} target the server: host:port, or any gRPC URI (dns:///host:port, ipv4:a:port,b:port)
   * @param {{ timeoutMs?: number, maxMessageBytes?: number, credentials?: grpc.ChannelCredentials,
   *           ca?: Buffer|string, cert?: Buffer|string, key?: Buffer|string, tls?: boolean, token?: string,
   *           serverName?: string }} options
   */
  constructor(target = 'localhost:50051', options = {}) {
    this.target = target;
    this.timeoutMs = options.timeoutMs ?? 60000;
    const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
    const credentials = options.credentials || channelCredentials(options);
    this.token = options.token || null;
    // any gRPC target URI; calls spread over its addresses and safe ones are retried (src/channel.js)
    this.channel = openChannel(target, credentials, { maxMessageBytes, serverName: options.serverName });
    this.stub = new packages.ocr.v1.OcrService(target, credentials, { channelOverride: this.channel });
    this.healthStub = new packages.grpc.health.v1.Health(target, credentials, { channelOverride: this.channel });
  }

  _deadline(timeoutMs) {
    return new Date(Date.now() + (timeoutMs ?? this.timeoutMs));
  }

  _metadata() {
    const metadata = new grpc.Metadata();
    if (this.token) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  _unary(stub, method, request, timeoutMs) {
    return new Promise((resolve, reject) => {
      stub[method](request, this._metadata(), { deadline: this._deadline(timeoutMs) }, (error, response) => {
        if (error) reject(OcrCallError.fromServiceError(error));
        else resolve(response);
      });
    });
  }

  /** Text lines of one image (zero lines when it has none). */
  recognize(image, { skipDetection = false, timeoutMs } = {}) {
    const request = { image: imageMessage(image), options: { skip_detection: skipDetection } };
    return this._unary(this.stub, 'Recognize', request, timeoutMs);
  }

  /** One response per image, in order; a bad image has `error` set and fails nothing else. */
  async batchRecognize(images, { skipDetection = false, timeoutMs } = {}) {
    const requests = images.map((image) => ({
      image: imageMessage(image), options: { skip_detection: skipDetection },
    }));
    const response = await this._unary(this.stub, 'BatchRecognize', { requests }, timeoutMs);
    return response.responses;
  }

  /**
   * Send frames (sequence 0, 1, ...) after `config`; resolves to the responses, one per frame, in order.
   */
  streamRecognize(frames, { config = {}, timeoutMs } = {}) {
    return new Promise((resolve, reject) => {
      const call = this.stub.StreamRecognize(this._metadata(), { deadline: this._deadline(timeoutMs) });
      const responses = [];
      call.on('data', (response) => responses.push(response));
      call.on('error', (error) => reject(OcrCallError.fromServiceError(error)));
      call.on('end', () => resolve(responses));
      call.write({ config });
      frames.forEach((frame, sequence) => {
        const now = Date.now();
        call.write({
          frame: {
            sequence,
            image: imageMessage(frame),
            capture_time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
          },
        });
      });
      call.end();
    });
  }

  /**
   * Read a PDF, a multi-page TIFF or an image (a Buffer or a file path) page by page: `pages` ('1-3,7', '10-';
   * '' all), `textLayer` ('auto', 'ignore', 'only'), `password`, `formats` (output files: 'text', 'md', 'hocr',
   * 'alto', 'pdf') go first, the file follows in chunks of `chunkBytes`. Returns a DocumentCall at once (see
   * src/documents.js): iterate it with `for await`, or its `pages({ outputs })`. `timeoutMs` is the whole call's
   * deadline (default none: a long document takes its time).
   */
  recognizeDocument(document, { timeoutMs, ...options } = {}) {
    const callOptions = timeoutMs === undefined || timeoutMs === null ? {} : { deadline: this._deadline(timeoutMs) };
    return documents.startDocumentCall(this.stub, this._metadata(), callOptions, document, options,
      (error) => OcrCallError.fromServiceError(error));
  }

  /** Models, backend, limits and readiness of the server. */
  getServerInfo({ timeoutMs } = {}) {
    return this._unary(this.stub, 'GetServerInfo', {}, timeoutMs);
  }

  /** grpc.health.v1 status name: 'SERVING', 'NOT_SERVING', ... */
  async health(service = 'ocr.v1.OcrService', { timeoutMs = 5000 } = {}) {
    const response = await this._unary(this.healthStub, 'Check', { service }, timeoutMs);
    return response.status;
  }

  close() {
    this.channel.close();
  }
}

module.exports = {
  OcrClient,
  OcrCallError,
  imageMessage,
  toJson,
  float32,
  channelCredentials,
  REASON_KEY,
  status: grpc.status,
  DocumentCall: documents.DocumentCall,
  OUTPUT_FORMATS: documents.OUTPUT_FORMATS,
  TEXT_LAYER_MODES: documents.TEXT_LAYER_MODES,
};
