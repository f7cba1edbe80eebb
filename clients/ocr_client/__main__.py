"""`python -m clients.ocr_client`: the same as the `ocr-client` command."""

from clients.ocr_client.cli import main

raise SystemExit(main())
