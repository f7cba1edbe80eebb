"""Test PKI (server.security.devpki, made with the `openssl` command); skips where openssl is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.security.devpki import SPIFFE_ID, DevPki, make_dev_pki

__all__ = ["SPIFFE_ID", "make_pki"]


def make_pki(directory: Path) -> DevPki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return make_dev_pki(directory)
