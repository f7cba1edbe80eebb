"""Server configuration: one frozen dataclass filled from flags and ``OCR_*`` environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from edge_runtime.errors import ConfigurationError

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """Transport and scheduling knobs. Engine knobs (bundle, backend, precision, threads, image limits) live in
    ``edge_runtime.config.EngineConfig``; both read ``OCR_<FIELD>`` variables."""

    host: str = "[::]"
    port: int = 50051  # 0: any free port (the bound one is logged)
    max_message_bytes: int = 64 * 1024 * 1024  # largest request (and response) message
    max_concurrent_rpcs: int = 64  # OcrService RPCs at once; more are refused with RESOURCE_EXHAUSTED/OVERLOADED
    max_batch_images: int = 64  # images in one BatchRecognize
    batch_max_delay_ms: float = 3.0  # longest wait of a text line for others to share its recognizer batch
    batch_max_size: int = 0  # text lines per recognizer batch; 0: the engine's rec_batch_size
    inference_threads: int = 1  # threads that run models (each model run uses the engine's intra-op threads)
    decode_threads: int = 2  # threads that decode images and prepare crops
    grace_s: float = 30.0  # on SIGTERM: how long in-flight calls may take to finish
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port {self.port} is out of range")
        if min(self.max_message_bytes, self.max_concurrent_rpcs, self.max_batch_images, self.inference_threads,
               self.decode_threads) < 1 or self.batch_max_size < 0 or self.batch_max_delay_ms < 0:
            raise ConfigurationError("server limits must be positive")
