"""``python -m runledger_local.patches --check``: every moto seam, resolved, nothing patched."""

from __future__ import annotations

import argparse
import sys

from runledger_local.patches import ADAPTATIONS, all_seams, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runledger_local.patches",
        description="Check that every moto internal the local cloud's patches need is there.",
    )
    parser.add_argument("--check", action="store_true", help="resolve every seam (the default)")
    parser.parse_args(argv)
    problems = check()
    seams = len(dict.fromkeys(all_seams()))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} of {seams} seams broken", file=sys.stderr)
        return 1
    print(f"all {seams} seams of {len(ADAPTATIONS)} patches resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
