"""Validity Periods: SEC Appendix B 6.3.2 as amended by MP261, and smki's DCA/ICA/IKI analogues."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from smki.model import CertificateKind, EntityId, InvalidInput, KeyUsage, PolicyRefusal, RemotePartyRole
from smki.profiles import builders, validity
from smki.profiles.environment import PkiEnvironment
from smki.profiles.parse import certificate_fields, load_certificate

NB = datetime(2024, 3, 1, 9, 30, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("kind", "years"),
    [
        (CertificateKind.ORGANISATION, 10),
        (CertificateKind.ISSUING_OCA, 25),
        (CertificateKind.ROOT_OCA, 50),
        (CertificateKind.ROOT_DCA, 50),
        (CertificateKind.ISSUING_DCA, 25),
        (CertificateKind.ROOT_ICA, 50),
        (CertificateKind.ISSUING_ICA, 25),
        (CertificateKind.IKI, 10),
    ],
)
def test_default_not_after_is_n_years_minus_one_second(kind: CertificateKind, years: int) -> None:
    assert validity.not_after_for(kind, NB) == NB.replace(year=NB.year + years) - SECOND


def test_defaults_reproduce_z1_and_the_2015_organisation_certificates() -> None:
    assert validity.issuing_oca_not_after(datetime(2015, 10, 29, tzinfo=UTC)) == datetime(
        2040, 10, 28, 23, 59, 59, tzinfo=UTC
    )
    assert validity.organisation_not_after(datetime(2015, 10, 30, tzinfo=UTC)) == datetime(
        2025, 10, 29, 23, 59, 59, tzinfo=UTC
    )
    assert validity.root_oca_not_after(datetime(2015, 10, 28, tzinfo=UTC)) == datetime(
        2065, 10, 27, 23, 59, 59, tzinfo=UTC
    )


def test_every_genuine_organisation_validity_counts_as_ten_years(real_certs: Path) -> None:
    with (real_certs / "index.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["chain_check"].startswith("signature verifies with Z1")]
    assert rows
    seen = set()
    for row in rows:
        fields = certificate_fields(load_certificate((real_certs / row["file"]).read_bytes()))
        assert fields.not_before is not None and fields.not_after is not None
        accepted = validity.organisation_not_after(fields.not_before, not_after=fields.not_after)
        assert accepted == fields.not_after
        seen.add(fields.not_after - validity.add_years(fields.not_before, 10))
    # The three shapes the DCC used: -1 s, exactly, and to the end of the anniversary day.
    assert seen == {-SECOND, timedelta(0), timedelta(days=1) - SECOND}


def test_seventeen_year_organisation_certificate_needs_a_pma_approval_reference() -> None:
    # MP261: the new manufacturing pack's Organisation Certificates run to the Issuing OCA's expiry.
    not_after = datetime(2041, 2, 28, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(PolicyRefusal) as err:
        validity.organisation_not_after(NB, not_after=not_after)
    assert err.value.code == "validity.organisation_duration"
    assert err.value.clause == "Appendix B 6.3.2(A)(i)"
    assert "SMKI PMA" in err.value.message
    assert (
        validity.organisation_not_after(NB, not_after=not_after, approval_reference="PMA-2024-017")
        == not_after
    )


def test_shorter_organisation_certificate_also_needs_an_approval_reference() -> None:
    with pytest.raises(PolicyRefusal):
        validity.organisation_not_after(NB, not_after=NB + timedelta(days=365))
    assert validity.organisation_not_after(NB, not_after=NB + timedelta(days=365), approval_reference="PMA-7")


@pytest.mark.parametrize(
    ("kind", "clause"),
    [
        (CertificateKind.ISSUING_OCA, "Appendix B 6.3.2(A)(ii)"),
        (CertificateKind.ROOT_OCA, "Appendix B 6.3.2(A)(iii)"),
    ],
)
def test_oca_durations_are_fixed_even_with_an_approval_reference(kind: CertificateKind, clause: str) -> None:
    wrong = validity.add_years(NB, 30)
    with pytest.raises(PolicyRefusal) as err:
        validity.not_after_for(kind, NB, not_after=wrong, approval_reference="PMA-1")
    assert err.value.clause == clause
    assert err.value.code == f"validity.{kind.value}_duration"


def test_anniversary_tolerance_is_one_day_either_side() -> None:
    anniversary = validity.add_years(NB, 10)
    for end in (anniversary - timedelta(days=1), anniversary, anniversary + timedelta(days=1)):
        assert validity.organisation_not_after(NB, not_after=end) == end
    for end in (anniversary - timedelta(days=1) - SECOND, anniversary + timedelta(days=1) + SECOND):
        with pytest.raises(PolicyRefusal):
            validity.organisation_not_after(NB, not_after=end)


def test_leap_day_anniversary_falls_on_28_february() -> None:
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert validity.organisation_not_after(leap) == datetime(2038, 2, 27, 23, 59, 59, tzinfo=UTC)
    assert validity.add_years(leap, 4) == datetime(2032, 2, 29, tzinfo=UTC)


def test_a_validity_beyond_year_9999_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        validity.root_oca_not_after(datetime(9960, 2, 29, tzinfo=UTC))
    assert err.value.code == "validity.out_of_range"


def test_not_after_before_not_before_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        validity.organisation_not_after(NB, not_after=NB - SECOND, approval_reference="PMA-1")
    assert err.value.code == "validity.not_after_before_not_before"


def test_blank_approval_reference_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        validity.organisation_not_after(NB, not_after=validity.add_years(NB, 17), approval_reference="  ")
    assert err.value.code == "validity.approval_reference"


def test_device_not_after_is_always_9999() -> None:
    assert validity.not_after_for(CertificateKind.DEVICE, NB) == datetime(
        9999, 12, 31, 23, 59, 59, tzinfo=UTC
    )
    with pytest.raises(PolicyRefusal):
        validity.not_after_for(CertificateKind.DEVICE, NB, not_after=validity.add_years(NB, 10))


def test_naive_times_are_utc_and_microseconds_are_dropped() -> None:
    naive = datetime(2024, 3, 1, 9, 30, 0, 123456)
    assert validity.organisation_not_after(naive) == NB.replace(year=2034) - SECOND


def test_organisation_builder_applies_the_validity_rule() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = builders.IssuerInfo(builders.oca_name("Z1", RemotePartyRole.ISSUING_AUTHORITY), bytes(8))
    args = {
        "issuer": issuer,
        "public_key": key.public_key(),
        "serial": builders.new_serial(),
        "not_before": NB,
        "role": RemotePartyRole.SUPPLIER,
        "entity_id": EntityId.parse("90B3D51F30010000"),
        "key_usage": KeyUsage.KEY_AGREEMENT,
        "not_after": validity.add_years(NB, 17),
    }
    with pytest.raises(PolicyRefusal):
        builders.organisation(PkiEnvironment(), **args)  # type: ignore[arg-type]
    builder = builders.organisation(PkiEnvironment(), approval_reference="PMA-2024-017", **args)  # type: ignore[arg-type]
    cert = builder.sign(key, hashes.SHA256())
    assert cert.not_valid_after_utc == validity.add_years(NB, 17)


def test_issuing_ca_builder_refuses_a_non_standard_duration() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(PolicyRefusal) as err:
        builders.issuing_dca(
            PkiEnvironment(),
            issuer=builders.IssuerInfo(builders.dca_name("E300"), bytes(8)),
            public_key=key.public_key(),
            serial=builders.new_serial(),
            not_before=NB,
            not_after=validity.add_years(NB, 5),
        )
    assert err.value.clause == "Appendix A 6.3.2"
