"""Speed (memory): botocore models and moto's EC2 offerings are read once, when needed.

Sessions made while the cloud is up (one per moto backend family, the engine's, the pipe
runner's) share one model loader, so each service's model is read and kept once, not
once per session; moto's EC2 instance type offerings are read per region when first
asked, not all at import.

Measured 2026-12-04, bench/bench_speed.py --mechanism shared_models --rounds 5 --runs 30:
the engine's peak RSS 1.42x with it off (median of 5 alternated pairs, range
1.38-1.46x; 245 -> 347 MB), the pipeline's start 1.16x slower (1.15-1.19x); the runs'
CPU and wall the same (0.98x, 0.89-1.06x; 0.95x, 0.90-1.07x).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "shared_models"


_OFFERINGS: Final[str] = "moto.ec2.models.instance_types"


class _OfferingsByRegion(Mapping[str, list[dict[str, Any]]]):
    """Region -> instance type offerings of one location type, each region's file read
    when first asked: moto reads every region's at import (about 60 MB kept)."""

    def __init__(self, location_type: str, files: Mapping[str, str], load: Any) -> None:
        self._location_type = location_type
        self._files = dict(files)  # region -> moto resource path
        self._load = load
        self._read: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, region: str) -> list[dict[str, Any]]:
        try:
            return self._read[region]
        except KeyError:
            path = self._files[region]  # KeyError for a region moto has no file of
        with self._lock:
            if region not in self._read:
                offerings = self._load(path)
                for offering in offerings:  # as moto's import does
                    offering["LocationType"] = self._location_type
                self._read[region] = offerings
            return self._read[region]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


_INSTANCE_TYPE_OFFERINGS: Final = Seam(NAME, _OFFERINGS, "INSTANCE_TYPE_OFFERINGS")
_LOAD_RESOURCE: Final = Seam(NAME, "moto.utilities.utils", "load_resource", ("resource",))


def _lazy_offerings() -> None:
    module, _, offerings = _INSTANCE_TYPE_OFFERINGS.resolve()
    _, _, load = _LOAD_RESOURCE.resolve()
    folder = "ec2/resources/instance_type_offerings"
    root = Path(module.__file__).parent.parent / "resources/instance_type_offerings"
    if not root.is_dir() or set(offerings) != {entry.name for entry in root.iterdir()}:
        raise AdaptationBrokenError(NAME, f"{_OFFERINGS} no longer reads {folder}/*")
    for location_type, by_region in list(offerings.items()):
        if isinstance(by_region, _OfferingsByRegion):
            continue  # an earlier cloud of this process replaced it
        files = {
            name.split(".")[0]: f"{folder}/{location_type}/{name}"
            for name in sorted(os.listdir(root / location_type))
        }
        if set(files) != set(by_region):
            raise AdaptationBrokenError(NAME, f"{folder}/{location_type}: other regions")
        offerings[location_type] = _OfferingsByRegion(location_type, files, load)


_CREATE_LOADER: Final = Seam(NAME, "botocore.session", "create_loader", ("search_path_string",))


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    """One botocore model loader per data path for the sessions made meanwhile, and
    EC2's offerings read per region.

    A loader only reads and caches the model files, which botocore never changes once
    read, so sessions can share one as a session's clients do. The offerings stay lazy
    after the undo: they answer as the dicts did.
    """
    del cloud
    session_module, attribute, create_loader = _CREATE_LOADER.resolve()
    loaders: dict[str | None, Any] = {}
    lock = threading.Lock()

    def shared_loader(search_path_string: str | None = None) -> Any:
        with lock:
            if search_path_string not in loaders:
                loaders[search_path_string] = create_loader(search_path_string)
            return loaders[search_path_string]

    with mock.patch.object(session_module, attribute, shared_loader):
        _lazy_offerings()  # moto's EC2 import makes three sessions: they share too
        yield


SEAMS: Final[tuple[Seam, ...]] = (
    _INSTANCE_TYPE_OFFERINGS,
    _LOAD_RESOURCE,
    _CREATE_LOADER,
)
