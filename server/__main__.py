"""`python -m server`: serve ocr.v1.OcrService. Flags override OCR_* environment variables, which override defaults."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from edge_runtime.config import BACKENDS, DEVICES, PRECISIONS, EngineConfig, from_env
from edge_runtime.errors import ConfigurationError
from server.config import ServerConfig


def parse_args(argv: list[str]) -> tuple[ServerConfig, EngineConfig]:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    add = parser.add_argument
    add("--host", help="address to bind (OCR_HOST, default [::])")
    add("--port", type=int, help="port, 0 for any free one (OCR_PORT, default 50051)")
    add("--bundle", help="model bundle id (OCR_BUNDLE)")
    add("--backend", choices=BACKENDS, help="OCR_BACKEND, default auto")
    add("--device", choices=DEVICES, help="OCR_DEVICE, default cpu")
    add("--precision", choices=PRECISIONS, help="OCR_PRECISION, default auto (INT8 where built and gated)")
    add("--threads", type=int, help="intra-op threads per model run, 0 = all cores (OCR_THREADS)")
    add("--max-image-pixels", type=int, help="largest image in pixels (OCR_MAX_IMAGE_PIXELS)")
    add("--max-message-bytes", type=int, help="largest request message (OCR_MAX_MESSAGE_BYTES, default 64 MiB)")
    add("--max-concurrent-rpcs", type=int, help="OCR calls at once (OCR_MAX_CONCURRENT_RPCS, default 64)")
    add("--max-batch-images", type=int, help="images per BatchRecognize (OCR_MAX_BATCH_IMAGES, default 64)")
    add("--batch-max-delay-ms", type=float, help="dynamic batching wait (OCR_BATCH_MAX_DELAY_MS, default 3)")
    add("--batch-max-size", type=int, help="lines per recognizer batch, 0 = engine's (OCR_BATCH_MAX_SIZE)")
    add("--grace-s", type=float, help="drain time on SIGTERM (OCR_GRACE_S, default 30)")
    add("--log-level", help="OCR_LOG_LEVEL, default INFO")
    args = parser.parse_args(argv)
    server_config = from_env(ServerConfig, host=args.host, port=args.port, max_message_bytes=args.max_message_bytes,
                             max_concurrent_rpcs=args.max_concurrent_rpcs, max_batch_images=args.max_batch_images,
                             batch_max_delay_ms=args.batch_max_delay_ms, batch_max_size=args.batch_max_size,
                             grace_s=args.grace_s, log_level=args.log_level)
    engine_config = from_env(EngineConfig, bundle=args.bundle, backend=args.backend, device=args.device,
                             precision=args.precision, threads=args.threads, max_image_pixels=args.max_image_pixels)
    return server_config, engine_config


def main(argv: list[str] | None = None) -> int:
    try:
        server_config, engine_config = parse_args(sys.argv[1:] if argv is None else argv)
    except ConfigurationError as exc:
        print(f"error: {exc.message} [{exc.reason}]", file=sys.stderr)
        return 2
    logging.basicConfig(level=server_config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from server.app import default_engine_factory, serve

    return asyncio.run(serve(server_config, default_engine_factory(engine_config)))


if __name__ == "__main__":
    raise SystemExit(main())
