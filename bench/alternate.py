"""Compare the working tree with another revision, one bench repeat of each in turn.

    .venv/bin/python bench/alternate.py 7f5c1d2 --rounds 3 --runs 100

This VM's speed drifts by up to 70% from one minute to the next, so two `make bench`
runs taken minutes apart compare the minutes as much as the code. Here each round runs
one repeat of bench/bench_local_runs.py for REV (from a temporary git worktree), then one
for the working tree, so both sides see the same minutes. Both use the working tree's
bench script, so they are measured the same way. Prints every repeat and the medians.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench" / "bench_local_runs.py"
FIGURES = re.compile(r"wall=([\d.]+)s .* cpu=([\d.]+)s peak_tree_pss=(\d+)MB")


def one_repeat(tree: Path, runs: int) -> tuple[float, float, float, str]:
    """(wall s, cpu s, peak MB, the repeat's line) of one repeat run from ``tree``."""
    done = subprocess.run(  # noqa: S603 - this interpreter, the bench script
        [sys.executable, str(BENCH), "--runs", str(runs), "--repeat", "1"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},  # its runledger, not the installed one
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("repeat 1:")), "")
    found = FIGURES.search(line)
    if done.returncode or not found:
        raise SystemExit(f"the bench failed in {tree}:\n{done.stdout[-2000:]}{done.stderr}")
    wall, cpu, peak = (float(value) for value in found.groups())
    return wall, cpu, peak, line.removeprefix("repeat 1: ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the revision to compare with (a commit, tag or branch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runledger-alternate-") as scratch:
        other = Path(scratch) / "tree"
        git = ["git", "-C", str(REPO)]
        add = [*git, "worktree", "add", "--quiet", "--detach", str(other), args.rev]
        subprocess.run(add, check=True)  # noqa: S603 - git, with the revision asked for
        try:
            sides = {args.rev: other, "working tree": REPO}
            figures: dict[str, list[tuple[float, float, float]]] = {side: [] for side in sides}
            for number in range(1, args.rounds + 1):
                for side, tree in sides.items():
                    wall, cpu, peak, line = one_repeat(tree, args.runs)
                    figures[side].append((wall, cpu, peak))
                    print(f"round {number} {side}: {line}", flush=True)
        finally:
            remove = [*git, "worktree", "remove", "--force", str(other)]
            subprocess.run(remove, check=False)  # noqa: S603 - git, on our own worktree
    for side, rows in figures.items():
        wall, cpu, peak = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"median of {args.rounds} {side}: wall={wall:.1f}s cpu={cpu:.1f}s peak={peak:.0f}MB")


if __name__ == "__main__":
    main()
