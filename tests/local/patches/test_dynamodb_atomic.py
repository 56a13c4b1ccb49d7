"""The dynamodb_atomic patch, proved through boto3 against moto."""

from __future__ import annotations

import sys
import threading

from patch_helpers import (
    aws,
    create_runs_table,
)

from runledger_local.patches import LocalCloud


# ----------------------------------------------------------------------- dynamodb_atomic
def test_dynamodb_atomic_reads_never_see_an_item_another_thread_is_writing(
    local_cloud: LocalCloud,
) -> None:
    ddb = aws("dynamodb")
    create_runs_table(ddb)
    key = {"pk": {"S": "RUN#w"}, "sk": {"S": "REQUEST"}}
    base = {f"a{n}": {"S": "x"} for n in range(60)}
    ddb.put_item(TableName="runs", Item={**key, **base})
    stop = threading.Event()

    def write() -> None:
        writer, n = aws("dynamodb"), 0
        while not stop.is_set():
            n += 1
            names = {"#b": f"b{n % 20}", "#c": f"c{n % 20}"}
            for expression in ("SET #b = :v, #c = :v", "REMOVE #b, #c"):
                writer.update_item(
                    TableName="runs",
                    Key=key,
                    UpdateExpression=expression,
                    ExpressionAttributeNames=names,
                    **(
                        {"ExpressionAttributeValues": {":v": {"S": "y"}}}
                        if ":v" in expression
                        else {}
                    ),
                )

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    writer = threading.Thread(target=write)
    writer.start()
    seen = []
    try:
        for _ in range(250):  # without the adaptation: dozens fail (RuntimeError)
            item = ddb.get_item(TableName="runs", Key=key)["Item"]
            seen.append(len(item) - len(base) - 2)
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(previous)
    assert set(seen) <= {0, 2}  # both new attributes or neither: never one of them
