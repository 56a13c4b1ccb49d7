"""The shared_models patch, proved through boto3 against moto."""

from __future__ import annotations

from unittest import mock

import boto3
import pytest
from moto import mock_aws
from patch_helpers import (
    REGION,
)

from runledger_local.patches import AdaptationBrokenError, local_aws


# ---------------------------------------------------------------------- shared_models
def test_shared_models_sessions_made_meanwhile_read_each_model_once(
    aws_credentials: None,
) -> None:
    from botocore.loaders import JSONFileLoader

    read = JSONFileLoader.load_file
    spy = mock.patch.object(JSONFileLoader, "load_file", autospec=True, side_effect=read)
    with mock_aws(), local_aws(adapters=["shared_models"]), spy as reads:
        first, second = boto3.Session(), boto3.Session()
        models = [s.client("glue", region_name=REGION).meta.service_model for s in (first, second)]
    after = boto3.Session()

    # glue: a model no session of this cloud had read yet (moto's EC2 import reads ec2's)
    glue_reads = [
        c
        for c in reads.call_args_list
        if c.args[1].endswith("botocore/data/glue/2017-03-31/service-2")
    ]
    assert len(glue_reads) == 1
    assert models[0]._service_description is models[1]._service_description
    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    assert after._session.get_component("data_loader") is not loader  # undone


def test_shared_models_offerings_are_read_per_region_when_asked_and_answer_as_motos_file(
    aws_credentials: None,
) -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS
    from moto.utilities.utils import load_resource

    region = "ap-southeast-3"
    with mock_aws(), local_aws(adapters=["shared_models"]):
        zones = INSTANCE_TYPE_OFFERINGS["availability-zone"]
        assert region not in zones._read  # type: ignore[attr-defined]
        ec2 = boto3.client("ec2", region_name=region)
        offered = ec2.describe_instance_type_offerings(LocationType="availability-zone")[
            "InstanceTypeOfferings"
        ]
        assert region in zones._read  # type: ignore[attr-defined]
        assert "eu-west-1" not in zones._read  # type: ignore[attr-defined]
        assert zones.get("xx-nowhere-1", []) == []  # as moto's dict answers

    in_file = load_resource(
        f"ec2/resources/instance_type_offerings/availability-zone/{region}.json"
    )
    expected = sorted((o["InstanceType"], o["Location"]) for o in in_file)
    assert len(expected) > 100
    assert sorted((o["InstanceType"], o["Location"]) for o in offered) == expected
    assert {o["LocationType"] for o in offered} == {"availability-zone"}


def test_shared_models_fail_loudly_when_moto_reads_other_offerings(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

    monkeypatch.setitem(INSTANCE_TYPE_OFFERINGS, "outpost", {})
    with pytest.raises(AdaptationBrokenError, match="'shared_models'"), local_aws():
        pass
