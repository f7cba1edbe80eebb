"""Writers of read pages (``structure.Page``): plain text, Markdown, hOCR, ALTO and a searchable PDF, one module each.

Each writer only reads the structure, so the in-process ``document`` command, the batch command and the server
produce byte-identical outputs from the same pages.
"""
