"""Append-only, hash-chained audit log: every state change writes one entry in its own transaction."""

from smki.audit.log import AuditInput, AuditRecord, VerificationResult, record, record_many, verify

__all__ = ["AuditInput", "AuditRecord", "VerificationResult", "record", "record_many", "verify"]
