"""What the SEC allows: Authorised and Eligible Subscribers (L3), CSR rules (L11.4-L11.4B), validity.

Pure: no I/O. Every refusal is a ``PolicyRefusal`` citing the clause it applies.
"""

from smki.policy.csr import KEY_REUSE_ROLES, CsrFacts, KeyDecision, check_duplicate_key, read_csr
from smki.policy.eligibility import (
    DEVICE_CERTIFICATE_TABLE,
    ORGANISATION_CERTIFICATE_TABLE,
    DccLiveSystems,
    DeviceType,
    EligibilityDecision,
    check_ca_certificate_eligibility,
    check_device_eligibility,
    check_iki_eligibility,
    check_organisation_eligibility,
)
from smki.policy.parties import Licence, Party, PartyIdentifier, PartyType, UserRole, check_party
from smki.policy.subscribers import (
    LIFECYCLE,
    SubscriberEvent,
    SubscriberStatus,
    check_may_apply,
    next_status,
    require_authorised,
    revocation_on_ceasing,
)

__all__ = [
    "DEVICE_CERTIFICATE_TABLE",
    "KEY_REUSE_ROLES",
    "LIFECYCLE",
    "ORGANISATION_CERTIFICATE_TABLE",
    "CsrFacts",
    "DccLiveSystems",
    "DeviceType",
    "EligibilityDecision",
    "KeyDecision",
    "Licence",
    "Party",
    "PartyIdentifier",
    "PartyType",
    "SubscriberEvent",
    "SubscriberStatus",
    "UserRole",
    "check_ca_certificate_eligibility",
    "check_device_eligibility",
    "check_duplicate_key",
    "check_iki_eligibility",
    "check_may_apply",
    "check_organisation_eligibility",
    "check_party",
    "next_status",
    "read_csr",
    "require_authorised",
    "revocation_on_ceasing",
]
