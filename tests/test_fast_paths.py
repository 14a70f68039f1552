"""The two short paths of batch issuance give exactly what the full paths give.

1. ``policy.csr.DeviceCsrTemplates``: reading a Device CSR through a warm template cache gives the same
   facts, or the same refusal code, as the full reading, for valid requests and for requests with any
   byte changed, inserted or removed (hypothesis), and for a bad signature or an off-curve point.
2. ``issuance._Run._sign_from_template``: a Device Certificate signed from its shape's linted template has
   exactly the TBSCertificate the profile builder makes for the same values, a valid signature from the
   Issuing DCA, and lints clean; the repository row matches the certificate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smki.ca import CertificateAuthorities, IssueRequest, create_hierarchy, issuance
from smki.keys import SoftBackend
from smki.model import CertificateKind, EntityId, KeyUsage, RemotePartyRole, SmkiError
from smki.policy.csr import CsrFacts, DeviceCsrTemplates, read_csr
from smki.profiles import builders
from smki.profiles.der import P256_SPKI_HEADER
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import lint
from smki.storage import Database, ca_store
from smki.subscriber_tools import csr_builder

ENV = PkiEnvironment()


def eui(i: int) -> EntityId:
    return EntityId(bytes.fromhex("00DB7E58") + i.to_bytes(4, "big"))


def device_der(i: int, usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE) -> bytes:
    csr, _ = csr_builder.device_csr(eui(i), usage, ENV)
    return csr.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def warm() -> DeviceCsrTemplates:
    """A cache that has learned both Device shapes (digitalSignature, keyAgreement)."""
    templates = DeviceCsrTemplates()
    for usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT):
        read_csr(device_der(0, usage), ENV, templates=templates)
    return templates


def outcome(data: bytes, templates: DeviceCsrTemplates | None) -> tuple[str, object]:
    try:
        facts = read_csr(data, ENV, templates=templates)
    except SmkiError as exc:
        return ("refused", exc.code)
    return ("accepted", _comparable(facts))


def _comparable(facts: CsrFacts) -> tuple[object, ...]:
    return (
        facts.kind,
        facts.der,
        facts.public_key_der,
        facts.public_key_sha256,
        facts.key_usage,
        facts.entity_id,
        facts.role,
        facts.common_name,
        facts.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def test_templates_learn_both_usages_and_read_new_requests_quickly(warm: DeviceCsrTemplates) -> None:
    for i, usage in enumerate((KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT), start=1):
        der = device_der(i, usage)
        quick = warm.read(der, ENV)  # the short path itself, not the fallback
        assert quick is not None
        assert _comparable(quick) == _comparable(read_csr(der, ENV))
        pem = (
            b"-----BEGIN CERTIFICATE REQUEST-----\n"
            + _b64_lines(der)
            + b"-----END CERTIFICATE REQUEST-----\n"
        )
        quick_pem = warm.read(pem, ENV)
        assert quick_pem is not None and _comparable(quick_pem) == _comparable(quick)


def _b64_lines(der: bytes) -> bytes:
    import base64

    body = base64.b64encode(der)
    return b"".join(body[i : i + 64] + b"\n" for i in range(0, len(body), 64))


def test_bad_signature_and_off_curve_point_get_the_full_readings_refusal(warm: DeviceCsrTemplates) -> None:
    der = bytearray(device_der(3))
    bad_sig = bytes(der[:-3]) + bytes([der[-3] ^ 0x01]) + bytes(der[-2:])
    assert warm.read(bad_sig, ENV) is None
    assert outcome(bad_sig, warm) == outcome(bad_sig, None)
    assert outcome(bad_sig, None)[0] == "refused"
    spki_at = bytes(der).find(bytes.fromhex("034200")) + 3
    off_curve = bytes(der[: spki_at + 1]) + bytes(64) + bytes(der[spki_at + 65 :])
    assert warm.read(off_curve, ENV) is None
    assert outcome(off_curve, warm) == outcome(off_curve, None)
    assert outcome(off_curve, None)[0] == "refused"


def test_other_kinds_and_other_environments_are_never_read_from_templates(warm: DeviceCsrTemplates) -> None:
    other_env = PkiEnvironment(hw_type_oid="1.2.3.4.5")
    assert warm.read(device_der(4), other_env) is None
    org, _ = csr_builder.organisation_csr(
        EntityId.parse("90-B3-D5-1F-30-01-00-00"), RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE
    )
    org_der = org.public_bytes(serialization.Encoding.DER)
    assert warm.read(org_der, ENV) is None
    assert outcome(org_der, warm) == outcome(org_der, None)
    assert outcome(org_der, warm)[0] == "accepted"


_BASE = device_der(5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, len(_BASE) - 1), st.integers(1, 255)),
        st.tuples(st.just("insert"), st.integers(0, len(_BASE)), st.integers(0, 255)),
        st.tuples(st.just("delete"), st.integers(0, len(_BASE) - 1), st.just(0)),
    )
)
def test_any_mutated_request_gets_the_same_outcome_as_the_full_reading(
    warm: DeviceCsrTemplates, change: tuple[str, int, int]
) -> None:
    what, at, value = change
    data = bytearray(_BASE)
    if what == "flip":
        data[at] ^= value
    elif what == "insert":
        data[at:at] = bytes([value])
    else:
        del data[at]
    mutated = bytes(data)
    assert outcome(mutated, warm) == outcome(mutated, None)


def test_learning_refuses_nothing_it_should_not(warm: DeviceCsrTemplates) -> None:
    # A cache learns only conforming requests: a refused one leaves it unchanged and is refused again.
    fresh = DeviceCsrTemplates()
    der = bytearray(device_der(6))
    der[-1] ^= 0x01
    first = outcome(bytes(der), fresh)
    assert first[0] == "refused"
    assert fresh.read(device_der(7), ENV) is None  # nothing was learned


# -- the CA's short path -------------------------------------------------------------------------------


@pytest.fixture
def cas(tmp_path: Path) -> CertificateAuthorities:
    db = Database(f"sqlite:///{tmp_path / 'smki.db'}")
    db.upgrade()
    keys = SoftBackend(tmp_path, {"SMKI_KEY_PASSPHRASE": "fast-path-test-passphrase"})
    create_hierarchy(db, keys, ENV, actor="test")
    return CertificateAuthorities.open(db, keys, ENV)


@pytest.mark.parametrize("with_der", [False, True], ids=["key-only", "with-spki-der"])
def test_template_signed_device_certificates_are_what_the_builder_makes(
    cas: CertificateAuthorities, with_der: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with_der: the requests carry their key's SubjectPublicKeyInfo too (as the RA's do), from which the
    # template path takes the point instead of encoding the key: the certificates must be the same.
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(12)]
    requests = [
        IssueRequest(
            kind=CertificateKind.DEVICE,
            public_key=key.public_key(),
            key_usage=KeyUsage.DIGITAL_SIGNATURE if i % 2 else KeyUsage.KEY_AGREEMENT,
            entity_id=eui(100 + i),
            subscriber="test",
            public_key_der=key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if with_der
            else None,
        )
        for i, key in enumerate(keys)
    ]
    monkeypatch.delenv(issuance.SIMPLE_PATH_ENV, raising=False)  # the fast path, whatever the caller's
    calls: list[int] = []
    original = issuance._Run._build_and_sign

    def counting_build_and_sign(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(issuance._Run, "_build_and_sign", counting_build_and_sign)
    issued = cas.issue_many(requests, actor="test", signatures=issuance.SignatureCheck.FIRST_PER_KEY)
    assert len(calls) == 2, "only the first certificate of each shape goes through the builder"
    issuing = cas.issuing_ca_certificate(CertificateKind.DEVICE.hierarchy)
    throwaway = ec.generate_private_key(ec.SECP256R1())
    for request, item in zip(requests, issued, strict=True):
        cert = x509.load_der_x509_certificate(item.der)
        cert.verify_directly_issued_by(issuing)
        expected = builders.device(
            ENV,
            issuer=builders.IssuerInfo.from_certificate(issuing),
            public_key=request.public_key,
            serial=item.serial,
            not_before=item.not_before,
            entity_id=request.entity_id,
            key_usage=request.key_usage,
        ).sign(throwaway, hashes.SHA256())
        assert cert.tbs_certificate_bytes == expected.tbs_certificate_bytes
        assert lint(item.der, ENV, issuer=issuing).conforms
        assert item.not_after == cert.not_valid_after_utc and item.not_before == cert.not_valid_before_utc
        with cas.db.read_transaction() as s:
            row = ca_store.certificate_by_serial(s, item.serial_hex)
            assert row is not None and row.der == item.der
            assert row.public_key_sha256 == item.public_key_sha256
            assert row.subject_der == cert.subject.public_bytes()
            assert row.change_seq is not None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=40) | st.lists(st.sampled_from([b"%", b"%b", b"%s", b"0"])).map(b"".join),
        min_size=5,
        max_size=5,
    ),
    st.permutations([0, 1, 2, 3]),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=65, max_size=65),
    st.binary(min_size=8, max_size=8),
    st.binary(min_size=8, max_size=8),
)
def test_template_fill_puts_each_part_in_its_slot(
    segments: list[bytes], order: list[int], serial: bytes, point: bytes, key_id: bytes, eui: bytes
) -> None:
    # The fill is a bytes %-format: octets such as '%' in the fixed segments must stand for themselves.
    from smki.ca.tbs_lint import TemplateValues, _Template

    values = TemplateValues(serial, point, key_id, eui)
    parts = values.parts()
    filled = (parts[slot] + segment for slot, segment in zip(order, segments[1:], strict=True))
    expected = segments[0] + b"".join(filled)
    template = _Template(tuple(segments), tuple(order), len(expected))
    assert template.fill(values) == expected


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=_P256_ORDER - 1),
    st.sampled_from(["none", "uncompressed", "compressed"]),
    st.integers(min_value=1, max_value=2**128 - 1),
)
def test_template_values_from_the_spki_der_equal_those_from_the_key(
    scalar: int, given_der: str, serial: int
) -> None:
    # The point taken from an uncompressed P-256 SubjectPublicKeyInfo is the key's own X9.62 encoding;
    # any other form (here a compressed point) falls back to encoding the key.
    from smki.ca.tbs_lint import TemplateValues

    public_key = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
    der = {
        "none": None,
        "uncompressed": public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        # the same key's SubjectPublicKeyInfo with a compressed point (SEQUENCE of 57 octets: the 21-octet
        # AlgorithmIdentifier, a 34-octet BIT STRING)
        "compressed": b"\x30\x39"
        + P256_SPKI_HEADER[2:-3]
        + b"\x03\x22\x00"
        + public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint),
    }[given_der]
    entity = eui(7)
    assert TemplateValues.of(serial, public_key, entity, der) == TemplateValues.of(serial, public_key, entity)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=200))
def test_certificate_der_is_the_nested_tlv_form(tbs: bytes, signature: bytes) -> None:
    from smki.ca.issuance import _certificate_der
    from smki.profiles.der import ECDSA_WITH_SHA256_ALGORITHM, TAG_BIT_STRING, TAG_SEQUENCE, tlv

    expected = tlv(TAG_SEQUENCE, tbs + ECDSA_WITH_SHA256_ALGORITHM + tlv(TAG_BIT_STRING, b"\x00" + signature))
    assert _certificate_der(tbs, signature) == expected
