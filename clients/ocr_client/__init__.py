"""Python client of ocr.v1.OcrService: ``OcrClient`` and the ``ocr-client`` command line.

    from clients.ocr_client import OcrClient, OcrCallError
    with OcrClient("localhost:50051") as client:
        result = client.recognize("receipt.jpg")          # a RecognizeResult (frozen dataclass)
        print(result.text)
        for item in client.batch_recognize(["a.jpg", "b.png"]):
            print(item.error.reason if item.error else item.text)   # error is None on success
        with client.recognize_document("scan.pdf", formats=["pdf"]) as results:  # pages as they are read
            for page in results.pages(outputs={"pdf": "scan.ocr.pdf"}):         # the PDF written as it comes
                print(page.page_number, page.text)

Failed calls raise ``OcrCallError`` with the gRPC ``code`` and the server's stable ``reason``; a failed batch
item or stream frame carries the same type in ``error``. The generated ocr.v1/fleet.v1 code lives in this package
(``messages``: the protobuf messages alone; ``pb``: with the grpc stubs), made at set-up by
``python -m clients.ocr_client.codegen``; the fleet's wire contract lives here too (``fleet_types``,
``fleet_convert``).
The package imports nothing else of the project. Names are imported lazily, so the generator runs without grpc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "OcrClient",
    "OcrCallError",
    "RecognizeResult",
    "KeyField",
    "KeyValue",
    "StreamResult",
    "StreamFrame",
    "ServerInfo",
    "DocumentPage",
    "DocumentResults",
    "OutputChunk",
    "image_message",
    "to_dict",
    "FleetClient",
    "ReportSession",
]

_WHERE = {
    "OcrClient": "client",
    "image_message": "client",
    "OcrCallError": "results",
    "RecognizeResult": "results",
    "KeyField": "results",
    "KeyValue": "results",
    "StreamResult": "results",
    "StreamFrame": "results",
    "ServerInfo": "results",
    "DocumentPage": "documents",
    "DocumentResults": "documents",
    "OutputChunk": "documents",
    "to_dict": "results",
    "FleetClient": "fleet",
    "ReportSession": "fleet",
}

if TYPE_CHECKING:
    from clients.ocr_client.client import OcrClient, image_message
    from clients.ocr_client.documents import DocumentPage, DocumentResults, OutputChunk
    from clients.ocr_client.fleet import FleetClient, ReportSession
    from clients.ocr_client.results import OcrCallError, RecognizeResult, ServerInfo, StreamFrame, StreamResult, to_dict


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(f"clients.ocr_client.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clients.ocr_client' has no attribute {name!r}")
