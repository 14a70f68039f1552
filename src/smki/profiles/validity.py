"""Validity Periods of SMKI certificates: SEC Appendix B 6.3.2 (as amended by MP261) and our analogues.

Appendix B 6.3.2(A): an Organisation Certificate is valid for 10 years (or a different duration the SMKI
PMA approved, having taken into account the views of the SSC), an Issuing OCA Certificate for 25 years and
the Root OCA Certificate for 50 years. The DCA and ICA durations are not public: smki uses the same 50/25
year pattern and 10 years for IKI end-entity certificates (docs/decisions.md, "Validity Periods").
Device Certificates never expire: notAfter is 99991231235959Z (GBCS).

"N years" is measured as the DCC's certificates show it: the default notAfter is notBefore plus N calendar
years minus one second; an explicit notAfter counts as N years when it lies within one day either side of
the N-th anniversary of notBefore (this admits every genuine DCC certificate, see docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from smki.model import CertificateKind, InvalidInput, PolicyRefusal

DEVICE_NOT_AFTER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
"""GBCS: a Device Certificate has no well-defined expiry; notAfter is GeneralizedTime 99991231235959Z."""

ANNIVERSARY_TOLERANCE = timedelta(days=1)
"""How far an explicit notAfter may sit from the N-th anniversary of notBefore and still be "N years"."""


@dataclass(frozen=True, slots=True)
class ValidityRule:
    """The Validity Period a certificate kind must have, and the clause that sets it."""

    kind: CertificateKind
    years: int
    clause: str
    # True where the policy admits a different duration approved by the SMKI PMA (Organisation only).
    pma_may_vary: bool = False


VALIDITY_RULES: dict[CertificateKind, ValidityRule] = {
    CertificateKind.ORGANISATION: ValidityRule(
        CertificateKind.ORGANISATION, 10, "Appendix B 6.3.2(A)(i)", pma_may_vary=True
    ),
    CertificateKind.ISSUING_OCA: ValidityRule(CertificateKind.ISSUING_OCA, 25, "Appendix B 6.3.2(A)(ii)"),
    CertificateKind.ROOT_OCA: ValidityRule(CertificateKind.ROOT_OCA, 50, "Appendix B 6.3.2(A)(iii)"),
    # Not public: smki's choices by analogy with the OCA (docs/decisions.md).
    CertificateKind.ROOT_DCA: ValidityRule(CertificateKind.ROOT_DCA, 50, "Appendix A 6.3.2"),
    CertificateKind.ISSUING_DCA: ValidityRule(CertificateKind.ISSUING_DCA, 25, "Appendix A 6.3.2"),
    CertificateKind.ROOT_ICA: ValidityRule(CertificateKind.ROOT_ICA, 50, "IKI Certificate Policy 6.3.2"),
    CertificateKind.ISSUING_ICA: ValidityRule(
        CertificateKind.ISSUING_ICA, 25, "IKI Certificate Policy 6.3.2"
    ),
    CertificateKind.IKI: ValidityRule(
        CertificateKind.IKI, 10, "IKI Certificate Policy 6.3.2", pma_may_vary=True
    ),
}


def as_utc(moment: datetime, what: str = "time") -> datetime:
    """Normalise to an aware UTC datetime without microseconds (certificates carry whole seconds).

    A naive datetime is taken to be UTC, as ``cryptography`` does.
    """
    if not isinstance(moment, datetime):
        raise InvalidInput("validity.not_a_time", f"The {what} must be a date and time, not {moment!r}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def add_years(moment: datetime, years: int) -> datetime:
    """The same calendar moment ``years`` later; 29 February maps to 28 February in a common year."""
    day = 28 if (moment.month, moment.day) == (2, 29) and not _is_leap(moment.year + years) else moment.day
    try:
        return moment.replace(year=moment.year + years, day=day)
    except ValueError:
        raise InvalidInput(
            "validity.out_of_range", f"{years} years after {moment.isoformat()} is not a representable date."
        ) from None


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def default_not_after(not_before: datetime, years: int) -> datetime:
    """notBefore plus ``years`` calendar years minus one second (as Z1 and the 2015 organisation certs)."""
    return add_years(as_utc(not_before, "notBefore"), years) - timedelta(seconds=1)


def spans_years(not_before: datetime, not_after: datetime, years: int) -> bool:
    """True when notAfter lies within one day either side of the ``years``-th anniversary of notBefore."""
    anniversary = add_years(as_utc(not_before, "notBefore"), years)
    return abs(as_utc(not_after, "notAfter") - anniversary) <= ANNIVERSARY_TOLERANCE


def not_after_for(
    kind: CertificateKind,
    not_before: datetime,
    *,
    not_after: datetime | None = None,
    approval_reference: str | None = None,
) -> datetime:
    """The notAfter a certificate of ``kind`` gets, or a PolicyRefusal citing the validity clause.

    Without ``not_after`` the default (N years minus one second) is returned. An explicit ``not_after`` is
    accepted when it is N years (see ``spans_years``); a different duration is accepted only for kinds whose
    policy lets the SMKI PMA approve one, and only when ``approval_reference`` names that decision (checking
    the decision itself is the RA's job). Device Certificates always get 99991231235959Z.
    """
    start = as_utc(not_before, "notBefore")
    if kind is CertificateKind.DEVICE:
        if not_after is not None and as_utc(not_after, "notAfter") != DEVICE_NOT_AFTER:
            raise PolicyRefusal(
                "validity.device_not_after",
                "A Device Certificate's notAfter is always 99991231235959Z.",
                "GBCS 12 (Device Certificate profile)",
            )
        return DEVICE_NOT_AFTER
    rule = VALIDITY_RULES[kind]
    reference = _approval(approval_reference)
    if not_after is None:
        return default_not_after(start, rule.years)
    end = as_utc(not_after, "notAfter")
    if end <= start:
        raise InvalidInput(
            "validity.not_after_before_not_before",
            f"notAfter ({end.isoformat()}) must be later than notBefore ({start.isoformat()}).",
        )
    if spans_years(start, end, rule.years):
        return end
    if rule.pma_may_vary and reference is not None:
        return end
    if rule.pma_may_vary:
        raise PolicyRefusal(
            f"validity.{kind.value}_duration",
            f"{_article(kind.title)} is valid for {rule.years} years; a different duration "
            f"(here to {end.isoformat()}) needs the reference of an SMKI PMA approval.",
            rule.clause,
        )
    raise PolicyRefusal(
        f"validity.{kind.value}_duration",
        f"{_article(kind.title)} is valid for exactly {rule.years} years, not until {end.isoformat()}.",
        rule.clause,
    )


def organisation_not_after(
    not_before: datetime, *, not_after: datetime | None = None, approval_reference: str | None = None
) -> datetime:
    """Appendix B 6.3.2(A)(i): 10 years, or a different duration with an SMKI PMA approval reference."""
    return not_after_for(
        CertificateKind.ORGANISATION, not_before, not_after=not_after, approval_reference=approval_reference
    )


def issuing_oca_not_after(not_before: datetime, *, not_after: datetime | None = None) -> datetime:
    """Appendix B 6.3.2(A)(ii): 25 years."""
    return not_after_for(CertificateKind.ISSUING_OCA, not_before, not_after=not_after)


def root_oca_not_after(not_before: datetime, *, not_after: datetime | None = None) -> datetime:
    """Appendix B 6.3.2(A)(iii): 50 years."""
    return not_after_for(CertificateKind.ROOT_OCA, not_before, not_after=not_after)


def _approval(reference: str | None) -> str | None:
    if reference is None:
        return None
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidInput(
            "validity.approval_reference",
            "An SMKI PMA approval reference must be non-empty text naming the PMA decision.",
            "Appendix B 6.3.2(A)(i)",
        )
    return reference.strip()


def _article(title: str) -> str:
    return f"{'An' if title[0] in 'AEIOU' else 'A'} {title}"
