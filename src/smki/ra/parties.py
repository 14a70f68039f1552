"""The RA's register of parties: the DCC, SECCo, Parties with their User IDs, and nominated RDPs.

Registration checks the description against the SEC (``policy.parties.check_party``), refuses an EUI-64
that another person already holds, and is audited in the same transaction. Every change to the register
takes the register's lock (``ra_store.lock_party_register``) before its checks, so two changes never
interleave their checks and inserts (PostgreSQL; SQLite serialises writers anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from smki import audit
from smki.model import EntityId, InvalidInput, PolicyRefusal, SmkiError, StorageConflict
from smki.policy.parties import Licence, Party, PartyIdentifier, PartyType, UserRole, check_party
from smki.storage import Database, Transaction, ra_store

_Changed = TypeVar("_Changed")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _checked_again_on_conflict(change: Callable[[], _Changed]) -> _Changed:
    """Run a change to the register; when a concurrent one committed the same row between its checks and
    its insert (a UNIQUE constraint refuses it: ``StorageConflict``), run it once more, so its checks now
    refuse it exactly as they refuse a sequential duplicate. A backstop: the register's lock keeps changes
    made here from interleaving, but a writer that does not take it (another tool, a transaction without
    the lock) could."""
    try:
        return change()
    except StorageConflict:
        pass
    try:
        return change()
    except StorageConflict:
        raise SmkiError(
            "party.concurrent_change",
            "Another change to the party register conflicted with this one twice; try again.",
        ) from None


def load_parties(tx: Transaction, party_ids: Iterable[str]) -> dict[str, Party]:
    """The parties with these ids as policy values (identifiers and nominations included)."""
    stored = ra_store.get_parties(tx, party_ids)
    if not stored:
        return {}
    idents: dict[str, list[PartyIdentifier]] = {}
    for ident in ra_store.identifiers_of(tx, stored):
        idents.setdefault(ident.party_id, []).append(
            PartyIdentifier(
                EntityId.parse(ident.entity_id),
                UserRole(ident.user_role) if ident.user_role else None,
                ident.service_provider,
            )
        )
    rdp_ids = [pid for pid, p in stored.items() if p.party_type == PartyType.RDP.value]
    nominations = ra_store.nominations_of(tx, rdp_ids)
    return {
        pid: Party(
            party_id=pid,
            name=p.name,
            party_type=PartyType(p.party_type),
            licences=frozenset(Licence(v) for v in p.licences),
            identifiers=tuple(idents.get(pid, ())),
            nominated_by=frozenset(nominations.get(pid, ())),
        )
        for pid, p in stored.items()
    }


def load_party(tx: Transaction, party_id: str) -> Party:
    """One party, or InvalidInput naming the unknown id."""
    found = load_parties(tx, [party_id]).get(party_id)
    if found is None:
        raise InvalidInput("party.unknown", f"No party '{party_id}' is registered with the RA.")
    return found


def get_party(db: Database, party_id: str) -> Party:
    """One party, read in its own transaction."""
    with db.read_transaction() as tx:
        return load_party(tx, party_id)


def list_parties(db: Database) -> list[Party]:
    """Every registered party, by id."""
    with db.read_transaction() as tx:
        ids = [p.party_id for p in ra_store.all_parties(tx)]
        loaded = load_parties(tx, ids)
        return [loaded[i] for i in ids]


def register_party(db: Database, party: Party, *, actor: str) -> Party:
    """Register a person with its identifiers (and, for an RDP, its nominating Network Parties)."""
    return _checked_again_on_conflict(lambda: _register_party(db, party, actor=actor))


def _register_party(db: Database, party: Party, *, actor: str) -> Party:
    with db.transaction() as tx:
        ra_store.lock_party_register(tx)
        if ra_store.get_party(tx, party.party_id) is not None:
            raise InvalidInput("party.exists", f"A party '{party.party_id}' is already registered.")
        if party.party_type is PartyType.DCC and any(
            p.party_type == PartyType.DCC.value for p in ra_store.all_parties(tx)
        ):
            raise PolicyRefusal(
                "party.second_dcc", "The DCC is already registered; there is only one.", "L3.1"
            )
        nominators = load_parties(tx, party.nominated_by)
        missing = sorted(set(party.nominated_by) - set(nominators))
        if missing:
            raise InvalidInput("party.unknown", f"No party '{missing[0]}' is registered with the RA.")
        check_party(party, nominators.values())
        ra_store.add_party(
            tx,
            ra_store.StoredParty(
                party_id=party.party_id,
                name=party.name,
                party_type=party.party_type.value,
                licences=tuple(sorted(lic.value for lic in party.licences)),
                created_at=_now(),
            ),
        )
        for ident in party.identifiers:
            _add_identifier(tx, party.party_id, ident)
        for nominator in sorted(party.nominated_by):
            ra_store.add_nomination(tx, party.party_id, nominator)
        audit.record(
            tx,
            actor=actor,
            action="ra.party.register",
            object_type="ra.party",
            object_id=party.party_id,
            details=_describe(party),
        )
    return party


def add_identifier(db: Database, party_id: str, identifier: PartyIdentifier, *, actor: str) -> Party:
    """Give a registered person another identifier (a User ID for a role, an RDP ID, a DCC ID)."""
    return _checked_again_on_conflict(lambda: _add_identifier_to(db, party_id, identifier, actor=actor))


def _add_identifier_to(db: Database, party_id: str, identifier: PartyIdentifier, *, actor: str) -> Party:
    with db.transaction() as tx:
        ra_store.lock_party_register(tx)
        party = load_party(tx, party_id)
        updated = Party(
            party.party_id,
            party.name,
            party.party_type,
            party.licences,
            (*party.identifiers, identifier),
            party.nominated_by,
        )
        check_party(updated, load_parties(tx, party.nominated_by).values())
        _add_identifier(tx, party_id, identifier)
        audit.record(
            tx,
            actor=actor,
            action="ra.party.add_identifier",
            object_type="ra.party",
            object_id=party_id,
            details=_describe_identifier(identifier),
        )
        return updated


def nominate(db: Database, rdp_id: str, network_party_id: str, *, actor: str) -> Party:
    """Record one more Network Party's nomination of an RDP (L3.7)."""
    return _checked_again_on_conflict(lambda: _nominate(db, rdp_id, network_party_id, actor=actor))


def _nominate(db: Database, rdp_id: str, network_party_id: str, *, actor: str) -> Party:
    with db.transaction() as tx:
        ra_store.lock_party_register(tx)
        party = load_party(tx, rdp_id)
        if network_party_id in party.nominated_by:
            raise InvalidInput(
                "party.already_nominated", f"'{network_party_id}' already nominated '{rdp_id}'."
            )
        updated = Party(
            party.party_id,
            party.name,
            party.party_type,
            party.licences,
            party.identifiers,
            party.nominated_by | {network_party_id},
        )
        nominators = load_parties(tx, updated.nominated_by)
        check_party(updated, nominators.values())
        ra_store.add_nomination(tx, rdp_id, network_party_id)
        audit.record(
            tx,
            actor=actor,
            action="ra.party.nominate",
            object_type="ra.party",
            object_id=rdp_id,
            details={"network_party": network_party_id, "clause": "L3.7"},
        )
        return updated


def _add_identifier(tx: Transaction, party_id: str, ident: PartyIdentifier) -> None:
    holders = ra_store.holders_of(tx, [ident.entity_id.compact]).get(ident.entity_id.compact, set())
    others = sorted(holders - {party_id})
    if others:
        raise PolicyRefusal(
            "party.identifier_held",
            f"The identifier {ident.entity_id} is already held by '{others[0]}'; an EUI-64 names one person.",
            "L3.18(a)",
        )
    role = ident.user_role.value if ident.user_role else ""
    if party_id in holders and any(
        held.entity_id == ident.entity_id.compact and held.user_role == role
        for held in ra_store.identifiers_of(tx, [party_id])
    ):
        raise InvalidInput(
            "party.duplicate_identifier", f"'{party_id}' already holds {ident.entity_id} for that role."
        )
    ra_store.add_identifier(
        tx,
        ra_store.StoredIdentifier(
            party_id=party_id,
            entity_id=ident.entity_id.compact,
            user_role=role,
            service_provider=ident.service_provider,
        ),
    )


def _describe_identifier(ident: PartyIdentifier) -> dict[str, str | None]:
    return {
        "entity_id": ident.entity_id.dashed,
        "user_role": ident.user_role.value if ident.user_role else None,
        "service_provider": ident.service_provider,
    }


def _describe(party: Party) -> dict[str, object]:
    return {
        "name": party.name,
        "type": party.party_type.value,
        "licences": sorted(lic.value for lic in party.licences),
        "identifiers": [_describe_identifier(i) for i in party.identifiers],
        "nominated_by": sorted(party.nominated_by),
    }
