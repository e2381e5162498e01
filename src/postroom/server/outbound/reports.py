"""Delivery status notifications: the builder lives in postroom/dsn.py (the queue viewer's
`message remove --ndr` in the service layer builds them too); the worker imports it from here."""
from __future__ import annotations

from ...dsn import (
    DELAYED, DELIVERED, EXPIRED, FAILED, FULL_ORIGINAL_LIMIT, RELAYED, SUCCESS_ACTIONS, RecipientOutcome, ReportInput,
    build_report, report_due, subject_of,
)

__all__ = ["DELAYED", "DELIVERED", "EXPIRED", "FAILED", "FULL_ORIGINAL_LIMIT", "RELAYED", "SUCCESS_ACTIONS",
           "RecipientOutcome", "ReportInput", "build_report", "report_due", "subject_of"]
