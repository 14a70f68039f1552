"""The SMKI Repository: certificates as the DCC's repository reports them (statuses P, I, N, E, R),
searches by EUI-64, key usage, role, status, issuer and kind, and full and incremental extracts.

Read-only: issuing is the CA's, revoking the CA's on the RA's instruction, CRLs the CA's
(:mod:`smki.ca.crls`). See docs/repository.md.
"""

from smki.repository.queries import (
    EXTRACT_BATCH,
    FORMATS,
    MAX_PAGE,
    SearchPage,
    full_extract,
    get_certificate,
    incremental_extract,
    search,
)
from smki.repository.views import STATUS_NAMES, CertificateView, derive_status

__all__ = [
    "EXTRACT_BATCH",
    "FORMATS",
    "MAX_PAGE",
    "STATUS_NAMES",
    "CertificateView",
    "SearchPage",
    "derive_status",
    "full_extract",
    "get_certificate",
    "incremental_extract",
    "search",
]
