'use strict';
/**
 * Node.js client of the edge-ocr service (ocr.v1.OcrService), promise-based.
 *
 *   const { OcrClient } = require('@edge-ocr/client');
 *   const client = new OcrClient('localhost:50051');
 *   const response = await client.recognize(fs.readFileSync('receipt.jpg'));
 *   console.log(response.text);
 *
 * Failed calls reject with OcrCallError: `code` (gRPC status number), `codeName`, `reason` (the server's stable
 * reason from the `ocr-error-reason` trailing metadata, or null when gRPC itself refused the call) and `details`.
 */
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = process.env.OCR_PROTO_DIR || path.resolve(__dirname, '..', '..', '..', 'proto');
const HEALTH_DIR = path.resolve(__dirname, '..', 'proto');
const REASON_KEY = 'ocr-error-reason';
const LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

function loadPackages() {
  const definition = protoLoader.loadSync(
    ['ocr/v1/ocr_service.proto', 'grpc/health/v1/health.proto'],
    { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR, HEALTH_DIR] },
  );
  return grpc.loadPackageDefinition(definition);
}

const packages = loadPackages();
const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, value]) => [value, name]));

/** A failed call: gRPC status code, the server's stable reason and its message. */
class OcrCallError extends Error {
  constructor(code, reason, details) {
    super(`${STATUS_NAMES[code] || code}${reason ? ` [${reason}]` : ''}: ${details}`);
    this.name = 'OcrCallError';
    this.code = code;
    this.codeName = STATUS_NAMES[code] || String(code);
    this.reason = reason;
    this.details = details;
  }

  static fromServiceError(error) {
    const values = error.metadata ? error.metadata.get(REASON_KEY) : [];
    const reason = values.length ? String(values[0]) : null;
    return new OcrCallError(error.code, reason, error.details || error.message);
  }
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

class OcrClient {
  /**
   * @param {string} target host:port of the server
   * @param {{ timeoutMs?: number, maxMessageBytes?: number, credentials?: grpc.ChannelCredentials }} options
   */
  constructor(target = 'localhost:50051', options = {}) {
    this.target = target;
    this.timeoutMs = options.timeoutMs ?? 60000;
    const maxBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
    const channelOptions = {
      'grpc.max_send_message_length': maxBytes,
      'grpc.max_receive_message_length': maxBytes,
    };
    const credentials = options.credentials || grpc.credentials.createInsecure();
    this.stub = new packages.ocr.v1.OcrService(target, credentials, channelOptions);
    this.healthStub = new packages.grpc.health.v1.Health(target, credentials, channelOptions);
  }

  _deadline(timeoutMs) {
    return new Date(Date.now() + (timeoutMs ?? this.timeoutMs));
  }

  _unary(stub, method, request, timeoutMs) {
    return new Promise((resolve, reject) => {
      stub[method](request, { deadline: this._deadline(timeoutMs) }, (error, response) => {
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
      const call = this.stub.StreamRecognize({ deadline: this._deadline(timeoutMs) });
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
    this.stub.close();
    this.healthStub.close();
  }
}

module.exports = { OcrClient, OcrCallError, imageMessage, REASON_KEY, status: grpc.status };
