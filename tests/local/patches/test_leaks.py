"""The leaks patch, proved through boto3 against moto."""

from __future__ import annotations

import gc
import weakref

from moto import mock_aws
from patch_helpers import (
    REGION,
    aws,
    create_state_machine,
    output,
    run_execution,
)

from runledger_local.patches import local_aws


# ---------------------------------------------------------------------------------- leaks
def test_leaks_finished_threads_and_reset_backends_are_let_go(aws_credentials: None) -> None:
    from moto.ec2 import ec2_backends
    from moto.ec2.models.subnets import Subnet
    from moto.stepfunctions.parser.utils import TMP_THREADS

    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    with mock_aws(), local_aws():
        sfn = aws("stepfunctions")
        arn = create_state_machine(sfn, "leaks", definition)
        for n in range(10):
            output(run_execution(sfn, arn, {"n": n}))
        # moto registered the last execution's threads and never drops them ...
        finished = [thread for thread in TMP_THREADS if not thread.is_alive()]
        registered = len(TMP_THREADS)
        output(run_execution(sfn, arn, {"n": "last"}))
        ec2 = aws("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet_id)
        backend = ec2_backends["123456789012"][REGION]
        cloud_subnet = weakref.ref(backend.get_subnet(subnet_id))
        del backend
        assert Subnet._base_avail_ip_iterator.cache_info().currsize > 0  # the IP was cached
        # The last execution has ended; its worker threads may take a moment more to.
        for thread in list(TMP_THREADS):
            thread.join(timeout=10)
    # ... but each start (and the end) forgot the finished ones: not one per execution.
    assert finished
    assert registered < 10
    assert TMP_THREADS == []
    gc.collect()
    assert cloud_subnet() is None  # moto's method cache no longer holds the reset subnet
