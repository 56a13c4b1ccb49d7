"""The README stays short and every guide it points at exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
        REPO_ROOT / "bench" / "README.md"]  # fmt: skip
_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_the_readme_is_at_most_200_lines() -> None:
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_points_at_a_file_of_the_repository(page: Path) -> None:
    links = [m.group(1) for m in _LINK.finditer(page.read_text())]
    local = [link for link in links if "://" not in link]
    missing = [link for link in local if not (page.parent / link).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_the_readme_links_every_guide_in_docs() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    guides = sorted(p.name for p in (REPO_ROOT / "docs").glob("*.md"))
    assert guides, "docs/ holds the guides"
    assert [g for g in guides if f"docs/{g}" not in readme] == []
