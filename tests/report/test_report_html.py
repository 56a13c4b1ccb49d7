"""The page's templates (runledger_cli.report.html): every value is escaped, and the
templates and stylesheet are package data an installed runledger has."""

from __future__ import annotations

import tomllib

from runledger_cli.graph import load_definition
from runledger_cli.ledger import RunRecord
from runledger_cli.report import RunData, render_report
from runledger_cli.sam_template import REPO_ROOT

TEMPLATES = REPO_ROOT / "runledger_cli" / "report" / "templates"


def test_every_value_on_the_page_is_escaped_as_html_escape_does() -> None:
    hostile = "<script>alert('x')</script>"
    request = {
        "pk": "RUN#x",
        "sk": "REQUEST",
        "status": "INVALID",
        "reason": 'variants: "a" & <b>',
        "workflow": hostile,
        "variants": [{"name": hostile, "vcpus": 1, "memory_mib": 2048, "capacity": "SPOT"}],
    }
    page = render_report(RunData(RunRecord(hostile, request), definition=load_definition()))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert 'data-variant="&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"' in page
    assert "reason: variants: &quot;a&quot; &amp; &lt;b&gt;</p>" in page
    assert "<title>runledger run &lt;script&gt;" in page


def test_the_templates_and_stylesheet_are_package_data() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["runledger_cli.report"]
    package = TEMPLATES.parent
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    files = {path for path in TEMPLATES.iterdir() if path.is_file()}
    assert files == shipped
    assert {p.name for p in files} >= {"report.html.j2", "report.css"}
