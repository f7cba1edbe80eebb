"""A batch's progress on stderr: documents done of all, pages read and pages per second, as a tqdm bar when
stderr is a terminal and as a plain line every ``every`` seconds otherwise (logs, CI), plus one line per error."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int, skipped: int, stream: TextIO | None = None, every: float = 10.0) -> None:
        self._stream = stream or sys.stderr
        self._total, self._done, self._pages, self._failed = total, skipped, 0, 0
        self._every = every
        self._started = self._said = time.monotonic()
        self._bar = None
        if self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=skipped, unit="doc", file=self._stream, dynamic_ncols=True)

    @property
    def rate(self) -> float:
        """Pages read per second since the run began."""
        return self._pages / max(time.monotonic() - self._started, 1e-9)

    def page(self) -> None:
        self._pages += 1
        self._update()

    def document(self, failed: bool) -> None:
        self._done += 1
        self._failed += failed
        if self._bar is not None:
            self._bar.update(1)
        self._update()

    def error(self, line: str) -> None:
        """One error line, above the bar where there is one."""
        if self._bar is not None:
            self._bar.write(line, file=self._stream)
        else:
            print(line, file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def _update(self) -> None:
        if self._bar is not None:
            if time.monotonic() - self._said >= 0.2:  # a redraw per page would cost more than a small page
                self._said = time.monotonic()
                self._bar.set_postfix_str(f"{self._pages} pages, {self.rate:.1f} pages/s")
        elif time.monotonic() - self._said >= self._every:
            self._said = time.monotonic()
            print(f"batch: {self.status()}", file=self._stream, flush=True)

    def status(self) -> str:
        failed = f", {self._failed} failed" if self._failed else ""
        return f"{self._done}/{self._total} documents, {self._pages} pages, {self.rate:.1f} pages/s{failed}"
