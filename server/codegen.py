"""Kept so `python -m server.codegen` still works: the code generator is `python -m clients.ocr_client.codegen`."""

from __future__ import annotations

from clients.ocr_client.codegen import GEN_DIR, PROTO_DIR, generate, is_current, main

__all__ = ["generate", "is_current", "main", "GEN_DIR", "PROTO_DIR"]

if __name__ == "__main__":
    raise SystemExit(main())
