"""Append-only, hash-chained audit log: every state change writes one entry in its own transaction."""

from smki.audit.log import (
    AuditInput,
    AuditRecord,
    DetailsShape,
    PreparedEntry,
    VerificationResult,
    append_prepared,
    prepare_many,
    record,
    record_many,
    record_prepared,
    verify,
)

__all__ = [
    "AuditInput",
    "AuditRecord",
    "DetailsShape",
    "PreparedEntry",
    "VerificationResult",
    "append_prepared",
    "prepare_many",
    "record",
    "record_many",
    "record_prepared",
    "verify",
]
