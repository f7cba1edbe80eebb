"""glibc's own account of the heap: what the malloc arenas hold and what sits in mmapped chunks.

The resident memory alone cannot say whether memory is held by live allocations or kept free by the allocator;
``malloc_info`` (all arenas, unlike ``mallinfo``) can. With the server's steady allocator (128 KiB mmap
threshold), large buffers (pages, tensors, the runtime's per-request buffers) are *mmap* chunks and go back
when freed; many small allocations (the runtime's per-shape kernels and executors) are *arena* memory.
"""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
from pathlib import Path

__all__ = ["heap_mb", "process_mb"]

MIB = 1024 * 1024


def heap_mb() -> dict[str, float]:
    """``arena``: bytes the arenas took from the system; ``arena_free``: of those, free; ``mmap``: live chunks
    served by mmap. Empty where glibc is not the allocator."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    except (OSError, AttributeError):
        return {}
    fd, name = tempfile.mkstemp(prefix="malloc-info-")
    os.close(fd)
    try:
        handle = libc.fopen(name.encode(), b"w")
        if not handle:
            return {}
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        xml = Path(name).read_text()
    finally:
        Path(name).unlink(missing_ok=True)
    totals = xml[xml.rfind("</heap>") :]  # the process-wide totals follow the last arena

    def figure(pattern: str) -> float:
        found = re.search(pattern, totals)
        return int(found.group(1)) / MIB if found else 0.0

    free = figure(r'<total type="fast" count="\d+" size="(\d+)"') + figure(
        r'<total type="rest" count="\d+" size="(\d+)"'
    )
    return {
        "arena": round(figure(r'<system type="current" size="(\d+)"'), 1),
        "arena_free": round(free, 1),
        "mmap": round(figure(r'<total type="mmap" count="\d+" size="(\d+)"'), 1),
    }


def process_mb() -> dict[str, float]:
    """This process's resident memory (``rss``) with glibc's split of its heap (``heap_mb``)."""
    from bench.soak import rss_mb

    return {"rss": round(rss_mb(os.getpid()) or 0.0, 1), **heap_mb()}
