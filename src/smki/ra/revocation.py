"""Who may have which certificate revoked: the RA's rule in front of the CA's one revocation path.

* A Subscriber may ask for the revocation of the Organisation or IKI Certificates for which it is the
  Subscriber, and of no others; the DCC may ask for any of them, and for an Issuing CA certificate
  (which goes on its Root's ARL). The Certificate Policies' 4.9.2 "who can request revocation" sections
  are not among our seeds: this is our reading, consistent with L3.14(b), under which the DCC revokes
  the Subscriber's certificates (docs/decisions.md, "SMKI Repository and revocation").
* Device Certificates are not revoked: Devices do not consult CRLs, a Device Certificate names a Device
  rather than its Subscriber, and it is replaced instead (Appendix A 4.9.1, our reading).
* L3.14(b)/(c) revocation on ceasing runs through :func:`smki.ca.revocation.revoke_certificate` too
  (``smki.ra.subscribers``).
"""

from __future__ import annotations

from cryptography import x509

from smki.ca.revocation import Revocation, check_reason, locate, revoke_certificate
from smki.model import CertificateKind, Hierarchy, PolicyRefusal
from smki.policy.parties import Party
from smki.ra.parties import load_party
from smki.storage import Database

# Who may request revocation, by Certificate Policy: the clause each request is granted under.
REQUEST_CLAUSE: dict[Hierarchy, str] = {
    Hierarchy.ORGANISATION: "Appendix B 4.9.2",
    Hierarchy.IKI: "IKI Certificate Policy 4.9.2",
    Hierarchy.DEVICE: "Appendix A 4.9.2",  # the Issuing DCA certificate, by the DCC only
}
DEVICE_NOT_REVOKED_CLAUSE = "Appendix A 4.9.1"
DCC_SUBSCRIBER = "DCC"  # the subscriber recorded on the DCC's own certificates (commissioning, CAs)


def revocation_clause(requester: Party | None, kind: CertificateKind, subscriber: str | None) -> str:
    """The clause under which ``requester`` (None: the DCC's operator) may revoke; PolicyRefusal if not.

    Pure: the caller loads the party and the certificate.
    """
    if kind is CertificateKind.DEVICE:
        raise PolicyRefusal(
            "revocation.device_certificate",
            f"A {kind.title} is not revoked: Devices do not check revocation, so it is replaced instead.",
            DEVICE_NOT_REVOKED_CLAUSE,
        )
    clause = REQUEST_CLAUSE[kind.hierarchy]
    if requester is None or requester.is_dcc:
        return clause
    if kind.is_ca:
        raise PolicyRefusal(
            "revocation.not_subscriber",
            f"Only the DCC may have the {kind.title} revoked.",
            clause,
        )
    if subscriber != requester.party_id:
        raise PolicyRefusal(
            "revocation.not_subscriber",
            f"'{requester.party_id}' is not the Subscriber for this {kind.title}, "
            "so it may not have it revoked.",
            clause,
        )
    return clause


def request_revocation(
    db: Database,
    *,
    party_id: str,
    serial_hex: str,
    reason: x509.ReasonFlags,
    actor: str,
    issuer_name: str | None = None,
    note: str | None = None,
) -> Revocation:
    """A party (a Subscriber, or the DCC) asks for a certificate to be revoked; revoked if it may.

    One transaction: the certificate is locked, the rule applied, the revocation recorded and audited.
    Refusals: ``party.unknown``, ``revocation.not_found``, ``revocation.not_subscriber`` and
    ``revocation.device_certificate`` (with their clauses), ``revocation.already_revoked``.
    """
    check_reason(reason)
    with db.transaction() as tx:
        party = load_party(tx, party_id)
        certificate = locate(tx, serial_hex, issuer_name=issuer_name)
        clause = revocation_clause(party, CertificateKind(certificate.kind), certificate.subscriber)
        return revoke_certificate(
            tx,
            certificate,
            reason,
            actor=actor,
            clause=clause,
            note=note or f"requested by {party_id}",
        )


def revoke_as_dcc(
    db: Database,
    *,
    serial_hex: str,
    reason: x509.ReasonFlags,
    actor: str,
    issuer_name: str | None = None,
    note: str | None = None,
) -> Revocation:
    """The DCC's operator revokes a certificate (no party record needed); the Device rule still applies."""
    check_reason(reason)
    with db.transaction() as tx:
        certificate = locate(tx, serial_hex, issuer_name=issuer_name)
        clause = revocation_clause(None, CertificateKind(certificate.kind), certificate.subscriber)
        return revoke_certificate(
            tx, certificate, reason, actor=actor, clause=clause, note=note or "requested by the DCC"
        )
