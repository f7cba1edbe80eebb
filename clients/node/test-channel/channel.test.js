'use strict';
// The channel every stub shares: a service config grpc-js accepts, and any gRPC target URI.
const test = require('node:test');
const assert = require('node:assert');
const grpc = require('@grpc/grpc-js');
const { validateServiceConfig } = require('@grpc/grpc-js/build/src/service-config');
const { SERVICE_CONFIG, RETRIED_METHODS, channelOptions, openChannel } = require('../src/channel.js');
const { OcrClient } = require('../src/index.js');

test('the service config is valid: round_robin, retries on UNAVAILABLE only, a retry budget', () => {
  const parsed = validateServiceConfig(JSON.parse(channelOptions(1024)['grpc.service_config']));
  assert.deepStrictEqual(parsed.loadBalancingConfig.map((c) => Object.keys(c)[0]), ['round_robin']);
  const [config] = parsed.methodConfig;
  assert.deepStrictEqual(config.retryPolicy.retryableStatusCodes, ['UNAVAILABLE']);
  assert.ok(parsed.retryThrottling.maxTokens > 0);
  const named = config.name.map((n) => `${n.service}/${n.method}`);
  assert.ok(named.includes('ocr.v1.OcrService/Recognize'));
  for (const streaming of ['StreamRecognize', 'RecognizeDocument']) {
    assert.ok(!named.includes(`ocr.v1.OcrService/${streaming}`), streaming);
  }
  assert.ok(!RETRIED_METHODS['fleet.v1.FleetService'].includes('ReportEvents'));
  assert.strictEqual(SERVICE_CONFIG.methodConfig.length, 1);
});

test('any gRPC target URI opens a channel', () => {
  for (const target of ['localhost:50051', 'dns:///localhost:50051', 'ipv4:127.0.0.1:50051,127.0.0.2:50051']) {
    const channel = openChannel(target, grpc.credentials.createInsecure(), { maxMessageBytes: 1024 });
    channel.close();
    new OcrClient(target).close();
  }
});
