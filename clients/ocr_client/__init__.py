"""Python client of ocr.v1.OcrService: ``OcrClient`` and the ``ocr-client`` command line.

    from clients.ocr_client import OcrClient, OcrCallError
    with OcrClient("localhost:50051") as client:
        print(client.recognize("receipt.jpg").text)

Failed calls raise ``OcrCallError`` with the gRPC ``code`` and the server's stable ``reason``.
"""

from clients.ocr_client.client import OcrCallError, OcrClient, image_message, to_dict

__all__ = ["OcrClient", "OcrCallError", "image_message", "to_dict"]
