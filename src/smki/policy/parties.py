"""Who is who under the SEC: Parties, their licences and User Roles, RDPs and the Network Parties naming them.

Pure values (no I/O). The definitions follow Section L3 as the seed uses them: a *Network Party* is a Party
holding an electricity distribution or gas transportation licence (an Electricity or Gas Network Party, which
is deemed to be an RDP, L3.6); a *Supplier Party* is a Party holding an electricity or gas supply licence.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from smki.model import EntityId, InvalidInput, PolicyRefusal


class PartyType(enum.Enum):
    """What kind of person deals with the SMKI (L3.2: SECCo, any Party, any RDP; the DCC runs it)."""

    DCC = "dcc"
    SECCO = "secco"
    PARTY = "party"  # a SEC Party other than the DCC
    RDP = "rdp"  # a Registration Data Provider that is not itself a Party

    @property
    def is_party(self) -> bool:
        """True for SEC Parties (the DCC is a Party; SECCo and a non-Party RDP are not, for Section L3)."""
        return self in (PartyType.DCC, PartyType.PARTY)


class Licence(enum.Enum):
    """The licences that make a Party a Supplier Party or a Network Party."""

    ELECTRICITY_SUPPLY = "electricity-supply"
    GAS_SUPPLY = "gas-supply"
    ELECTRICITY_DISTRIBUTION = "electricity-distribution"
    GAS_TRANSPORTATION = "gas-transportation"


class UserRole(enum.Enum):
    """The User Roles of the SEC, and the RDP capacity, as L3.16 and L3.18 name them."""

    IMPORT_SUPPLIER = "import-supplier"
    EXPORT_SUPPLIER = "export-supplier"
    GAS_SUPPLIER = "gas-supplier"
    ELECTRICITY_DISTRIBUTOR = "electricity-distributor"
    GAS_TRANSPORTER = "gas-transporter"
    OTHER_USER = "other-user"
    REGISTERED_SUPPLIER_AGENT = "registered-supplier-agent"
    REGISTRATION_DATA_PROVIDER = "registration-data-provider"

    @property
    def title(self) -> str:
        """The SEC's name for the role."""
        return self.value.replace("-", " ").title().replace("Rdp", "RDP")

    @classmethod
    def parse(cls, text: str) -> UserRole:
        """Accept ``import-supplier``, ``Import Supplier``, ``IMPORT_SUPPLIER`` or the short ``rdp``."""
        key = text.strip().lower().replace("_", "-").replace(" ", "-")
        if key == "rdp":
            return cls.REGISTRATION_DATA_PROVIDER
        for role in cls:
            if role.value == key:
                return role
        raise InvalidInput(
            "user_role.unknown",
            f"'{text}' is not a User Role: use one of " + ", ".join(r.value for r in cls) + ".",
        )


# Which licence a Party needs to act in a User Role (None: any Party may).
_ROLE_LICENCES: dict[UserRole, frozenset[Licence] | None] = {
    UserRole.IMPORT_SUPPLIER: frozenset({Licence.ELECTRICITY_SUPPLY}),
    UserRole.EXPORT_SUPPLIER: frozenset({Licence.ELECTRICITY_SUPPLY}),
    UserRole.GAS_SUPPLIER: frozenset({Licence.GAS_SUPPLY}),
    UserRole.ELECTRICITY_DISTRIBUTOR: frozenset({Licence.ELECTRICITY_DISTRIBUTION}),
    UserRole.GAS_TRANSPORTER: frozenset({Licence.GAS_TRANSPORTATION}),
    UserRole.OTHER_USER: None,
    UserRole.REGISTERED_SUPPLIER_AGENT: None,
    UserRole.REGISTRATION_DATA_PROVIDER: frozenset(
        {Licence.ELECTRICITY_DISTRIBUTION, Licence.GAS_TRANSPORTATION}
    ),
}


@dataclass(frozen=True, slots=True)
class PartyIdentifier:
    """An EUI-64 held by a person: a User ID (for a User Role), an RDP ID, or an ID of the DCC or SECCo.

    ``user_role`` is None for the DCC's and SECCo's own identifiers. ``service_provider`` names the DCC
    Service Provider an identifier of the DCC belongs to (L3.18(a)(i)), if any.
    """

    entity_id: EntityId
    user_role: UserRole | None = None
    service_provider: str | None = None


@dataclass(frozen=True, slots=True)
class Party:
    """A person known to the Registration Authority, with what it holds."""

    party_id: str
    name: str
    party_type: PartyType
    licences: frozenset[Licence] = frozenset()
    identifiers: tuple[PartyIdentifier, ...] = ()
    nominated_by: frozenset[str] = field(default_factory=frozenset)  # Network Party ids (RDPs only)

    @property
    def is_dcc(self) -> bool:
        """True for the DCC."""
        return self.party_type is PartyType.DCC

    @property
    def is_party(self) -> bool:
        """True for a SEC Party (including the DCC)."""
        return self.party_type.is_party

    @property
    def is_network_party(self) -> bool:
        """An Electricity Network Party or Gas Network Party (licence holder for distribution/transport)."""
        return self.party_type is PartyType.PARTY and bool(
            self.licences & {Licence.ELECTRICITY_DISTRIBUTION, Licence.GAS_TRANSPORTATION}
        )

    @property
    def is_supplier_party(self) -> bool:
        """An Electricity Supplier Party or Gas Supplier Party (supply licence holder)."""
        return self.party_type is PartyType.PARTY and bool(
            self.licences & {Licence.ELECTRICITY_SUPPLY, Licence.GAS_SUPPLY}
        )

    @property
    def is_rdp(self) -> bool:
        """A Registration Data Provider: a nominated RDP, or a Network Party (deemed an RDP, L3.6)."""
        return self.party_type is PartyType.RDP or self.is_network_party

    @property
    def user_roles(self) -> frozenset[UserRole]:
        """The User Roles (and RDP capacity) for which the person holds an identifier."""
        return frozenset(i.user_role for i in self.identifiers if i.user_role is not None)

    def holds_role(self, role: UserRole) -> bool:
        """True when the person holds an identifier for ``role``."""
        return role in self.user_roles

    def identifiers_for(self, entity_id: EntityId) -> tuple[PartyIdentifier, ...]:
        """The identifiers the person holds with this EUI-64 (one per User Role it is used for)."""
        return tuple(i for i in self.identifiers if i.entity_id == entity_id)

    def owns(self, entity_id: EntityId) -> bool:
        """True when the EUI-64 is one of the person's identifiers."""
        return bool(self.identifiers_for(entity_id))


def check_party(party: Party, network_parties: Iterable[Party] = ()) -> None:
    """Refuse a party description the SEC does not allow; return quietly when it is consistent.

    ``network_parties`` are the parties an RDP names as nominating it (L3.6-L3.7).
    """
    if not party.party_id or not party.party_id.strip():
        raise InvalidInput("party.id_required", "A party needs a non-empty identifier.")
    if party.party_type is not PartyType.PARTY and party.licences:
        raise PolicyRefusal(
            "party.licence_not_party",
            "Only a SEC Party other than the DCC holds supply or network licences, "
            f"not a {party.party_type.value}.",
            "L3.18",
        )
    for ident in party.identifiers:
        _check_identifier(party, ident)
    seen: dict[tuple[EntityId, UserRole | None], int] = {}
    for ident in party.identifiers:
        key = (ident.entity_id, ident.user_role)
        if key in seen:
            raise InvalidInput(
                "party.duplicate_identifier",
                f"The identifier {ident.entity_id} is listed twice for the same role.",
            )
        seen[key] = 1
    if party.party_type is PartyType.RDP:
        _check_nominations(party, list(network_parties))
    elif party.nominated_by:
        raise PolicyRefusal(
            "party.nomination_not_rdp",
            "Only a Registration Data Provider that is not itself a Party is nominated by Network Parties.",
            "L3.6",
        )


def _check_identifier(party: Party, ident: PartyIdentifier) -> None:
    role = ident.user_role
    if party.party_type in (PartyType.DCC, PartyType.SECCO):
        if role is not None:
            raise PolicyRefusal(
                "party.role_not_available",
                f"The {party.party_type.value.upper()} holds its own identifiers, "
                f"not User IDs for {role.title}.",
                "L3.18(b)",
            )
        return
    if ident.service_provider is not None:
        raise PolicyRefusal(
            "party.service_provider_not_dcc",
            "Only identifiers of the DCC can belong to a DCC Service Provider.",
            "L3.18(a)(i)",
        )
    if role is None:
        raise InvalidInput(
            "party.role_required", f"The identifier {ident.entity_id} must name the User Role it is for."
        )
    if party.party_type is PartyType.RDP:
        if role is not UserRole.REGISTRATION_DATA_PROVIDER:
            raise PolicyRefusal(
                "party.role_not_available",
                "A Registration Data Provider that is not a Party holds RDP IDs only, "
                f"not User IDs for {role.title}.",
                "L3.18(b)(ii)",
            )
        return
    needed = _ROLE_LICENCES[role]
    if needed is not None and not (party.licences & needed):
        raise PolicyRefusal(
            "party.role_needs_licence",
            f"A Party acts as {role.title} only when it holds a "
            + " or ".join(sorted(lic.value for lic in needed))
            + " licence.",
            "L3.18(b)",
        )


def _check_nominations(party: Party, network_parties: list[Party]) -> None:
    if not party.nominated_by:
        raise PolicyRefusal(
            "party.rdp_not_nominated",
            "A Registration Data Provider must be nominated by at least one Network Party.",
            "L3.6",
        )
    by_id = {p.party_id: p for p in network_parties}
    for nominator in sorted(party.nominated_by):
        found = by_id.get(nominator)
        if found is None or not found.is_network_party:
            raise PolicyRefusal(
                "party.nominator_not_network_party",
                f"'{nominator}' is not a Network Party, so it cannot nominate a Registration Data Provider.",
                "L3.6",
            )


def responsible_network_parties(rdp: Party, acting_for: str | None = None) -> frozenset[str]:
    """The Network Parties answerable for an RDP's actions (L3.6-L3.7).

    Where the RDP is clearly acting for one nominating Network Party, that one (L3.7(b)); otherwise every
    Network Party that nominated it (L3.7(c)). A Network Party acting as its own RDP answers for itself.
    """
    if rdp.party_type is not PartyType.RDP:
        return frozenset({rdp.party_id}) if rdp.is_network_party else frozenset()
    if acting_for is not None:
        if acting_for not in rdp.nominated_by:
            raise PolicyRefusal(
                "party.not_nominated_by",
                f"The RDP '{rdp.party_id}' was not nominated by '{acting_for}'.",
                "L3.7(b)",
            )
        return frozenset({acting_for})
    return frozenset(rdp.nominated_by)
