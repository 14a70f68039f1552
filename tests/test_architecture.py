"""The package table of docs/architecture.md, held by the code.

The import contracts live in pyproject.toml ([tool.importlinter]) and `make test` runs them with
import-linter; these tests run them too, show that they catch a deliberate violation planted in a copy
of the tree, and check what an import contract cannot see (a Session held, a raw transaction opened).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "smki"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_import_contracts_hold_on_the_tree() -> None:
    result = _lint_imports(REPO, REPO / "src")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), result.stdout[-2000:]


def test_import_contracts_catch_a_planted_violation(tmp_path: Path) -> None:
    """A copy of the tree with three violations: each is named by the contract it breaks."""
    shutil.copytree(SRC, tmp_path / "src" / "smki", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "src" / "smki"
    (planted / "profiles" / "planted_violation.py").write_text("from smki.storage import Database\n")
    (planted / "ra" / "planted_violation.py").write_text("from smki.storage import ra_tables\n")
    (planted / "api" / "planted_violation.py").write_text("import sqlalchemy\n")

    result = _lint_imports(tmp_path, tmp_path / "src")

    assert result.returncode != 0
    out = re.sub(r"\s+", " ", result.stdout)
    assert "profiles: model and cryptography only BROKEN" in out
    assert "Only storage talks to the database" in out
    assert "smki.profiles.planted_violation -> smki.storage" in out
    assert "smki.ra.planted_violation -> smki.storage.ra_tables" in out
    assert "smki.api.planted_violation -> sqlalchemy" in out


def _domain_modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "storage" not in p.relative_to(SRC).parts)


def _raw_session_uses(path: Path, root: Path) -> list[str]:
    """Lines of ``path`` that name a SQLAlchemy Session or open a raw session on the Database
    (``db.session()``, ``db.read_session()``; a PKCS#11 token's ``.session`` attribute is not a call)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id == "Session":
            found.append(f"{path.relative_to(root)}:{node.lineno} names Session")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("session", "read_session")
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno} calls .{node.func.attr}")
    return sorted(found, key=lambda line: int(line.split(":")[1].split()[0]))


def test_no_module_outside_storage_holds_a_session() -> None:
    offenders = [line for path in _domain_modules() for line in _raw_session_uses(path, REPO)]
    assert offenders == [], "\n".join(offenders)


def test_the_session_check_catches_a_raw_session(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("def f(db):\n    with db.read_session() as s:\n        return s\n\n\nx: Session\n")
    assert _raw_session_uses(planted, tmp_path) == [
        "planted.py:2 calls .read_session",
        "planted.py:6 names Session",
    ]
