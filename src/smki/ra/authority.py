"""The request pipeline: parse -> proof of possession -> profile -> subscriber -> eligibility -> duplicate key
-> approvals -> validity -> issue through the CA.

Every step but the last is a check; a refusal stops the request before any serial is reserved. A batch
(``submit_many``) reads what it needs from the database once for all its requests, then hands the whole
batch to the CA, which issues it all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from smki import governance
from smki.ca import CertificateAuthorities, IssuedCertificate, IssueRequest
from smki.ca.issuance import SignatureCheck
from smki.model import (
    CertificateKind,
    EntityId,
    Hierarchy,
    InvalidInput,
    PolicyRefusal,
    RemotePartyRole,
    SmiStatus,
    SmkiError,
)
from smki.policy.csr import CsrFacts, DeviceCsrTemplates, KeyDecision, check_duplicate_key, read_csr
from smki.policy.eligibility import (
    DccLiveSystems,
    DeviceType,
    EligibilityDecision,
    check_device_eligibility,
    check_iki_eligibility,
    check_organisation_eligibility,
)
from smki.policy.parties import Party
from smki.policy.subscribers import SubscriberStatus, require_authorised
from smki.profiles.environment import PkiEnvironment
from smki.profiles.validity import VALIDITY_RULES, default_not_after, spans_years
from smki.ra.key_guard import KeyClaim, key_guard
from smki.ra.parties import load_parties
from smki.storage import Database, ra_store

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, kw_only=True)
class CertificateRequest:
    """One request to the RA: the CSR bytes, who asks, and the facts the CSR itself cannot carry.

    ``device_type`` and ``smi_status`` describe the Device for L3.16 (smki holds no Smart Metering
    Inventory); ``dcc_live_system`` names the DCC Live System a DCC request originates from (L3.18(b)(i));
    ``approval_reference`` names an SMKI PMA decision; ``not_after`` / ``validity_years`` ask for an
    Organisation Certificate Validity Period other than the default.
    """

    csr: bytes
    party_id: str
    kind: CertificateKind | None = None
    device_type: DeviceType | None = None
    smi_status: SmiStatus | None = None
    dcc_live_system: str | None = None
    approval_reference: str | None = None
    not_after: datetime | None = None
    validity_years: int | None = None


@dataclass(frozen=True, kw_only=True)
class Decision:
    """An accepted request: what the CSR asked for, why it is eligible, and what the CA is asked to sign."""

    facts: CsrFacts
    eligibility: EligibilityDecision
    key_decision: KeyDecision
    approvals: tuple[str, ...]
    issue_request: IssueRequest


@dataclass(frozen=True)
class _Context:
    """What a batch needs from the database, read once."""

    parties: dict[str, Party]
    statuses: dict[tuple[str, Hierarchy], SubscriberStatus]
    holders: dict[str, set[str]]
    keys_in_family: dict[Hierarchy, set[str]]
    now: datetime  # the batch's notBefore (one clock reading per batch)
    # Device eligibility (L3.16) depends only on who asks and the Device's type and SMI Status.
    device_decisions: dict[tuple[str, DeviceType, SmiStatus | None], EligibilityDecision] = field(
        default_factory=dict
    )


class RegistrationAuthority:
    """Decides who may have which certificate, and asks the CA to issue it.

    ``cas`` may be None for a RA that only checks (``check`` / ``check_many``).
    """

    def __init__(
        self,
        db: Database,
        cas: CertificateAuthorities | None,
        env: PkiEnvironment,
        *,
        live_systems: DccLiveSystems | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self.db = db
        self.cas = cas
        self.env = env
        self.live_systems = live_systems or DccLiveSystems()
        self.clock = clock
        # Conforming Device requests seen so far, as templates for reading the next ones quickly.
        self._csr_templates = DeviceCsrTemplates()

    # -- public API ------------------------------------------------------------------------------------

    def submit(
        self,
        csr: bytes,
        *,
        party_id: str,
        actor: str,
        kind: CertificateKind | None = None,
        approval_reference: str | None = None,
        smi_status: SmiStatus | None = None,
        device_type: DeviceType | None = None,
        dcc_live_system: str | None = None,
        not_after: datetime | None = None,
        validity_years: int | None = None,
    ) -> IssuedCertificate:
        """Check one request and issue its certificate, or raise the refusal (PolicyRefusal/InvalidInput)."""
        request = CertificateRequest(
            csr=csr,
            party_id=party_id,
            kind=kind,
            device_type=device_type,
            smi_status=smi_status,
            dcc_live_system=dcc_live_system,
            approval_reference=approval_reference,
            not_after=not_after,
            validity_years=validity_years,
        )
        return self.submit_many([request], actor=actor)[0]

    def check(self, request: CertificateRequest) -> Decision:
        """Every check of the pipeline, without issuing (a dry run)."""
        outcome = self.check_many([request])[0]
        if isinstance(outcome, SmkiError):
            raise outcome
        return outcome

    def check_many(self, requests: Sequence[CertificateRequest]) -> list[Decision | SmkiError]:
        """Check a batch; each item is its Decision or the refusal that stopped it.

        Lookups are shared: parties, subscriber statuses, identifier holders and already-certified keys
        are read in one query each for the whole batch. Two requests of one batch with the same key count
        as a duplicate (L11.4) just as if the first were already issued.
        """
        parsed: list[CsrFacts | SmkiError] = []
        for request in requests:
            try:
                parsed.append(
                    read_csr(request.csr, self.env, expected_kind=request.kind, templates=self._csr_templates)
                )
            except SmkiError as exc:
                parsed.append(exc)
        context = self._context(requests, parsed)
        seen: dict[Hierarchy, set[str]] = {h: set() for h in Hierarchy}
        out: list[Decision | SmkiError] = []
        for request, facts in zip(requests, parsed, strict=True):
            if isinstance(facts, SmkiError):
                out.append(facts)
                continue
            try:
                decision = self._decide(request, facts, context, seen)
            except SmkiError as exc:
                out.append(exc)
                continue
            seen[facts.kind.hierarchy].add(facts.public_key_sha256)
            out.append(decision)
        return out

    def submit_many(self, requests: Sequence[CertificateRequest], *, actor: str) -> list[IssuedCertificate]:
        """Check a batch and issue all of it, or raise the first refusal (naming its position)."""
        if self.cas is None:
            raise _no_ca()
        outcomes = self.check_many(requests)
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, SmkiError):
                if len(requests) > 1:
                    raise type(outcome)(
                        outcome.code,
                        f"Request {index + 1} of {len(requests)}: {outcome.message}",
                        outcome.clause,
                    )
                raise outcome
        return self.issue([o for o in outcomes if isinstance(o, Decision)], actor=actor)

    def issue(
        self,
        decisions: Sequence[Decision],
        *,
        actor: str,
        signatures: SignatureCheck = SignatureCheck.EVERY,
    ) -> list[IssuedCertificate]:
        """Issue accepted requests through the CA, all or nothing.

        The duplicate-key rule is applied again inside the transaction that stores the certificates
        (``smki.ra.key_guard``): a key decided as new that another request has had certified since the
        check is refused there (``csr.duplicate_public_key``), and nothing of the batch is released.
        ``signatures``: which signatures the CA verifies before release (``issue_many``).
        """
        if self.cas is None:
            raise _no_ca()
        claims = [
            KeyClaim.decided(d.facts.kind, d.facts.public_key_sha256, d.key_decision, d.approvals)
            for d in decisions
        ]
        return self.cas.issue_many(
            [d.issue_request for d in decisions],
            actor=actor,
            on_stored=key_guard(claims),
            signatures=signatures,
        )

    # -- the pipeline ----------------------------------------------------------------------------------

    def _context(
        self, requests: Sequence[CertificateRequest], parsed: Sequence[CsrFacts | SmkiError]
    ) -> _Context:
        facts = [f for f in parsed if isinstance(f, CsrFacts)]
        with self.db.read_transaction() as tx:
            holders = ra_store.holders_of(
                tx, [f.entity_id.compact for f in facts if f.kind is not CertificateKind.DEVICE]
            )
            wanted = {r.party_id for r in requests} | {p for ids in holders.values() for p in ids}
            parties = load_parties(tx, wanted)
            statuses: dict[tuple[str, Hierarchy], SubscriberStatus] = {}
            for hierarchy in Hierarchy:
                for pid, status in ra_store.subscriber_statuses(
                    tx, {r.party_id for r in requests}, hierarchy.value
                ).items():
                    statuses[(pid, hierarchy)] = SubscriberStatus(status)
            keys = {
                h: ra_store.public_keys_in_family(
                    tx, [f.public_key_sha256 for f in facts if f.kind.hierarchy is h], h.value
                )
                for h in Hierarchy
            }
        return _Context(parties, statuses, holders, keys, self.clock())

    def _decide(
        self, request: CertificateRequest, facts: CsrFacts, context: _Context, seen: dict[Hierarchy, set[str]]
    ) -> Decision:
        requester = context.parties.get(request.party_id)
        if requester is None:
            raise InvalidInput("party.unknown", f"No party '{request.party_id}' is registered with the RA.")
        policy = facts.kind.hierarchy
        # L3.15(b): only an Authorised Subscriber under the policy can be an Eligible Subscriber.
        require_authorised(context.statuses.get((requester.party_id, policy)), policy, requester.party_id)
        eligibility = self._eligibility(request, facts, requester, context)
        key_known = (
            facts.public_key_sha256 in context.keys_in_family[policy]
            or facts.public_key_sha256 in seen[policy]
        )
        key_decision = check_duplicate_key(
            facts.kind, key_in_family=key_known, requester_is_dcc=requester.is_dcc, role=facts.role
        )
        approvals: list[str] = []
        reuse: governance.Approval | None = None
        if key_decision is KeyDecision.REUSE_NEEDS_PMA_APPROVAL:
            assert facts.role is not None
            # L11.4B(a): the SMKI PMA's approval for this role, subject (and key, if the decision names one).
            reuse = governance.require_approval(
                self.db,
                governance.DecisionKind.KEY_REUSE,
                role=facts.role,
                entity_id=facts.entity_id,
                reference=request.approval_reference,
                public_key_sha256=facts.public_key_sha256,
            )
            approvals.append(reuse.reference)
        not_before = context.now
        not_after, validity_reference = self._validity(request, facts, not_before, reuse)
        if validity_reference is not None and validity_reference not in approvals:
            approvals.append(validity_reference)
        issue = IssueRequest(
            kind=facts.kind,
            public_key=facts.public_key,
            key_usage=facts.key_usage,
            entity_id=facts.entity_id,
            role=facts.role,
            common_name=facts.common_name,
            not_before=not_before if facts.kind is not CertificateKind.DEVICE else None,
            not_after=not_after,
            approval_reference=", ".join(approvals) or None,
            subscriber=requester.party_id,
            public_key_der=facts.public_key_der,
        )
        return Decision(
            facts=facts,
            eligibility=eligibility,
            key_decision=key_decision,
            approvals=tuple(approvals),
            issue_request=issue,
        )

    def _eligibility(
        self, request: CertificateRequest, facts: CsrFacts, requester: Party, context: _Context
    ) -> EligibilityDecision:
        if facts.kind is CertificateKind.DEVICE:
            if request.device_type is None:
                raise InvalidInput(
                    "request.device_type_required",
                    "A Device Certificate request must say which kind of Device it is for "
                    "(e.g. ESME, GSME, CHF).",
                )
            key = (requester.party_id, request.device_type, request.smi_status)
            known = context.device_decisions.get(key)
            if known is None:
                known = check_device_eligibility(requester, request.device_type, request.smi_status)
                context.device_decisions[key] = known
            return known
        holder = _holder(context, facts.entity_id)
        if facts.kind is CertificateKind.ORGANISATION:
            assert facts.role is not None
            # A root or issuingAuthority role never gets here: the CSR rules refuse it first
            # (subject.ca_role, L3.19), the one home of that rule.
            return check_organisation_eligibility(
                requester,
                role=facts.role,
                entity_id=facts.entity_id,
                subject_holder=holder,
                dcc_live_system=request.dcc_live_system,
                live_systems=self.live_systems,
            )
        return check_iki_eligibility(requester, entity_id=facts.entity_id, subject_holder=holder)

    def _validity(
        self,
        request: CertificateRequest,
        facts: CsrFacts,
        not_before: datetime,
        reuse: governance.Approval | None,
    ) -> tuple[datetime | None, str | None]:
        """The notAfter to ask for, and the approval allowing a non-default one (Appendix B 6.3.2(A)(i))."""
        if facts.kind is not CertificateKind.ORGANISATION:
            if request.not_after is not None or request.validity_years is not None:
                raise PolicyRefusal(
                    "validity.not_variable",
                    f"Only an Organisation Certificate's Validity Period can differ from its default, not a "
                    f"{facts.kind.title}'s.",
                    VALIDITY_RULES[CertificateKind.ORGANISATION].clause,
                )
            return None, None
        rule = VALIDITY_RULES[CertificateKind.ORGANISATION]
        if request.not_after is not None and request.validity_years is not None:
            raise InvalidInput("request.validity", "Give a notAfter or a validity in years, not both.")
        asked = request.not_after
        if request.validity_years is not None:
            if not 1 <= request.validity_years <= 50:
                raise InvalidInput("request.validity", "A validity in years must be from 1 to 50.")
            asked = default_not_after(not_before, request.validity_years)
        if asked is not None and spans_years(not_before, asked, rule.years):
            return asked, None  # the default duration needs no approval
        approval = reuse if reuse is not None and _approved_end(reuse, not_before) is not None else None
        if approval is None and (asked is not None or request.approval_reference is not None):
            try:
                approval = governance.require_approval(
                    self.db,
                    governance.DecisionKind.ORGANISATION_VALIDITY,
                    role=_role(facts),
                    entity_id=facts.entity_id,
                    reference=request.approval_reference if reuse is None else None,
                )
            except PolicyRefusal:
                if asked is None:
                    return None, None  # the reference named the key-reuse decision, which sets no validity
                raise
        if approval is None:
            return None, None
        approved_end = _approved_end(approval, not_before)
        if approved_end is None:
            return None, None
        if asked is not None and not _same_end(asked, approved_end, approval, not_before):
            raise PolicyRefusal(
                "validity.not_approved",
                f"The SMKI PMA approved {_approved_text(approval)} for this certificate "
                f"({approval.reference}), "
                f"not a notAfter of {asked.isoformat()}.",
                rule.clause,
            )
        return approved_end, approval.reference


def _no_ca() -> SmkiError:
    return SmkiError("ra.no_ca", "This Registration Authority was opened without its CAs: it can only check.")


def _holder(context: _Context, entity_id: EntityId) -> Party | None:
    ids = context.holders.get(entity_id.compact, set())
    if len(ids) != 1:
        return None
    return context.parties.get(next(iter(ids)))


def _role(facts: CsrFacts) -> RemotePartyRole:
    assert facts.role is not None
    return facts.role


def _approved_end(approval: governance.Approval, not_before: datetime) -> datetime | None:
    if approval.not_after is not None:
        return approval.not_after
    if approval.validity_years is not None:
        return default_not_after(not_before, approval.validity_years)
    return None


def _same_end(
    asked: datetime, approved: datetime, approval: governance.Approval, not_before: datetime
) -> bool:
    if approval.validity_years is not None:
        return spans_years(not_before, asked, approval.validity_years)
    return asked.astimezone(UTC).replace(microsecond=0) == approved


def _approved_text(approval: governance.Approval) -> str:
    if approval.validity_years is not None:
        return f"{approval.validity_years} years"
    assert approval.not_after is not None
    return f"a notAfter of {approval.not_after.isoformat()}"


__all__ = ["CertificateRequest", "Decision", "RegistrationAuthority"]
