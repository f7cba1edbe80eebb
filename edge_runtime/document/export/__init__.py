"""Writers of read pages (``structure.Page``): plain text, Markdown, HTML, hOCR, ALTO and a searchable PDF, one
module each.

Each writer only reads the structure, so the in-process ``document`` command, the batch command and the server
produce byte-identical outputs from the same pages.
"""

__all__ = ["EXTENSIONS"]

# What each format's output file adds to its input's name (issue 21: ``a/scan.pdf`` -> ``a/scan.pdf.alto.xml``).
EXTENSIONS = {
    "json": ".json",
    "text": ".txt",
    "md": ".md",
    "html": ".html",
    "hocr": ".hocr",
    "alto": ".alto.xml",
    "pdf": ".pdf",
}
