"""Signing: serial numbers, pre-issuance lint, record-intent-then-sign, and the key ceremony.

The CA takes instructions only from the RA and operator commands; it does not judge eligibility.
"""

from smki.ca.authorities import CertificateAuthorities
from smki.ca.ceremony import (
    COMMISSIONING_CERTIFICATES,
    DEFAULT_DCC_ENTITY_IDS,
    CeremonyResult,
    create_hierarchy,
    parse_dcc_entity_ids,
    write_certificate_files,
)
from smki.ca.directory import (
    ENVIRONMENT_FILE,
    HierarchyState,
    PublishedCertificate,
    backend_in_use,
    hierarchy_state,
    home_environment,
)
from smki.ca.issuance import (
    KEY_VALIDITY_CLAUSE,
    IssuedCertificate,
    IssueRequest,
    SigningAuthority,
    spki_sha256,
)
from smki.policy.authorities import CommissioningCertificate

__all__ = [
    "COMMISSIONING_CERTIFICATES",
    "DEFAULT_DCC_ENTITY_IDS",
    "ENVIRONMENT_FILE",
    "KEY_VALIDITY_CLAUSE",
    "CeremonyResult",
    "CertificateAuthorities",
    "CommissioningCertificate",
    "HierarchyState",
    "IssueRequest",
    "IssuedCertificate",
    "PublishedCertificate",
    "SigningAuthority",
    "backend_in_use",
    "create_hierarchy",
    "hierarchy_state",
    "home_environment",
    "parse_dcc_entity_ids",
    "spki_sha256",
    "write_certificate_files",
]
