"""Opaque page tokens: urlsafe base64 of JSON holding the last key and a fingerprint of the question asked, so a
token is refused (ValueError) by any other query than the one that issued it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

__all__ = ["fingerprint", "encode", "decode"]


def fingerprint(*question: object) -> str:
    """A short digest of what a listing was asked (filter, order, window, ...), JSON-serializable parts."""
    blob = json.dumps(question, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def encode(key: object, fp: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key, "f": fp}, separators=(",", ":")).encode()).decode()


def decode(token: str, fp: str) -> object:
    """The key in ``token``; ValueError when it is malformed or belongs to another question."""
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise ValueError("page token is not a token of this store") from None
    if not isinstance(body, dict) or body.get("f") != fp or "k" not in body:
        raise ValueError("page token belongs to another query")
    return body["k"]
