"""docs/lint-findings.md lists every finding code lint can report, and lint reports no other code."""

from __future__ import annotations

import re
from pathlib import Path

from smki.profiles import lint as lint_module
from smki.profiles.lint_rules import FINDING_TYPES

ROOT = Path(__file__).resolve().parents[1]


def test_every_catalogued_code_is_documented_with_its_severity_and_source() -> None:
    doc = (ROOT / "docs" / "lint-findings.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z0-9_.]+)` \| (error|warning) \|", doc, flags=re.MULTILINE))
    assert rows == {code: t.severity.value for code, t in FINDING_TYPES.items()}
    for t in FINDING_TYPES.values():
        assert t.source and t.summary.endswith(".")


def test_every_code_the_checker_uses_is_catalogued() -> None:
    source = Path(lint_module.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'"([a-z]+\.[a-z0-9_]+)"', source))
    used = {u for u in used if u.split(".")[0] in {t.split(".")[0] for t in FINDING_TYPES}}
    assert used - set(FINDING_TYPES) == set()
    assert len(used) > 50
