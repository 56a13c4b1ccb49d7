"""Imported once by the local job fork server (runledger.local.processes).

Loads what a Python Batch job of this project imports before it does any work: boto3 and
the S3 service data its default session reads when the job makes its client. Nothing here
reads credentials, a region or an endpoint: those come from each job's own environment
when it creates its clients.
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
