"""Documents: pages of a PDF, a TIFF or an image read into a structure (page -> block -> paragraph -> line -> word)
in reading order, and written out as text, Markdown, hOCR, ALTO or a searchable PDF. Free of any transport."""
