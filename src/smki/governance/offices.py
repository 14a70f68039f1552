"""The offices of the SMKI PMA (L1.3) as a table: seats, who appoints, the term, and the clause."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from smki.model import InvalidInput


class PersonKind(enum.Enum):
    """What kind of person a record names; only individuals may be SMKI PMA Members (L1.4)."""

    INDIVIDUAL = "individual"
    BODY_CORPORATE = "body-corporate"
    ASSOCIATION = "association"
    PARTNERSHIP = "partnership"

    @classmethod
    def parse(cls, text: str) -> PersonKind:
        """Accept the value (``body-corporate``) or the name (``BODY_CORPORATE``)."""
        t = text.strip().lower().replace("_", "-").replace(" ", "-")
        for kind in cls:
            if kind.value == t:
                return kind
        raise InvalidInput(
            "pma.person_kind", f"'{text}' is not a kind of person: use {', '.join(k.value for k in cls)}."
        )


class Office(enum.Enum):
    """An office of SMKI PMA Member (L1.3(a)-(e)); multi-seat offices are one value with a capacity."""

    CHAIR = "chair"
    SUPPLIER_LARGE = "supplier-large"
    SUPPLIER_SMALL = "supplier-small"
    NETWORK_ELECTRICITY = "network-electricity"
    NETWORK_GAS = "network-gas"
    SSC = "ssc"
    TABASC = "tabasc"
    SPECIALIST = "specialist"

    @classmethod
    def parse(cls, text: str) -> Office:
        """Accept the value (``supplier-large``) or the name (``SUPPLIER_LARGE``)."""
        t = text.strip().lower().replace("_", "-")
        for office in cls:
            if office.value == t:
                return office
        raise InvalidInput(
            "pma.office_unknown",
            f"'{text}' is not an SMKI PMA office: use {', '.join(o.value for o in cls)}.",
        )

    @property
    def rule(self) -> OfficeRule:
        """The row of the office table for this office."""
        return OFFICES[self]


@dataclass(frozen=True, slots=True)
class OfficeRule:
    """One row of the L1.3 table."""

    title: str
    seats: int
    appointed_by: str
    term_years: int | None  # None: holds office until replaced or removed
    continues_after_term: bool  # L1.5(e): only the Chair continues while a successor is delayed
    removable: bool  # may be removed from office (as opposed to replaced by a nominating body)
    interim_appointer: str | None  # L1.10: the Panel nominates until the Sub-Committee exists
    clause: str


OFFICES: dict[Office, OfficeRule] = {
    Office.CHAIR: OfficeRule("SMKI PMA Chair", 1, "Panel", 3, True, True, None, "L1.5"),
    Office.SUPPLIER_LARGE: OfficeRule(
        "SMKI PMA (Supplier) Member", 3, "Large Supplier Parties", 2, False, True, None, "L1.7(a)"
    ),
    Office.SUPPLIER_SMALL: OfficeRule(
        "SMKI PMA (Supplier) Member", 1, "Small Supplier Parties", 2, False, True, None, "L1.7(a)"
    ),
    Office.NETWORK_ELECTRICITY: OfficeRule(
        "SMKI PMA (Network) Member", 1, "Electricity Network Parties", 2, False, True, None, "L1.9(a)"
    ),
    Office.NETWORK_GAS: OfficeRule(
        "SMKI PMA (Network) Member", 1, "Gas Network Parties", 2, False, True, None, "L1.9(a)"
    ),
    Office.SSC: OfficeRule(
        "Security Sub-Committee representative",
        1,
        "Security Sub-Committee",
        None,
        False,
        False,
        "Panel",
        "L1.10",
    ),
    Office.TABASC: OfficeRule(
        "TABASC representative",
        1,
        "Technical Architecture and Business Architecture Sub-Committee",
        None,
        False,
        False,
        "Panel",
        "L1.10",
    ),
    Office.SPECIALIST: OfficeRule("SMKI Specialist", 1, "Panel", None, False, True, None, "L1.3(e)"),
}

# Clause under which each office may be removed from (L1.5(d), L1.6(c), L1.8(c)).
REMOVAL_CLAUSE: dict[Office, str] = {
    Office.CHAIR: "L1.5(d)",
    Office.SUPPLIER_LARGE: "L1.6(c)",
    Office.SUPPLIER_SMALL: "L1.6(c)",
    Office.NETWORK_ELECTRICITY: "L1.8(c)",
    Office.NETWORK_GAS: "L1.8(c)",
    Office.SPECIALIST: "L1.3(e)",
}

TOTAL_SEATS = sum(rule.seats for rule in OFFICES.values())  # ten SMKI PMA Members (L1.3)
QUORUM = 4  # L1.13


def add_years(start: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def add_months(start: date, months: int) -> date:
    """The same calendar day ``months`` later, clamped to the month's last day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
