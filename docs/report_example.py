"""Regenerate docs/report.png (`make report-example`): the report of one offline run.

The sample request events/requests/kmer-valid-local.json (3 variants) runs through the
local cloud with two injected Batch faults: the third variant's job exits 2 (a permanent
failure, not retried) and the second variant's first attempt exits 75 (retried by the job
definition). The run's page goes to reports/, its screenshot to docs/report.png.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runledger_cli.report import report_path, screenshot, write_run_reports
from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request

REQUEST = REPO_ROOT / "events" / "requests" / "kmer-valid-local.json"
PNG = REPO_ROOT / "docs" / "report.png"


def main() -> int:
    item = localize_request(json.loads(REQUEST.read_text()), REPO_ROOT)
    run_id = str(item["pk"]).removeprefix("RUN#")
    names = [v["name"] for v in item["variants"]]
    with LocalPipeline() as pipeline:
        pipeline.cloud.inject_job_exit({"variant": names[2]}, [2])
        pipeline.cloud.inject_job_exit({"variant": names[1]}, [75])
        pk = pipeline.put_request(item)
        pipeline.wait_for([pk], timeout=300)
        write_run_reports(pipeline, [run_id], Path("reports"))
    page = report_path(Path("reports"), run_id)
    log = screenshot(page, PNG)
    print(f"wrote {page} and {PNG.relative_to(REPO_ROOT)}")
    for error in log.errors:
        print(f"the page logged an error: {error}", file=sys.stderr)
    return 1 if log.errors else 0


if __name__ == "__main__":
    sys.exit(main())
