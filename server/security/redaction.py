"""Redaction at the boundary: personal data (server.redact) masked in every text an OcrService response or stream
event carries, before it leaves the process (and before the result cache stores it).

RecognizeDocument's pages are masked by its servicer before they become messages (``server.redact.redact_page``):
its output files (text, hOCR, a searchable PDF) are written from the same pages, which no message-level layer
could mask; this layer passes its responses through."""

from __future__ import annotations

from typing import Any

from server.interceptors import Interceptor
from server.redact import Redactor

__all__ = ["RedactInterceptor"]


class RedactInterceptor(Interceptor):
    """Masks personal data (server.redact) in every text an OcrService response or stream event carries."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def applies(self, method: str) -> bool:
        return method.startswith("/ocr.v1.OcrService/")

    def on_response(self, state: Any, response: Any) -> Any:
        return self.redact(response)

    def redact(self, response: Any) -> Any:
        name = response.DESCRIPTOR.full_name if hasattr(response, "DESCRIPTOR") else ""
        redactor = self.redactor
        if name == "ocr.v1.BatchRecognizeResponse":
            for item in response.responses:
                self.redact(item)
            return response
        if name not in ("ocr.v1.RecognizeResponse", "ocr.v1.StreamRecognizeResponse"):
            return response
        for line in response.lines:
            self._line(line)
        if name == "ocr.v1.RecognizeResponse":
            response.text = redactor.text(response.text)
            for block in response.blocks:  # the same lines as a structure: masked alike, texts joined from them
                block.text = redactor.text(block.text)
                for paragraph in block.paragraphs:
                    paragraph.text = redactor.text(paragraph.text)
                    for line in paragraph.lines:
                        self._line(line)
            for kf in response.fields:  # key fields and form pairs are read from the same text
                kf.text, kf.value = redactor.text(kf.text), redactor.text(kf.value)
            for kv in response.key_values:
                kv.key.text, kv.value.text = redactor.text(kv.key.text), redactor.text(kv.value.text)
        else:
            for event in response.events:
                event.text = redactor.text(event.text)
                for candidate in event.candidates:  # the readings a track chose from carry the same data
                    candidate.text = redactor.text(candidate.text)
                for kf in event.fields:  # read from the event's text: masked alike
                    kf.text, kf.value = redactor.text(kf.text), redactor.text(kf.value)
        return response

    def _line(self, line: Any) -> None:
        text, words = self.redactor.line(line.text, [w.text for w in line.words])
        line.text = text
        for word, masked in zip(line.words, words, strict=True):
            word.text = masked
