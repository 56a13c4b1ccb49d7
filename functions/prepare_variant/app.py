"""PrepareVariant: turn one variant of a run into the pieces of its Batch SubmitJob.

Event (from the PrepareVariant state, one Map item)::

    {"run_id": "kmer-2026-11-23-001", "workflow": "kmer-count", "cost_center": "genomics-lab",
     "input": {"uri": "s3://bucket/sample.fastq", "k": 21},
     "variant": {"name": "od-2vcpu", "vcpus": 2, "memory_mib": 4096,
                 "capacity": "ON_DEMAND", "timeout_seconds": 3600}}

Returns::

    {"job_name": "kmer-2026-11-23-001-od-2vcpu",
     "results_uri": "s3://$RESULTS_BUCKET/runs/<run_id>/<variant>/metrics.json",
     "container_overrides": {
        "ResourceRequirements": [{"Type": "VCPU", "Value": "2"},
                                 {"Type": "MEMORY", "Value": "4096"}],
        "Environment": [{"Name": "RUNLEDGER_INPUT_URI", "Value": ...},
                        {"Name": "RUNLEDGER_KMER_K", "Value": "21"},
                        {"Name": "RUNLEDGER_RESULTS_URI", "Value": ...},
                        {"Name": "RUNLEDGER_RUN_ID", "Value": ...},
                        {"Name": "RUNLEDGER_VARIANT", "Value": ...}]},
     "timeout_seconds": 3600}

Environment: RESULTS_BUCKET (a bucket name; the local cloud may give file:///dir or a
path). Raises on a bad event or an unknown workflow (the variant is recorded FAILED).
Metric: VariantsPrepared (Count).
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from runledger.variants import PrepareVariantEvent, prepare_variant

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=PrepareVariantEvent)
def lambda_handler(event: PrepareVariantEvent, context: LambdaContext) -> dict[str, Any]:
    job = prepare_variant(event, results_base=os.environ["RESULTS_BUCKET"])
    metrics.add_metric(name="VariantsPrepared", unit=MetricUnit.Count, value=1)
    return job.model_dump(mode="json")
