"""Where ``runledger report`` and ``runledger local run`` write a run's page
(``report_path``): a file name any file system takes, one per run, whatever the id."""

from __future__ import annotations

from pathlib import Path

from runledger_cli.report import MAX_NAME_CHARS, report_path


def test_a_run_id_that_is_a_safe_name_is_the_pages_name() -> None:
    assert report_path(Path("r"), "kmer-local-001") == Path("r/kmer-local-001.html")


def test_a_long_run_id_gets_a_name_a_file_system_takes() -> None:
    """Found by the fuzz tier: a run id of 1,000 characters (from a request's pk) made
    OSError: File name too long, with a traceback, after the runs had ended."""
    run_id = "fz000021" + "\u2028separator" * 100

    name = report_path(Path("r"), run_id).name

    assert len(name.encode()) < 255
    assert name.startswith("fz000021_separator_separator")
    assert len(name) <= MAX_NAME_CHARS + len("-123456789abc.html")


def test_ids_that_differ_only_where_they_are_changed_get_pages_of_their_own() -> None:
    ids = ["a/b", "a_b", "a\nb", "a" * 150, "a" * 151, "é", "e"]

    paths = {report_path(Path("r"), run_id) for run_id in ids}

    assert len(paths) == len(ids)
    assert {path.parent for path in paths} == {Path("r")}
