"""The server_dispatch patch, proved through boto3 against moto."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from moto import mock_aws
from patch_helpers import (
    aws,
)

from runledger_cli.sam_template import table_schema
from runledger_local.patches import LocalCloud, local_aws


def test_fast_responses_build_a_rest_router_once_for_concurrent_first_requests(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core import routing

    routing.get_service_router.cache_clear()  # as if no Lambda request was routed yet
    built = Counter[str]()
    original_init = routing.RestRouter.__init__

    def counting_init(self: Any, service: Any) -> None:
        built[service.service_name] += 1
        original_init(self, service)

    monkeypatch.setattr(routing.RestRouter, "__init__", counting_init)
    clients = [aws("lambda") for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    answers: list[Any] = []

    def first_request(client: Any) -> None:
        barrier.wait()
        answers.append(client.list_functions()["Functions"])

    threads = [threading.Thread(target=first_request, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [[]] * len(clients)
    assert built == {"lambda": 1}


def test_fast_responses_list_a_response_classs_methods_once(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.core.responses as responses

    listed: Counter[str] = Counter()
    original = responses.method_names_from_class

    def method_names_from_class(clazz: type) -> list[str]:
        listed[clazz.__name__] += 1
        return original(clazz)

    monkeypatch.setattr(responses, "method_names_from_class", method_names_from_class)
    with mock_aws(), local_aws(adapters=["server_dispatch"]):
        dynamodb = aws("dynamodb")
        dynamodb.create_table(TableName="names", **table_schema())
        for n in range(5):
            dynamodb.put_item(TableName="names", Item={"pk": {"S": f"{n}"}, "sk": {"S": "x"}})
        assert len(dynamodb.scan(TableName="names")["Items"]) == 5

    assert listed == {"DynamoHandler": 1}
