"""Imported once by the local job fork server (runledger.local.processes).

Loads what a Python Batch job of this project imports before it does any work: boto3,
the S3 service data its default session reads when the job makes its client, and the
caches botocore fills while it builds its first S3 client (the client class, the endpoint
rule set): a job forked from here made its own client in 12-20 ms less CPU. The client
made here is thrown away; it is given fake keys and a dead endpoint, so no credentials are
looked up. Each job makes its clients from its own environment variables.
"""

import boto3

_session = boto3.session.Session()
boto3.DEFAULT_SESSION = _session
_loader = _session._session.get_component("data_loader")
for _service in ("s3",):
    _loader.load_service_model(_service, "service-2")
    _loader.load_service_model(_service, "endpoint-rule-set-1")
_loader.load_data("endpoints")
_loader.load_data("partitions")
_session.client(
    "s3",
    region_name="us-east-1",
    endpoint_url="http://127.0.0.1:9",
    aws_access_key_id="preload",
    aws_secret_access_key="preload",  # noqa: S106 - fake, and never sent
)
