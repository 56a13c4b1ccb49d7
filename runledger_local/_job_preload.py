"""Imported once by the local job fork server (runledger_local.processes).

Loads what a Python Batch job of this project imports before it does any work: boto3,
the S3 service data its default session reads when the job makes its client, and the
caches botocore fills while it builds its first S3 client and sends its first request.
The clients made here are thrown away; they are given fake keys and a dead endpoint, so
no credentials are looked up and nothing is sent. Each job makes its clients from its
own environment variables.

- The endpoint rule set: botocore builds the same rule objects from the same (cached)
  JSON for every client it makes; here they are built once per rule set and shared.
  ``RuleSet`` holds no state of a client: it maps endpoint parameters to an endpoint.
- The first request's lazy work (the hostname's IDNA codec, botocore's checksum and
  signing set-up) is done here by a request to the dead endpoint.

The default session made here keeps what it read from the AWS config and credentials
files its environment named. A job whose environment names other files (or another
home, for ~/.aws) is given a new session by ``fit_environment()``, called in the job once
its environment is set, so that it reads its own files, as ``python SCRIPT`` would.

A job's CPU (``bench/bench_jobs.py --jobs 80 --repeat 1``, three rounds alternating the
three versions; medians of the rounds' means): 61.4 ms before, 56.6 ms with the warm
request, 53.8 ms with the shared rule sets too. A forked job that writes to a page it
shares with this process (reference counts included) pays for a copy of the page, so
work done here once saves a job more than the work itself.
"""

import contextlib
import encodings.idna  # noqa: F401 - urllib3 encodes the endpoint's host name with it
import os
from typing import Any

import boto3
import botocore.config
import botocore.endpoint_provider
import botocore.exceptions

_session = boto3.session.Session()
boto3.DEFAULT_SESSION = _session
#: What names the files the session reads (and keeps), as the fork server has it.
_FILE_VARIABLES = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_DATA_PATH", "HOME")
_read_with = {name: os.environ.get(name) for name in _FILE_VARIABLES}
_loader = _session._session.get_component("data_loader")
for _service in ("s3",):
    _loader.load_service_model(_service, "service-2")
    _loader.load_service_model(_service, "endpoint-rule-set-1")
_loader.load_data("endpoints")
_loader.load_data("partitions")

_RuleSet = botocore.endpoint_provider.RuleSet
#: (id of each argument) -> (the rule set, the arguments, kept so that the ids stay theirs)
_rule_sets: dict[tuple[tuple[str, int], ...], tuple[Any, list[Any]]] = {}


def _shared_rule_set(**data: Any) -> Any:
    key = tuple(sorted((name, id(value)) for name, value in data.items()))
    built = _rule_sets.get(key)
    if built is None:
        built = _rule_sets[key] = (_RuleSet(**data), list(data.values()))
    return built[0]


botocore.endpoint_provider.RuleSet = _shared_rule_set  # type: ignore[misc,assignment] # EndpointProvider builds it

_warm = _session.client(
    "s3",
    region_name="us-east-1",
    endpoint_url="http://127.0.0.1:9",  # the discard port: nothing listens, or 1 s at most
    aws_access_key_id="preload",
    aws_secret_access_key="preload",  # noqa: S106 - fake, and never sent
    config=botocore.config.Config(
        retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=1
    ),
)
with contextlib.suppress(botocore.exceptions.BotoCoreError):  # refused, as it should be
    _warm.put_object(Bucket="preload", Key="preload", Body=b"{}", ContentType="application/json")


def fit_environment() -> None:
    """In a job, once its environment is set: drop the warm default session if the job's
    environment names other AWS config or credentials files, model data or home than
    the fork server's; boto3 then makes a session that reads the job's own."""
    if any(os.environ.get(name) != value for name, value in _read_with.items()):
        boto3.DEFAULT_SESSION = None
