"""The key ceremony's certificates: the DCC's CA certificates (L3.17, L3.19, L3.21) and the commissioning
certificates of L3.23(e)-(i), whose contents the L3.24 table fixes.

The L3.24 table is written out below in the shape the seed prints it, one row per certificate. The
functions only read it. ``smki.ca.ceremony`` calls them and keeps only the orchestration. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smki.model import CertificateKind, KeyUsage, PolicyRefusal, RemotePartyRole
from smki.policy.eligibility import EligibilityDecision, check_ca_certificate_eligibility
from smki.policy.parties import Party, PartyType

# The subscriber of every certificate the key ceremony makes (L3.17(a), L3.19(a), L3.21(a): it, and only
# it, is an Eligible Subscriber for CA certificates; L3.22: it lodges the commissioning certificates).
THE_DCC = Party("DCC", "The DCC", PartyType.DCC)

# The CA certificates of one key ceremony: the three Roots first (each signs its Issuing CA).
CEREMONY_CA_KINDS: tuple[CertificateKind, ...] = (
    CertificateKind.ROOT_OCA,
    CertificateKind.ROOT_DCA,
    CertificateKind.ROOT_ICA,
    CertificateKind.ISSUING_OCA,
    CertificateKind.ISSUING_DCA,
    CertificateKind.ISSUING_ICA,
)


def check_key_ceremony(
    in_force: Sequence[tuple[CertificateKind, str]], *, replacing: bool
) -> tuple[EligibilityDecision, ...]:
    """Decide whether the DCC may be issued a new Root and Issuing OCA, DCA and ICA now.

    ``in_force`` lists the kind and name of each CA in force. Every CA certificate of the ceremony goes
    through :func:`check_ca_certificate_eligibility` for the DCC, counting the Roots in force against the
    single Root of L3.17(b), L3.19(b) and L3.21(b); ``replacing`` (``smki init --force``) is the
    replacement those clauses save. Refuses with ``init.hierarchy_exists``, citing the first (b) clause.
    """
    decisions = []
    for kind in CEREMONY_CA_KINDS:
        roots = sum(1 for in_force_kind, _ in in_force if in_force_kind is kind) if kind.is_root else 0
        try:
            decisions.append(
                check_ca_certificate_eligibility(THE_DCC, kind, roots_in_use=roots, replacing_root=replacing)
            )
        except PolicyRefusal as refusal:
            if refusal.code != "eligibility.ca.single_root":
                raise
            shown = ", ".join(f"{k.title} {name}" for k, name in in_force[:2])
            raise PolicyRefusal(
                "init.hierarchy_exists",
                f"This SMKI already has a hierarchy in force ({shown}, ...): the DCC may hold a single "
                f"{kind.title} save for its replacement, so `smki init` will not make another unless run "
                "with --force, which retires the current one and keeps all its records, certificates and "
                "keys.",
                refusal.clause,
            ) from None
    return tuple(decisions)


# ---------------------------------------------------------------------------------------------------
# L3.24 the DCC's certificates for commissioning Devices (L3.23(e)-(i))
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommissioningCertificate:
    """One row of the L3.24 table, with the L3.23 paragraph naming the certificate and smki's name for it.

    ``key_usage`` is the second column (L3.24(a)), ``role`` the third (L3.24(b), the
    X520OrganizationalUnitName), ``dcc_role`` the fourth (L3.24(c)).
    """

    title: str
    key_usage: KeyUsage
    role: RemotePartyRole
    dcc_role: str
    paragraph: str
    name: str  # file stem and key label part: dcc-recovery, ...


KU = KeyUsage
R = RemotePartyRole
COMMISSIONING_CERTIFICATE_TABLE: tuple[CommissioningCertificate, ...] = (
    # Certificate                                            keyUsage Value        Remote Party Role
    #   DCC Role                                                  L3.23      smki name
    CommissioningCertificate("Recovery Certificate",         KU.DIGITAL_SIGNATURE, R.RECOVERY,
        "The role of the DCC under the SMKI Recovery Procedure", "L3.23(e)", "dcc-recovery"),
    CommissioningCertificate("DCC (accessControlBroker) - digitalSignature Certificate",
                                                             KU.DIGITAL_SIGNATURE, R.ACCESS_CONTROL_BROKER,
        "AccessControlBroker",                                    "L3.23(f)", "dcc-acb-ds"),
    CommissioningCertificate("DCC (accessControlBroker) - keyAgreement Certificate",
                                                             KU.KEY_AGREEMENT,     R.ACCESS_CONTROL_BROKER,
        "AccessControlBroker",                                    "L3.23(g)", "dcc-acb-ka"),
    CommissioningCertificate("DCC (wanProvider) Certificate", KU.DIGITAL_SIGNATURE, R.WAN_PROVIDER,
        "wanProvider",                                            "L3.23(h)", "dcc-wan-provider"),
    CommissioningCertificate("DCC (transitionalCoS) Certificate",
                                                             KU.DIGITAL_SIGNATURE, R.TRANSITIONAL_COS,
        "The role of the DCC as CoS Party",                       "L3.23(i)", "dcc-transitional-cos"),
)  # fmt: skip
del KU, R


def check_commissioning_certificate(
    row: CommissioningCertificate, *, key_usage: KeyUsage | None, role: RemotePartyRole | None
) -> None:
    """Refuse a certificate made for ``row`` whose keyUsage or OU role is not the one L3.24 gives it.

    ``key_usage`` and ``role`` are what the certificate itself says (None: it says none or several).
    """
    if key_usage is not row.key_usage:
        found = key_usage.value if key_usage is not None else "no single SMKI key usage"
        raise PolicyRefusal(
            "init.commissioning_key_usage",
            f"The {row.title} must assert keyUsage {row.key_usage.value}, not {found}.",
            "L3.24(a)",
        )
    if role != row.role:
        found = role.label if role is not None else "no Remote Party Role"
        raise PolicyRefusal(
            "init.commissioning_role",
            f"The {row.title} must carry the Remote Party Role {row.role.label}, not {found}.",
            "L3.24(b)",
        )
