"""`smki pma ...` as an operator runs it: the PMA scenario end to end, one-sentence refusals, all audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from smki import audit
from smki.cli.main import app
from smki.storage import Database

ROSTER = (
    ("Chair", "chair"),
    ("Large 1", "supplier-large"),
    ("Large 2", "supplier-large"),
    ("Large 3", "supplier-large"),
    ("Small", "supplier-small"),
    ("Electricity", "network-electricity"),
    ("Gas", "network-gas"),
    ("SSC", "ssc"),
    ("TABASC", "tabasc"),
    ("Specialist", "specialist"),
)
WAN_EUI = "90-B3-D5-1F-30-01-00-00"


class Operator:
    def __init__(self, env: dict[str, str]) -> None:
        self.runner = CliRunner()
        self.env = env

    def ok(self, *args: str) -> Any:
        result = self.runner.invoke(app, ["pma", *args, "--json", "--actor", "secretariat"], env=self.env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def read(self, *args: str) -> Any:
        result = self.runner.invoke(app, ["pma", *args, "--json"], env=self.env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def refused(self, *args: str) -> str:
        result = self.runner.invoke(app, ["pma", *args], env=self.env)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        return lines[0]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_pma_scenario_through_the_cli(kind: str, tmp_path: Path, database_url_for) -> None:  # type: ignore[no-untyped-def]
    url = database_url_for(kind)
    op = Operator({"SMKI_DATABASE_URL": url, "SMKI_HOME": str(tmp_path)})

    for name, office in ROSTER:
        op.ok("person", "add", name)
        extra = ["--independent"] if office == "chair" else []
        op.ok("appoint", name, office, "--from", "2026-01-05", "--member-confirmation", *extra)
    members = op.read("members", "--on", "2026-03-02")
    assert len(members["members"]) == 10 and members["vacancies"] == {}

    op.ok("person", "add", "Acme Energy Ltd", "--kind", "body-corporate")
    line = op.refused(
        "appoint", "Acme Energy Ltd", "supplier-small", "--from", "2027-01-05", "--member-confirmation"
    )
    assert line.startswith("error: ") and "[L1.4]" in line and "(pma.not_individual)" in line
    line = op.refused(
        "replace",
        "ssc",
        "Large 1",
        "--on",
        "2026-06-01",
        "--notice-on",
        "2026-05-01",
        "--member-confirmation",
    )
    assert "[L1.4]" in line and "(pma.one_office)" in line

    # Change the Chair; both dates are answered from the history.
    op.ok("remove", "Chair", "--on", "2026-09-01", "--reason", "resigned")
    op.ok("person", "add", "New Chair")
    op.ok("appoint", "New Chair", "chair", "--from", "2026-09-01", "--member-confirmation", "--independent")
    assert [h["person"]["name"] for h in op.read("holder", "chair", "--on", "2026-03-02")] == ["Chair"]
    assert [h["person"]["name"] for h in op.read("holder", "chair", "--on", "2026-09-01")] == ["New Chair"]

    cps = op.ok("propose", "cps", "--document", "organisation", "--version", "3.1", "--on", "2026-03-02")
    thin = op.ok("meeting", "open", "--on", "2026-03-02")["reference"]
    for name in ("Chair", "Large 1", "Gas"):
        op.ok("meeting", "attend", thin, name)
    quorum = op.runner.invoke(app, ["pma", "meeting", "quorum", thin], env=op.env)
    assert quorum.exit_code == 1 and "not quorate" in quorum.stdout
    line = op.refused("decide", thin, cps["reference"], "--for", "Large 1")
    assert "[L1.13]" in line and "(pma.quorum)" in line
    op.ok("meeting", "close", thin)

    full = op.ok("meeting", "open", "--on", "2026-03-02")["reference"]
    for name in ("Specialist", "Large 1", "Large 2", "Electricity"):
        op.ok("meeting", "attend", full, name)
    op.ok("person", "add", "DCC rep")
    op.ok("meeting", "attend", full, "DCC rep", "--as", "dcc")
    assert op.read("meeting", "quorum", full)["chair_by"]["name"] == "Specialist"
    line = op.refused("decide", full, cps["reference"], "--for", "Large 1", "--for", "DCC rep")
    assert "[L1.14(a)]" in line and "(pma.no_vote)" in line
    decided = op.ok(
        "decide", full, cps["reference"], "--for", "Large 1", "--for", "Large 2", "--against", "Electricity"
    )
    assert decided["status"] == "approved" and decided["meeting"] == full

    line = op.refused("propose", "key-reuse", "--role", "supplier", "--eui", WAN_EUI, "--on", "2026-03-02")
    assert "[L11.4B(b)]" in line and "(pma.key_reuse_role)" in line
    reuse = op.ok(
        "propose",
        "key-reuse",
        "--role",
        "wanProvider",
        "--eui",
        WAN_EUI,
        "--years",
        "17",
        "--on",
        "2026-03-02",
    )
    votes = ["--for", "Large 1", "--for", "Large 2", "--for", "Electricity"]
    line = op.refused("decide", full, reuse["reference"], *votes)
    assert "[L11.4B(a)]" in line and "(pma.ssc_views_required)" in line
    assert op.read("approvals", "--kind", "key-reuse") == []
    op.ok("ssc-views", reuse["reference"], "No objection.", "--on", "2026-02-27")
    assert op.ok("decide", full, reuse["reference"], *votes)["status"] == "approved"
    found = op.read("approvals", "--kind", "key-reuse", "--role", "wanProvider", "--eui", WAN_EUI)
    assert [a["reference"] for a in found] == [reuse["reference"]]
    assert found[0]["validity_years"] == 17 and found[0]["content"]["ssc_views"] == "No objection."
    assert op.read("approvals", "--kind", "key-reuse", "--role", "recovery") == []
    shown = op.read("show", reuse["reference"])
    assert sorted(v["member"] for v in shown["votes"]) == ["Electricity", "Large 1", "Large 2"]
    op.ok("meeting", "close", full)

    line = op.refused("holder", "chair", "--on", "yesterday")
    assert "(pma.date)" in line
    line = op.refused("show", "PMA-2026-9999")
    assert "(pma.decision_unknown)" in line

    # Every change wrote an audit entry, and the chain is intact.
    db = Database(url)
    try:
        result = audit.verify(db)
        assert result.ok, result.sentence()
        # 13 persons, 11 appointments, 1 removal, 2 proposals, 2 meetings opened, 8 attendances,
        # 2 decisions, 1 SSC views, 2 meetings closed
        assert result.entries == 13 + 11 + 1 + 2 + 2 + 8 + 2 + 1 + 2
        decision_log = audit.log.entries_for(db, "pma.decision", reuse["reference"])
        assert [e.action for e in decision_log] == [
            "pma.decision.propose",
            "pma.decision.ssc_views",
            "pma.decision.decide",
        ]
        assert all(e.actor == "secretariat" for e in decision_log)
    finally:
        db.dispose()
