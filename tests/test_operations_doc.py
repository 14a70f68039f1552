"""docs/operations.md lists every HTTP /v1 route the app serves, and points to docs/api.md for the rest."""

from __future__ import annotations

from pathlib import Path

from smki.api.app import create_app

ROOT = Path(__file__).resolve().parents[1]


def _section(doc: str, heading: str) -> str:
    start = doc.index(heading)
    end = doc.find("\n## ", start + len(heading))
    return doc[start : end if end != -1 else len(doc)]


def test_operations_guide_lists_every_v1_route_and_links_to_the_api_reference(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = _section(doc, "### HTTP `/v1` routes")
    paths = create_app(tmp_path / "home").openapi()["paths"]
    routes = {
        f"{method.upper()} {path}" for path, ops in paths.items() if path.startswith("/v1/") for method in ops
    }
    assert len(routes) >= 10
    missing = sorted(r for r in routes if f"`{r}`" not in section)
    assert missing == []
    assert "(api.md)" in section
