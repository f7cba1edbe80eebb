"""Errors of the fleet's domain, with stable reasons; server/errors.py maps them to gRPC status codes.

OcrError (models.errors)
└── FleetError
    ├── FleetRequestError       INVALID_ARGUMENT  EVENT_INVALID, GAP_INVALID, STATUS_INVALID, REPORT_TOO_LARGE,
    │                                             DEVICE_ID_MISSING, DEVICE_ID_INVALID, PAGE_TOKEN_INVALID,
    │                                             PAGE_SIZE_INVALID, FILTER_INVALID, CURSOR_INVALID
    └── StoreUnavailableError   UNAVAILABLE       STORE_UNAVAILABLE (not open yet, or the database is down)
"""

from __future__ import annotations

from models.errors import OcrError

__all__ = ["FleetError", "FleetRequestError", "StoreUnavailableError"]


class FleetError(OcrError):
    reason = "FLEET_ERROR"


class FleetRequestError(FleetError):
    """A report or a question that breaks the contract; nothing of it was stored."""

    reason = "EVENT_INVALID"


class StoreUnavailableError(FleetError):
    """The store cannot be reached now; the caller may retry (an agent resends from its acknowledgement)."""

    reason = "STORE_UNAVAILABLE"
