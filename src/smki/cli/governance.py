"""`smki pma ...`: the SMKI PMA's members, meetings and decisions. Thin: the rules are in smki.governance."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from smki import governance
from smki.cli.context import HOME_OPTION, exit_with, open_database
from smki.governance import (
    Capacity,
    CpsDocument,
    Decision,
    DecisionKind,
    DecisionStatus,
    EndReason,
    Holding,
    Office,
    PersonKind,
    RecoveryRequirement,
    VoteChoice,
)
from smki.model import EntityId, InvalidInput, RemotePartyRole, SmkiError
from smki.storage import Database

T = TypeVar("T")

pma_app = typer.Typer(
    help="The SMKI PMA (SEC Section L1): members, meetings, decisions.", no_args_is_help=True
)
person_app = typer.Typer(
    help="Persons the PMA records (members, Alternates, DCC, invitees).", no_args_is_help=True
)
meeting_app = typer.Typer(help="Meetings: open, attend, quorum, close.", no_args_is_help=True)
propose_app = typer.Typer(help="Put a matter to the PMA.", no_args_is_help=True)
pma_app.add_typer(person_app, name="person")
pma_app.add_typer(meeting_app, name="meeting")
pma_app.add_typer(propose_app, name="propose")

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
ACTOR_OPTION = typer.Option(
    "operator", "--actor", envvar="SMKI_ACTOR", help="Who is acting (for the audit log)."
)


def _run(home: Path | None, as_json: bool, action: Callable[[Database], T]) -> T:
    """Open the database and run ``action``; any refusal becomes one sentence and exit 2."""
    try:
        db = open_database(home)
        try:
            return action(db)
        finally:
            db.dispose()
    except SmkiError as exc:
        raise exit_with(exc, as_json=as_json) from None


def _date(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("pma.date", f"'{text}' is not a {what}: write it as YYYY-MM-DD.") from None


def _optional_date(text: str | None, what: str = "date") -> date | None:
    return _date(text, what) if text else None


def _datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "pma.datetime", f"'{text}' is not a time: write it as 2041-06-30T23:59:59Z."
        ) from None


def _person_id(db: Database, text: str) -> int:
    return governance.find_person(db, text).id


def _emit(as_json: bool, payload: Any, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(payload, sort_keys=True))
    else:
        for line in lines:
            typer.echo(line)


def _holding_line(h: Holding) -> str:
    until = f" until {h.ends_on}" if h.ends_on else ""
    if h.term_ends_on and h.ends_on and h.ends_on > h.term_ends_on and not h.end_reason:
        until = f" until {h.term_ends_on} (continuing to {h.ends_on} at most if a successor is delayed)"
    reason = f" ({h.end_reason})" if h.end_reason else ""
    who = f"{h.person.name} (#{h.person.id})"
    return f"{h.office.value:20} {who} from {h.starts_on}{until}{reason}, by {h.appointed_by}"


def _decision_lines(d: Decision) -> list[str]:
    subject = f" for {d.role} {d.entity_id}" if d.role and d.entity_id else ""
    decided = f" on {d.decided_on} at {d.meeting}" if d.decided_on else ""
    lines = [f"{d.reference} {d.kind.value}{subject}: {d.status.value}{decided}"]
    for v in d.votes:
        by = "" if v.cast_by == v.member else f" (by {v.cast_by})"
        casting = " casting" if v.casting else ""
        lines.append(f"  {v.motion}: {v.member}{by}{casting} {v.choice.value}")
    return lines


# persons


@person_app.command("add")
def person_add(
    name: str = typer.Argument(..., help="The person's name."),
    kind: str = typer.Option(
        "individual", "--kind", help="individual, body-corporate, association, partnership."
    ),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Record a person."""
    p = _run(
        home,
        as_json,
        lambda db: governance.add_person(db, name=name, kind=PersonKind.parse(kind), actor=actor),
    )
    _emit(
        as_json, {"id": p.id, "name": p.name, "kind": p.kind.value}, [f"Recorded {p.name} as person #{p.id}."]
    )


@person_app.command("list")
def person_list(home: Path | None = HOME_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List every person recorded."""
    people = _run(home, as_json, governance.persons)
    _emit(
        as_json,
        [{"id": p.id, "name": p.name, "kind": p.kind.value} for p in people],
        [f"#{p.id} {p.name} ({p.kind.value})" for p in people],
    )


# membership


@pma_app.command("appoint")
def appoint(
    person: str = typer.Argument(..., help="Person id or exact name."),
    office: str = typer.Argument(..., help=", ".join(o.value for o in Office)),
    starts_on: str = typer.Option(..., "--from", help="First day in office (YYYY-MM-DD)."),
    member_confirmation: bool = typer.Option(
        False, "--member-confirmation", help="The person has given the Member Confirmation (C6.9)."
    ),
    independent: bool = typer.Option(
        False, "--independent", help="Chair: found sufficiently independent (L1.5(a))."
    ),
    by_panel: bool = typer.Option(
        False, "--by-panel", help="SSC/TABASC: the Panel nominates in the interim (L1.10)."
    ),
    continuation_months: int = typer.Option(
        6, "--continuation-months", help="Chair: continuation period (L1.5(e))."
    ),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Appoint a person to an office of SMKI PMA Member."""
    h = _run(
        home,
        as_json,
        lambda db: governance.appoint(
            db,
            person_id=_person_id(db, person),
            office=Office.parse(office),
            starts_on=_date(starts_on),
            actor=actor,
            member_confirmation=member_confirmation,
            independent=independent,
            by_panel=by_panel,
            continuation_months=continuation_months,
        ),
    )
    _emit(as_json, h.as_dict(), [f"Appointed: {_holding_line(h)}."])


@pma_app.command("remove")
def remove(
    person: str = typer.Argument(..., help="Person id or exact name."),
    on: str = typer.Option(..., "--on", help="First day no longer in office (YYYY-MM-DD)."),
    reason: str = typer.Option("removed", "--reason", help="removed or resigned."),
    note: str | None = typer.Option(None, "--note", help="Why (e.g. the C4.5 ground)."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """End the office a person holds (removal or resignation)."""
    h = _run(
        home,
        as_json,
        lambda db: governance.end_appointment(
            db,
            person_id=_person_id(db, person),
            on=_date(on),
            reason=EndReason.parse(reason),
            actor=actor,
            note=note,
        ),
    )
    _emit(as_json, h.as_dict(), [f"Ended: {_holding_line(h)}."])


@pma_app.command("replace")
def replace(
    office: str = typer.Argument(..., help="ssc or tabasc."),
    person: str = typer.Argument(..., help="The new nominee: person id or exact name."),
    on: str = typer.Option(..., "--on", help="First day of the new nominee (YYYY-MM-DD)."),
    notice_on: str = typer.Option(..., "--notice-on", help="Day notice was given to the Secretariat."),
    member_confirmation: bool = typer.Option(
        False, "--member-confirmation", help="Member Confirmation given (C6.9)."
    ),
    by_panel: bool = typer.Option(False, "--by-panel", help="The Panel nominates in the interim (L1.10)."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Nominate or replace the SSC or TABASC representative by prior notice (L1.10)."""
    h = _run(
        home,
        as_json,
        lambda db: governance.replace_nominee(
            db,
            office=Office.parse(office),
            person_id=_person_id(db, person),
            on=_date(on),
            notice_given_on=_date(notice_on),
            actor=actor,
            member_confirmation=member_confirmation,
            by_panel=by_panel,
        ),
    )
    _emit(as_json, h.as_dict(), [f"Nominated: {_holding_line(h)}."])


@pma_app.command("alternate")
def alternate(
    alternate_person: str = typer.Argument(..., help="The Alternate: person id or exact name."),
    member: str = typer.Option(..., "--for", help="The member appointing the Alternate."),
    starts_on: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
    ends_on: str | None = typer.Option(None, "--until", help="First day no longer Alternate."),
    independent: bool = typer.Option(
        False, "--independent", help="Chair's nominee: sufficiently independent."
    ),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Appoint a member's Alternate (L1.12); the Chair's is for when the Specialist is unavailable."""
    a = _run(
        home,
        as_json,
        lambda db: governance.appoint_alternate(
            db,
            member_person_id=_person_id(db, member),
            alternate_person_id=_person_id(db, alternate_person),
            starts_on=_date(starts_on),
            ends_on=_optional_date(ends_on),
            independent=independent,
            actor=actor,
        ),
    )
    payload = {
        "id": a.id,
        "member": a.member.person.name,
        "office": a.member.office.value,
        "alternate": a.alternate.name,
        "starts_on": a.starts_on.isoformat(),
        "ends_on": a.ends_on.isoformat() if a.ends_on else None,
    }
    _emit(
        as_json, payload, [f"{a.alternate.name} is Alternate for {a.member.person.name} from {a.starts_on}."]
    )


@pma_app.command("members")
def members(
    on: str | None = typer.Option(None, "--on", help="The date (default today)."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Who the SMKI PMA Members were on a date, and any vacancies."""

    def action(db: Database) -> tuple[date, list[Holding], dict[Office, int]]:
        day = _date(on) if on else date.today()
        return day, governance.members_on(db, day), governance.vacancies_on(db, day)

    day, held, vacant = _run(home, as_json, action)
    lines = [_holding_line(h) for h in held]
    lines += [f"{o.value:20} vacant ({n} seat{'s' if n > 1 else ''})" for o, n in vacant.items()]
    payload = {
        "on": day.isoformat(),
        "members": [h.as_dict() for h in held],
        "vacancies": {o.value: n for o, n in vacant.items()},
    }
    _emit(as_json, payload, lines)


@pma_app.command("holder")
def holder(
    office: str = typer.Argument(..., help=", ".join(o.value for o in Office)),
    on: str = typer.Option(..., "--on", help="The date (YYYY-MM-DD)."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Who held an office on a date (all seats of a multi-seat office)."""
    chosen = _run(home, as_json, lambda db: governance.holders_on(db, Office.parse(office), _date(on)))
    lines = [_holding_line(h) for h in chosen] or [f"The {office} office was vacant on {on}."]
    _emit(as_json, [h.as_dict() for h in chosen], lines)


@pma_app.command("history")
def history(
    office: str | None = typer.Argument(None, help="One office (default all)."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every appointment, oldest first."""
    rows = _run(home, as_json, lambda db: governance.history(db, Office.parse(office) if office else None))
    _emit(as_json, [h.as_dict() for h in rows], [_holding_line(h) for h in rows])


# meetings


@meeting_app.command("open")
def meeting_open(
    on: str = typer.Option(..., "--on", help="The day the meeting is held (YYYY-MM-DD)."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Open a meeting; prints its reference."""
    m = _run(home, as_json, lambda db: governance.open_meeting(db, held_on=_date(on), actor=actor))
    _emit(as_json, m.as_dict(), [m.reference])


@meeting_app.command("attend")
def meeting_attend(
    meeting: str = typer.Argument(..., help="Meeting reference (PMA-M-...)."),
    person: str = typer.Argument(..., help="Person id or exact name."),
    capacity: str = typer.Option("member", "--as", help="member, alternate, dcc or invitee."),
    member: str | None = typer.Option(None, "--for", help="Alternate: the absent member."),
    note: str | None = typer.Option(None, "--note", help="Invitee: who they are (L1.14(b))."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Record that a person attended a meeting."""

    def action(db: Database) -> governance.Meeting:
        return governance.attend(
            db,
            meeting=meeting,
            person_id=_person_id(db, person),
            capacity=Capacity.parse(capacity),
            for_member=_person_id(db, member) if member else None,
            note=note,
            actor=actor,
        )

    m = _run(home, as_json, action)
    last = m.attendees[-1]
    _emit(as_json, m.as_dict(), [f"{last.person.name} attends {m.reference} as {last.capacity.value}."])


@meeting_app.command("quorum")
def meeting_quorum(
    meeting: str = typer.Argument(..., help="Meeting reference."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Whether the meeting is quorate (L1.13) and who sits for whom. Exit 1 when it is not."""
    q = _run(home, as_json, lambda db: governance.quorum(db, meeting))
    _emit(as_json, q.as_dict(), [q.sentence()])
    raise typer.Exit(0 if q.quorate else 1)


@meeting_app.command("show")
def meeting_show(
    meeting: str = typer.Argument(..., help="Meeting reference."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A meeting and its attendance."""
    m = _run(home, as_json, lambda db: governance.get_meeting(db, meeting))
    lines = [f"{m.reference} on {m.held_on} ({m.status.value})"]
    lines += [
        f"  {a.person.name} as {a.capacity.value}" + (f" for {a.for_member.name}" if a.for_member else "")
        for a in m.attendees
    ]
    _emit(as_json, m.as_dict(), lines)


@meeting_app.command("close")
def meeting_close(
    meeting: str = typer.Argument(..., help="Meeting reference."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Close a meeting."""
    m = _run(home, as_json, lambda db: governance.close_meeting(db, meeting=meeting, actor=actor))
    _emit(as_json, m.as_dict(), [f"{m.reference} closed."])


# proposals

ROLE_OPTION = typer.Option(..., "--role", help="Remote Party Role name or code (e.g. wanProvider).")
EUI_OPTION = typer.Option(..., "--eui", help="The subject's Entity Identifier (EUI-64).")
ON_OPTION = typer.Option(None, "--on", help="Proposal date (default today).")
SSC_OPTION = typer.Option(None, "--ssc-views", help="The Security Sub-Committee's views, if already given.")
SSC_ON_OPTION = typer.Option(
    None, "--ssc-views-on", help="When the SSC gave them (default the proposal date)."
)
NOT_AFTER_OPTION = typer.Option(None, "--not-after", help="The approved notAfter (2041-06-30T23:59:59Z).")
YEARS_OPTION = typer.Option(None, "--years", help="The approved Validity Period in years.")
NOTE_OPTION = typer.Option(None, "--note", help="Free text recorded with the decision.")


def _emit_decision(as_json: bool, d: Decision) -> None:
    _emit(as_json, d.as_dict(), _decision_lines(d))


@propose_app.command("organisation-validity")
def propose_validity(
    role: str = ROLE_OPTION,
    eui: str = EUI_OPTION,
    not_after: str | None = NOT_AFTER_OPTION,
    years: int | None = YEARS_OPTION,
    ssc_views: str | None = SSC_OPTION,
    ssc_views_on: str | None = SSC_ON_OPTION,
    on: str | None = ON_OPTION,
    note: str | None = NOTE_OPTION,
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A Validity Period other than 10 years for an Organisation Certificate (Appendix B 6.3.2(A)(i))."""
    d = _run(
        home,
        as_json,
        lambda db: governance.propose_organisation_validity(
            db,
            role=RemotePartyRole.parse(role),
            entity_id=EntityId.parse(eui),
            not_after=_datetime(not_after) if not_after else None,
            validity_years=years,
            ssc_views=ssc_views,
            ssc_views_on=_optional_date(ssc_views_on),
            proposed_on=_date(on) if on else date.today(),
            note=note,
            actor=actor,
        ),
    )
    _emit_decision(as_json, d)


@propose_app.command("key-reuse")
def propose_key_reuse(
    role: str = ROLE_OPTION,
    eui: str = EUI_OPTION,
    public_key_sha256: str | None = typer.Option(
        None, "--public-key-sha256", help="SHA-256 (hex) of the SubjectPublicKeyInfo DER to re-use."
    ),
    not_after: str | None = NOT_AFTER_OPTION,
    years: int | None = YEARS_OPTION,
    ssc_views: str | None = SSC_OPTION,
    ssc_views_on: str | None = SSC_ON_OPTION,
    on: str | None = ON_OPTION,
    note: str | None = NOTE_OPTION,
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """An Organisation Certificate with an existing Public Key (L11.4A-B)."""
    d = _run(
        home,
        as_json,
        lambda db: governance.propose_key_reuse(
            db,
            role=RemotePartyRole.parse(role),
            entity_id=EntityId.parse(eui),
            public_key_sha256=public_key_sha256,
            not_after=_datetime(not_after) if not_after else None,
            validity_years=years,
            ssc_views=ssc_views,
            ssc_views_on=_optional_date(ssc_views_on),
            proposed_on=_date(on) if on else date.today(),
            note=note,
            actor=actor,
        ),
    )
    _emit_decision(as_json, d)


@propose_app.command("cps")
def propose_cps(
    document: str = typer.Option(..., "--document", help="device, organisation or iki."),
    version: str = typer.Option(..., "--version", help="The CPS version to approve."),
    sha256: str | None = typer.Option(None, "--sha256", help="SHA-256 (hex) of the document."),
    on: str | None = ON_OPTION,
    note: str | None = NOTE_OPTION,
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approval of a Certification Practice Statement or a change to it (L1.17(a))."""
    d = _run(
        home,
        as_json,
        lambda db: governance.propose_cps_approval(
            db,
            document=CpsDocument.parse(document),
            version=version,
            document_sha256=sha256,
            proposed_on=_date(on) if on else date.today(),
            note=note,
            actor=actor,
        ),
    )
    _emit_decision(as_json, d)


@propose_app.command("recovery-key")
def propose_recovery(
    incident: str = typer.Option(..., "--incident", help="The Compromise incident reference."),
    requirement: str = typer.Option(..., "--require", help="recovery, contingency or neither."),
    dcc_notified_on: str = typer.Option(..., "--dcc-notified-on", help="When the DCC notified the PMA."),
    guidance_version: str | None = typer.Option(
        None, "--guidance", help="SMKI Recovery Key Guidance version."
    ),
    evidence: str | None = typer.Option(
        None, "--evidence", help="L10.16(b) evidence, when neither key is required."
    ),
    on: str | None = ON_OPTION,
    note: str | None = NOTE_OPTION,
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Whether to require the Recovery or Contingency Private Key (L1.17(i), L10.15-16)."""
    d = _run(
        home,
        as_json,
        lambda db: governance.propose_recovery_key(
            db,
            incident=incident,
            requirement=RecoveryRequirement.parse(requirement),
            dcc_notified_on=_date(dcc_notified_on),
            guidance_version=guidance_version,
            evidence=evidence,
            proposed_on=_date(on) if on else date.today(),
            note=note,
            actor=actor,
        ),
    )
    _emit_decision(as_json, d)


@pma_app.command("ssc-views")
def ssc_views(
    reference: str = typer.Argument(..., help="Decision reference (PMA-YYYY-NNNN)."),
    views: str = typer.Argument(..., help="The Security Sub-Committee's views."),
    received_on: str = typer.Option(..., "--on", help="When the SSC gave them."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Record the SSC's views on a proposal, for the PMA to take into account."""
    d = _run(
        home,
        as_json,
        lambda db: governance.record_ssc_views(
            db, reference=reference, views=views, received_on=_date(received_on), actor=actor
        ),
    )
    _emit_decision(as_json, d)


# deciding

VOTES_FOR = typer.Option([], "--for", help="A person voting for (repeat).")
VOTES_AGAINST = typer.Option([], "--against", help="A person voting against (repeat).")
VOTES_ABSTAIN = typer.Option([], "--abstain", help="A person abstaining (repeat).")
CASTING = typer.Option(None, "--casting", help="The Chair's casting vote on a tie: for or against.")


def _votes(
    db: Database, votes_for: list[str], against: list[str], abstain: list[str]
) -> dict[int, VoteChoice]:
    result: dict[int, VoteChoice] = {}
    for names, choice in (
        (votes_for, VoteChoice.FOR),
        (against, VoteChoice.AGAINST),
        (abstain, VoteChoice.ABSTAIN),
    ):
        for name in names:
            pid = _person_id(db, name)
            if pid in result:
                raise InvalidInput("pma.vote_twice", f"{name} is given more than one vote.")
            result[pid] = choice
    return result


@pma_app.command("decide")
def decide(
    meeting: str = typer.Argument(..., help="Meeting reference."),
    reference: str = typer.Argument(..., help="Decision reference."),
    votes_for: list[str] = VOTES_FOR,
    against: list[str] = VOTES_AGAINST,
    abstain: list[str] = VOTES_ABSTAIN,
    casting: str | None = CASTING,
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Put a proposal to a quorate meeting and record the votes."""
    d = _run(
        home,
        as_json,
        lambda db: governance.decide(
            db,
            meeting=meeting,
            reference=reference,
            votes=_votes(db, votes_for, against, abstain),
            casting_vote=VoteChoice.parse(casting) if casting else None,
            actor=actor,
        ),
    )
    _emit_decision(as_json, d)


@pma_app.command("revoke")
def revoke(
    meeting: str = typer.Argument(..., help="Meeting reference."),
    reference: str = typer.Argument(..., help="Decision reference."),
    votes_for: list[str] = VOTES_FOR,
    against: list[str] = VOTES_AGAINST,
    abstain: list[str] = VOTES_ABSTAIN,
    casting: str | None = CASTING,
    reason: str | None = typer.Option(None, "--reason", help="Why."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Put a motion to revoke an approval to a quorate meeting."""
    d = _run(
        home,
        as_json,
        lambda db: governance.revoke(
            db,
            meeting=meeting,
            reference=reference,
            votes=_votes(db, votes_for, against, abstain),
            casting_vote=VoteChoice.parse(casting) if casting else None,
            reason=reason,
            actor=actor,
        ),
    )
    _emit_decision(as_json, d)


@pma_app.command("withdraw")
def withdraw(
    reference: str = typer.Argument(..., help="Decision reference."),
    reason: str | None = typer.Option(None, "--reason", help="Why."),
    home: Path | None = HOME_OPTION,
    actor: str = ACTOR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Withdraw a proposal before it is decided."""
    d = _run(
        home, as_json, lambda db: governance.withdraw(db, reference=reference, reason=reason, actor=actor)
    )
    _emit_decision(as_json, d)


@pma_app.command("show")
def show(
    reference: str = typer.Argument(..., help="Decision reference."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A decision, its content and its votes."""
    d = _run(home, as_json, lambda db: governance.get_decision(db, reference))
    _emit_decision(as_json, d)


@pma_app.command("decisions")
def decisions(
    kind: str | None = typer.Option(None, "--kind", help=", ".join(k.value for k in DecisionKind)),
    status: str | None = typer.Option(None, "--status", help=", ".join(s.value for s in DecisionStatus)),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every decision, newest first."""

    def action(db: Database) -> list[Decision]:
        chosen = None
        if status:
            matches = [s for s in DecisionStatus if s.value == status.strip().lower()]
            if not matches:
                raise InvalidInput("pma.decision_status", f"'{status}' is not a decision status.")
            chosen = matches[0]
        return governance.list_decisions(db, kind=DecisionKind.parse(kind) if kind else None, status=chosen)

    rows = _run(home, as_json, action)
    _emit(as_json, [d.as_dict() for d in rows], [line for d in rows for line in _decision_lines(d)])


@pma_app.command("approvals")
def approvals(
    kind: str = typer.Option(..., "--kind", help=", ".join(k.value for k in DecisionKind)),
    role: str | None = typer.Option(None, "--role", help="Remote Party Role name or code."),
    eui: str | None = typer.Option(None, "--eui", help="Entity Identifier (EUI-64)."),
    home: Path | None = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approvals in force (approved, not revoked), optionally for one role and subject."""
    found = _run(
        home,
        as_json,
        lambda db: governance.find_approvals(
            db,
            DecisionKind.parse(kind),
            role=RemotePartyRole.parse(role) if role else None,
            entity_id=EntityId.parse(eui) if eui else None,
        ),
    )
    payload = [
        {
            "reference": a.reference,
            "kind": a.kind.value,
            "role": str(a.role) if a.role else None,
            "entity_id": a.entity_id.dashed if a.entity_id else None,
            "decided_on": a.decided_on.isoformat(),
            "not_after": a.not_after.strftime("%Y-%m-%dT%H:%M:%SZ") if a.not_after else None,
            "validity_years": a.validity_years,
            "public_key_sha256": a.public_key_sha256,
            "content": a.content,
        }
        for a in found
    ]
    lines = [
        f"{a.reference} {a.kind.value}"
        + (f" for {a.role} {a.entity_id}" if a.role and a.entity_id else "")
        + f" decided {a.decided_on}"
        for a in found
    ] or ["No approvals in force."]
    _emit(as_json, payload, lines)


def register(app: typer.Typer) -> None:
    """Add the `pma` command group to the `smki` app."""
    app.add_typer(pma_app, name="pma")
