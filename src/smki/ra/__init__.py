"""The Registration Authority: the request pipeline and Authorised Subscriber administration.

``RegistrationAuthority`` runs parse -> proof of possession -> profile -> subscriber -> eligibility ->
duplicate key -> approvals -> issue; ``parties`` registers who is who; ``subscribers`` moves a person through
the L3.2-L3.14 lifecycle (revoking Organisation Certificates when it ceases to be authorised).
"""

from __future__ import annotations

from pathlib import Path

from smki.policy.eligibility import DccLiveSystems
from smki.ra.authority import CertificateRequest, Decision, RegistrationAuthority

LIVE_SYSTEMS_FILE = "dcc-live-systems.json"


def home_live_systems(home: Path) -> DccLiveSystems:
    """The DCC Live Systems configuration of an SMKI home (``HOME/dcc-live-systems.json``, else defaults)."""
    return DccLiveSystems.load(home / LIVE_SYSTEMS_FILE)


__all__ = [
    "LIVE_SYSTEMS_FILE",
    "CertificateRequest",
    "DccLiveSystems",
    "Decision",
    "RegistrationAuthority",
    "home_live_systems",
]
