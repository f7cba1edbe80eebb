'use strict';
/**
 * The one gRPC service config and keepalive of the Node client (the same as the Python client's,
 * clients/ocr_client/service_config.py, which says why each call is or is not retried).
 *
 * Targets are any gRPC URI: 'host:port', 'dns:///ocr.example:50051' (a Kubernetes headless Service lists every
 * ready pod), 'ipv4:127.0.0.1:50051,127.0.0.2:50051'. round_robin keeps a connection to each address and sends
 * each call to the next ready one; servers end connections after a maximum age, so the target is resolved again
 * and new replicas get calls. Retried on UNAVAILABLE only (a replica draining or loading, a connection that
 * failed before the call reached it), with backoff and a budget: Recognize, BatchRecognize, GetServerInfo and
 * the fleet's reads. Not retried: ReportEvents (its acknowledgements are the retry), the streams
 * StreamRecognize, RecognizeDocument and WatchEvents (committed at their first message), DeleteDeviceData.
 */

const grpc = require('@grpc/grpc-js');

const RETRIED_METHODS = {
  'ocr.v1.OcrService': ['Recognize', 'BatchRecognize', 'GetServerInfo'],
  'fleet.v1.FleetService': ['QueryEvents', 'ListDevices', 'ListSightings', 'GetFleetStats'],
};

const SERVICE_CONFIG = {
  loadBalancingConfig: [{ round_robin: {} }],
  methodConfig: [
    {
      name: Object.entries(RETRIED_METHODS)
        .flatMap(([service, methods]) => methods.map((method) => ({ service, method }))),
      retryPolicy: {
        maxAttempts: 4,
        initialBackoff: '0.05s',
        maxBackoff: '1s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    },
  ],
  // every retryable failure takes a token, every success gives back 0.1; below 50 tokens nothing is retried
  retryThrottling: { maxTokens: 100, tokenRatio: 0.1 },
};

// a ping every 30 s, also between calls (NATs and load balancers drop silent connections); the server allows
// one every 10 s (server.config keepalive_min_ping_s), faster would be answered GOAWAY too_many_pings
const KEEPALIVE_TIME_MS = 30000;
const KEEPALIVE_TIMEOUT_MS = 10000;
const MAX_RECONNECT_BACKOFF_MS = 10000; // a refused address is tried again within 10 s (gRPC default: 120 s)

/** Channel options: the service config, keepalive, and a retry buffer that holds a whole request. */
function channelOptions(maxMessageBytes) {
  return {
    'grpc.service_config': JSON.stringify(SERVICE_CONFIG),
    'grpc.service_config_disable_resolution': 1,
    'grpc.enable_retries': 1,
    'grpc.per_rpc_retry_buffer_size': maxMessageBytes,
    'grpc.retry_buffer_size': 4 * maxMessageBytes,
    'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_receive_message_length': maxMessageBytes,
  };
}

/** One channel to `target` for every stub of a client (one set of connections, one round_robin). */
function openChannel(target, credentials, { maxMessageBytes, serverName } = {}) {
  const options = channelOptions(maxMessageBytes);
  if (serverName) options['grpc.ssl_target_name_override'] = serverName;
  return new grpc.Channel(target, credentials, options);
}

module.exports = { RETRIED_METHODS, SERVICE_CONFIG, KEEPALIVE_TIME_MS, channelOptions, openChannel };
