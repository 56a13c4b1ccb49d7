"""The folders show the audiences: ``runledger`` runs in Lambda (and only it ships in the
layer), ``runledger_cli`` is the operator's, ``runledger_local`` is the offline emulator.
Read from the source (every import: top-level, inside functions, under TYPE_CHECKING, and
module names written as strings), so a lazy import cannot slip across a boundary."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runledger_cli.sam_template import REPO_ROOT

PACKAGES = ("runledger", "runledger_cli", "runledger_local")


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, or names in a string that looks like a module path of
    this project (importlib and preload lists name modules that way)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith(PACKAGES) and " " not in text and "/" not in text:
                names.add(text)
    return names


def package_of(module: str) -> str:
    return module.split(".", 1)[0]


def test_imported_reads_lazy_and_string_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "def f():\n    from runledger_cli import report\n"
        "NAMES = ('runledger_local.cloud',)\n"
        "TEXT = 'runledger_local is the emulator'\n"
    )

    assert {"runledger_cli", "runledger_cli.report", "runledger_local.cloud"} <= imported(source)
    assert "runledger_local is the emulator" not in imported(source)


@pytest.mark.parametrize(
    "path", modules(REPO_ROOT / "runledger"), ids=lambda p: p.relative_to(REPO_ROOT).as_posix()
)
def test_lambda_code_imports_no_operator_or_emulator_code(path: Path) -> None:
    crossing = {m for m in imported(path) if package_of(m) in {"runledger_cli", "runledger_local"}}
    assert crossing == set()


@pytest.mark.parametrize(
    "path",
    sorted((REPO_ROOT / "functions").glob("*/app.py")),
    ids=lambda p: p.parent.name,
)
def test_handlers_import_only_what_the_layer_ships(path: Path) -> None:
    ours = {package_of(m) for m in imported(path)} & set(PACKAGES)
    assert ours == {"runledger"}


def test_the_layer_ships_the_lambda_package_and_nothing_else() -> None:
    shipped = sorted(p.name for p in (REPO_ROOT / "layer").iterdir() if p.is_dir())
    assert shipped == ["runledger"]
    assert (REPO_ROOT / "layer" / "runledger").resolve() == (REPO_ROOT / "runledger").resolve()


#: What the emulator may use of the operator's package: the template reader, and the
#: read-model of the runs table (a run as the table holds it, for wait_for and read_run).
#: What of the operator's code the emulator reads: the template (and the workload
#: declarations in it), and the ledger.
EMULATOR_USES = ("runledger_cli.sam_template", "runledger_cli.workloads", "runledger_cli.ledger")


def test_the_emulator_imports_no_operator_code_but_the_template_reader_and_ledger() -> None:
    crossing = {
        m
        for path in modules(REPO_ROOT / "runledger_local")
        for m in imported(path)
        if package_of(m) == "runledger_cli"
    }
    assert {
        m for m in crossing if not any(m == u or m.startswith(u + ".") for u in EMULATOR_USES)
    } == set()


def test_commands_import_the_leaf_errors_module_not_the_cli_that_loads_them() -> None:
    for path in modules(REPO_ROOT / "runledger_cli" / "commands"):
        assert not {m for m in imported(path) if m.startswith("runledger_cli.cli")}, path.name
    errors = imported(REPO_ROOT / "runledger_cli" / "errors.py")
    assert {package_of(m) for m in errors} & set(PACKAGES) == set()
