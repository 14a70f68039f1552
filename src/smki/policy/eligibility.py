"""Eligible Subscribers (L3.15-L3.21): the L3.16 device table, the L3.18 organisation table, CA and IKI rules.

The two tables are written out below in the shape the seed prints them, one row per line of the table,
each citing its clause. The functions only read them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smki.model import CertificateKind, EntityId, InvalidInput, PolicyRefusal, RemotePartyRole, SmiStatus
from smki.model import DeviceType as DeviceType  # the L3.16 Subjects, with their parser, re-exported
from smki.policy.parties import Party, PartyType, UserRole

# ---------------------------------------------------------------------------------------------------
# L3.16 Device Certificates: Eligible Subscriber by Subject
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceTableRow:
    """One row of the L3.16 table: the Party column, the Subject column and any condition on the row."""

    party: str  # the Party column, as printed
    subjects: frozenset[DeviceType]
    matches: Callable[[Party], bool]
    not_while: frozenset[SmiStatus] = frozenset()  # "but only in so far as the SMI Status ... is not"
    clause: str = "L3.16"


D = DeviceType
DEVICE_CERTIFICATE_TABLE: tuple[DeviceTableRow, ...] = (
    # Party                                           Subject
    DeviceTableRow("The DCC",
                   frozenset({D.COMMUNICATIONS_HUB_FUNCTION, D.GAS_PROXY_FUNCTION}),
                   lambda p: p.is_dcc),
    DeviceTableRow("An Import Supplier",
                   frozenset({D.ELECTRICITY_SMART_METER, D.TYPE_1_DEVICE}),
                   lambda p: p.is_party and p.holds_role(UserRole.IMPORT_SUPPLIER)),
    DeviceTableRow("A Gas Supplier",
                   frozenset({D.GAS_SMART_METER, D.GAS_PROXY_FUNCTION, D.TYPE_1_DEVICE}),
                   lambda p: p.is_party and p.holds_role(UserRole.GAS_SUPPLIER)),
    DeviceTableRow("Any other Party",
                   frozenset({D.ELECTRICITY_SMART_METER, D.GAS_SMART_METER, D.TYPE_1_DEVICE}),
                   lambda p: p.is_party,
                   not_while=frozenset({SmiStatus.COMMISSIONED, SmiStatus.INSTALLED_NOT_COMMISSIONED})),
    DeviceTableRow("The DCC acting as the Production Proving Function",
                   frozenset({D.PRODUCTION_PROVING_DEVICE}),
                   lambda p: p.is_dcc),
)  # fmt: skip
del D


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    """Why a request is eligible: the table row (as printed) and the clause."""

    row: str
    clause: str


def check_device_eligibility(
    requester: Party, device_type: DeviceType, smi_status: SmiStatus | None
) -> EligibilityDecision:
    """Refuse a Device Certificate the L3.16 table does not give ``requester``; else name the row.

    ``smi_status`` None means the Device has no SMI Status (it is not in the Smart Metering Inventory),
    which is neither 'commissioned' nor 'installed not commissioned'.
    """
    if not requester.is_party:
        raise PolicyRefusal(
            "eligibility.device.not_a_party",
            "Only a Party can be an Eligible Subscriber for a Device Certificate.",
            "L3.16",
        )
    blocked_row: DeviceTableRow | None = None
    for row in DEVICE_CERTIFICATE_TABLE:
        if device_type not in row.subjects or not row.matches(requester):
            continue
        if smi_status is not None and smi_status in row.not_while:
            blocked_row = row
            continue
        return EligibilityDecision(row.party, row.clause)
    if blocked_row is not None:
        raise PolicyRefusal(
            "eligibility.device.smi_status",
            f"'{requester.party_id}' may hold a {device_type.title} certificate only while the Device's "
            "SMI Status is neither 'commissioned' nor 'installed not commissioned', and it is "
            f"'{smi_status.value if smi_status else None}'.",
            "L3.16",
        )
    holders = [row.party for row in DEVICE_CERTIFICATE_TABLE if device_type in row.subjects]
    raise PolicyRefusal(
        "eligibility.device.wrong_party",
        f"'{requester.party_id}' is not an Eligible Subscriber for a {device_type.title} certificate: "
        f"the table gives it to {' or '.join(h.lower() for h in holders)} only.",
        "L3.16",
    )


# ---------------------------------------------------------------------------------------------------
# L3.17, L3.19, L3.21 DCA, OCA and ICA Certificates
# ---------------------------------------------------------------------------------------------------

_CA_CLAUSE = {
    CertificateKind.ROOT_DCA: "L3.17",
    CertificateKind.ISSUING_DCA: "L3.17",
    CertificateKind.ROOT_OCA: "L3.19",
    CertificateKind.ISSUING_OCA: "L3.19",
    CertificateKind.ROOT_ICA: "L3.21",
    CertificateKind.ISSUING_ICA: "L3.21",
}


def check_ca_certificate_eligibility(
    requester: Party, kind: CertificateKind, *, roots_in_use: int, replacing_root: bool = False
) -> EligibilityDecision:
    """Refuse a DCA, OCA or ICA Certificate to anyone but the DCC, and a second Root unless replacing it."""
    clause = _CA_CLAUSE.get(kind)
    if clause is None:
        raise InvalidInput("eligibility.not_a_ca_kind", f"A {kind.title} is not a CA certificate.")
    if not requester.is_dcc:
        raise PolicyRefusal(
            "eligibility.ca.dcc_only",
            f"Only the DCC is an Eligible Subscriber for a {kind.title}.",
            f"{clause}(a)",
        )
    if kind.is_root and roots_in_use >= 1 and not replacing_root:
        raise PolicyRefusal(
            "eligibility.ca.single_root",
            f"The DCC is eligible for a single {kind.title}, save for replacing it.",
            f"{clause}(b)",
        )
    return EligibilityDecision("The DCC", f"{clause}(a)")


# ---------------------------------------------------------------------------------------------------
# L3.18 Organisation Certificates
# ---------------------------------------------------------------------------------------------------


class PartyColumn(enum.Enum):
    """The second column of the L3.18 table."""

    THE_DCC = "The DCC"
    A_NETWORK_PARTY = "A Network Party"
    A_SUPPLIER_PARTY = "A Supplier Party"
    AN_RDP_OR_ANY_PARTY_OTHER_THAN_THE_DCC = "An RDP or any Party other than the DCC"

    def identifies(self, person: Party) -> bool:
        """True when ``person`` is identified with a role by this column."""
        if self is PartyColumn.THE_DCC:
            return person.is_dcc
        if self is PartyColumn.A_NETWORK_PARTY:
            return person.is_network_party
        if self is PartyColumn.A_SUPPLIER_PARTY:
            return person.is_supplier_party
        return person.party_type in (PartyType.PARTY, PartyType.RDP)


# Column 4 when it names no paragraph of the DCC Live Systems definition.
SMETS1_MIGRATION = "only relevant during SMETS1 Migration"


@dataclass(frozen=True, slots=True)
class OrganisationTableRow:
    """One row of the L3.18 table: Remote Party Role, Party, User Role or RDP, DCC Live Systems paragraph."""

    role: RemotePartyRole
    party: PartyColumn
    user_roles: frozenset[UserRole] | None  # None: "[Not applicable]"
    dcc_live_system: str | None  # "(a)".."(g)", SMETS1_MIGRATION, or None: "[Not applicable]"
    clause: str = "L3.18(b)"


R = RemotePartyRole
P = PartyColumn
U = UserRole
NA = None
ORGANISATION_CERTIFICATE_TABLE: tuple[OrganisationTableRow, ...] = (
    # Remote Party Role                               Party               User Role or RDP; DCC Live Systems
    OrganisationTableRow(R.ROOT,                          P.THE_DCC,          NA, "(d)"),
    OrganisationTableRow(R.RECOVERY,                      P.THE_DCC,          NA, "(f)"),
    OrganisationTableRow(R.TRANSITIONAL_COS,              P.THE_DCC,          NA, "(c)"),
    OrganisationTableRow(R.WAN_PROVIDER,                  P.THE_DCC,          NA, "(a)"),
    OrganisationTableRow(R.ACCESS_CONTROL_BROKER,         P.THE_DCC,          NA, "(b)"),
    OrganisationTableRow(R.ISSUING_AUTHORITY,             P.THE_DCC,          NA, "(a)"),
    OrganisationTableRow(R.NETWORK_OPERATOR,              P.A_NETWORK_PARTY,
                         frozenset({U.ELECTRICITY_DISTRIBUTOR, U.GAS_TRANSPORTER}), NA),
    OrganisationTableRow(R.SUPPLIER,                      P.A_SUPPLIER_PARTY,
                         frozenset({U.IMPORT_SUPPLIER, U.GAS_SUPPLIER}), NA),
    OrganisationTableRow(R.OTHER,                         P.AN_RDP_OR_ANY_PARTY_OTHER_THAN_THE_DCC,
                         frozenset({U.OTHER_USER, U.REGISTERED_SUPPLIER_AGENT,
                                    U.REGISTRATION_DATA_PROVIDER, U.EXPORT_SUPPLIER}), NA),
    OrganisationTableRow(R.PPP_XML_SIGN,                  P.THE_DCC,          NA, "(g)"),
    OrganisationTableRow(R.PPRDP_FILE_SIGN,               P.THE_DCC,          NA, "(g)"),
    OrganisationTableRow(R.S1SP_XML_SIGNING,              P.THE_DCC,          NA, "(g)"),
    OrganisationTableRow(R.COMMISSIONING_PARTY_FILE_SIGNING, P.THE_DCC,       NA, SMETS1_MIGRATION),
    OrganisationTableRow(R.REQUESTING_PARTY_FILE_SIGNING, P.THE_DCC,          NA, SMETS1_MIGRATION),
    OrganisationTableRow(R.S1SP_MIGRATION_SIGNING,        P.THE_DCC,          NA, SMETS1_MIGRATION),
    OrganisationTableRow(R.COMMISSIONING_PARTY_XML_SIGNING, P.THE_DCC,        NA, SMETS1_MIGRATION),
)  # fmt: skip
del R, P, U, NA

ORGANISATION_ROWS_BY_ROLE: Mapping[RemotePartyRole, OrganisationTableRow] = {
    row.role: row for row in ORGANISATION_CERTIFICATE_TABLE
}


@dataclass(frozen=True, slots=True)
class DccLiveSystems:
    """Configuration: the name of the DCC Live System each paragraph (a)-(g) of its definition refers to.

    The seed does not reproduce the definition (Section A1), so the names are the operator's. The SMETS1
    Migration rows need ``smets1_migration`` set; while it is None (the default) they are refused.
    """

    paragraphs: Mapping[str, str] = field(
        default_factory=lambda: {p: f"dcc-live-system-{p}" for p in "abcdefg"}
    )
    smets1_migration: str | None = None

    def system_for(self, paragraph: str) -> str | None:
        """The configured system name for ``"(a)"`` .. ``"(g)"`` or SMETS1_MIGRATION."""
        if paragraph == SMETS1_MIGRATION:
            return self.smets1_migration
        return self.paragraphs.get(paragraph.strip("()"))

    def to_mapping(self) -> dict[str, Any]:
        """The JSON shape of the configuration file."""
        return {"paragraphs": dict(self.paragraphs), "smets1_migration": self.smets1_migration}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DccLiveSystems:
        """Build from ``{"paragraphs": {"a": "...", ...}, "smets1_migration": "..."|null}``."""
        unknown = set(data) - {"paragraphs", "smets1_migration"}
        if unknown:
            raise InvalidInput(
                "live_systems.unknown_key",
                f"The DCC Live Systems setting {sorted(unknown)[0]!r} is not known.",
            )
        paragraphs = data.get("paragraphs", {})
        if not isinstance(paragraphs, dict) or not all(
            isinstance(k, str) and k in "abcdefg" and len(k) == 1 and isinstance(v, str) and v
            for k, v in paragraphs.items()
        ):
            raise InvalidInput(
                "live_systems.bad_paragraphs",
                "DCC Live Systems paragraphs must map the letters a to g to system names.",
            )
        migration = data.get("smets1_migration")
        if migration is not None and (not isinstance(migration, str) or not migration):
            raise InvalidInput(
                "live_systems.bad_migration", "smets1_migration must be a system name or null."
            )
        merged = {**cls().paragraphs, **paragraphs}
        return cls(paragraphs=merged, smets1_migration=migration)

    @classmethod
    def load(cls, path: Path) -> DccLiveSystems:
        """Read the JSON configuration file; a missing file means the defaults."""
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                "live_systems.unreadable", f"The DCC Live Systems file {path} is not readable JSON: {exc}."
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput(
                "live_systems.unreadable", f"The DCC Live Systems file {path} must hold an object."
            )
        return cls.from_mapping(data)


def check_organisation_eligibility(
    requester: Party,
    *,
    role: RemotePartyRole,
    entity_id: EntityId,
    subject_holder: Party | None,
    dcc_live_system: str | None,
    live_systems: DccLiveSystems,
) -> EligibilityDecision:
    """Refuse an Organisation Certificate L3.18 does not give ``requester``; else name the row.

    ``subject_holder`` is the person whose identifier the subjectUniqueID (x500UniqueIdentifier) is, if any.
    """
    # L3.18(a): who the Subject is decides who may subscribe.
    if subject_holder is not None and subject_holder.is_dcc:
        if not requester.is_dcc:
            raise PolicyRefusal(
                "eligibility.organisation.subject_is_dcc",
                f"The Subject {entity_id} is the DCC or a DCC Service Provider, so only the DCC may "
                "subscribe.",
                "L3.18(a)(i)",
            )
    elif subject_holder is None or subject_holder.party_id != requester.party_id:
        raise PolicyRefusal(
            "eligibility.organisation.not_subject",
            f"The Subject {entity_id} is not an identifier of '{requester.party_id}', which may subscribe "
            "only for itself.",
            "L3.18(a)(ii)",
        )
    # L3.18(b): the Remote Party Role in the OU must be one the table gives the requester.
    row = ORGANISATION_ROWS_BY_ROLE.get(role)
    if row is None:
        raise PolicyRefusal(
            "eligibility.organisation.role_not_in_table",
            f"The Remote Party Role {role.label} is not one the L3.18 table allows in an Organisation "
            "Certificate.",
            "L3.18(b)",
        )
    if not row.party.identifies(requester):
        raise PolicyRefusal(
            "eligibility.organisation.wrong_party",
            f"The {role} role is for {row.party.value.lower()}, which '{requester.party_id}' is not.",
            "L3.18(b)",
        )
    if requester.is_dcc:
        return _dcc_live_system(row, dcc_live_system, live_systems)
    assert row.user_roles is not None  # the table gives User Roles for every non-DCC row
    held = {i.user_role for i in requester.identifiers_for(entity_id)}
    if not held & row.user_roles:
        raise PolicyRefusal(
            "eligibility.organisation.wrong_subject_unique_id",
            f"The subjectUniqueID {entity_id} is not a User ID or RDP ID of '{requester.party_id}' for "
            + " or ".join(sorted(r.title for r in row.user_roles))
            + f", as the {role} role requires.",
            "L3.18(b)(ii)",
        )
    return EligibilityDecision(f"{role.name} / {row.party.value}", "L3.18(b)(ii)")


def _dcc_live_system(
    row: OrganisationTableRow, dcc_live_system: str | None, live_systems: DccLiveSystems
) -> EligibilityDecision:
    assert row.dcc_live_system is not None  # every DCC row names a system paragraph or the migration
    expected = live_systems.system_for(row.dcc_live_system)
    if expected is None:
        raise PolicyRefusal(
            "eligibility.organisation.smets1_migration_closed",
            f"The {row.role} role is only relevant during SMETS1 Migration, and no migration system is "
            "configured.",
            "L3.18(b)(i)",
        )
    if dcc_live_system != expected:
        where = "no DCC Live System" if dcc_live_system is None else f"'{dcc_live_system}'"
        raise PolicyRefusal(
            "eligibility.organisation.wrong_dcc_live_system",
            f"A {row.role} request from the DCC must originate from the DCC Live System '{expected}' "
            f"(paragraph {row.dcc_live_system}), not {where}.",
            "L3.18(b)(i)",
        )
    return EligibilityDecision(f"{row.role.name} / The DCC {row.dcc_live_system}", "L3.18(b)(i)")


# The rows of the L3.18 table whose role names a CA: certificates with these OUs are the Root and Issuing
# OCA Certificates (L3.19), which the DCC obtains through the key ceremony, not by an end-entity request.
OCA_ROLES: Mapping[RemotePartyRole, CertificateKind] = {
    RemotePartyRole.ROOT: CertificateKind.ROOT_OCA,
    RemotePartyRole.ISSUING_AUTHORITY: CertificateKind.ISSUING_OCA,
}


# ---------------------------------------------------------------------------------------------------
# L3.20 IKI Certificates
# ---------------------------------------------------------------------------------------------------


def check_iki_eligibility(
    requester: Party, *, entity_id: EntityId, subject_holder: Party | None
) -> EligibilityDecision:
    """Refuse an IKI Certificate whose Subject is not one of the requester's own identifiers.

    L3.20 defers to the IKI Certificate Policy, which the seed does not give; smki applies the L3.18(a)(ii)
    principle: a person subscribes only for itself (docs/decisions.md).
    """
    if subject_holder is None or subject_holder.party_id != requester.party_id:
        raise PolicyRefusal(
            "eligibility.iki.not_subject",
            f"The Subject {entity_id} is not an identifier of '{requester.party_id}', which may hold IKI "
            "Certificates only for itself.",
            "L3.20",
        )
    return EligibilityDecision("Subject is the requester", "L3.20")
