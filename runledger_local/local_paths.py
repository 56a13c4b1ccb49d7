"""Local files as run inputs: the local cloud's allowance, not part of the request contract.

On AWS a request's ``input.uri`` is ``s3://bucket/key``; the local cloud also lets it name
a local file (``RUNLEDGER_LOCAL_PATHS``, runledger/storage.py). Jobs run in their own
folder, so a relative path is made absolute first, against where the user stands.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["localize_request"]


def localize_request(item: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """A request whose ``input.uri`` is a relative local path, made absolute against ``base``.

    Jobs run in their own folder (the image's WORKDIR), so a path relative to where the
    user stands would not resolve there.
    """
    request: dict[str, Any] = json.loads(json.dumps(item))
    uri = request.get("input", {}).get("uri") if isinstance(request.get("input"), dict) else None
    # Not an empty one: made the current folder, it would run (and fail) as a path.
    if isinstance(uri, str) and uri and "://" not in uri and not uri.startswith("/"):
        request["input"]["uri"] = str((base / uri).resolve())
    return request
