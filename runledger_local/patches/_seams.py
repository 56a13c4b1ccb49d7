"""The moto internals the patches touch, declared as data and checked before use.

Every patch module declares ``SEAMS``: the modules, attributes and signatures of moto (or
botocore, werkzeug, jsonpath-ng) it reads or replaces. ``Seam.resolve`` looks one up and
raises ``AdaptationBrokenError`` naming the patch when a moto upgrade moved or changed it;
``check_all`` resolves every declared seam without patching anything
(``python -m runledger_local.patches --check``, the first thing to run after a moto bump).
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any


class AdaptationBrokenError(RuntimeError):
    """A moto seam a patch needs is missing or changed (moto upgrade?)."""

    def __init__(self, adaptation: str, detail: str) -> None:
        super().__init__(f"moto adaptation '{adaptation}' cannot be applied: {detail}")
        self.adaptation = adaptation


def import_module(adaptation: str, module: str) -> ModuleType:
    """``module``, imported; AdaptationBrokenError naming ``adaptation`` if it is gone."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AdaptationBrokenError(adaptation, f"cannot import {module}: {exc}") from exc


@dataclass(frozen=True)
class Seam:
    """``module:qualname`` (an empty qualname: the module itself), with its parameters.

    ``params`` are the parameter names the callable must have, in order, so a changed
    signature fails here, loudly, instead of deep inside an execution.
    """

    patch: str
    module: str
    qualname: str = ""
    params: tuple[str, ...] | None = None

    def resolve(self) -> tuple[Any, str, Any]:
        """(owner, attribute, current value); for a module seam (module, "", module)."""
        owner: Any = import_module(self.patch, self.module)
        if not self.qualname:
            return owner, "", owner
        *path, attribute = self.qualname.split(".")
        for part in path:
            owner = getattr(owner, part, None)
            if owner is None:
                raise AdaptationBrokenError(self.patch, f"{self.module}.{self.qualname} not found")
        if not hasattr(owner, attribute):
            raise AdaptationBrokenError(self.patch, f"{self.module}.{self.qualname} not found")
        value = getattr(owner, attribute)
        if self.params is not None:
            actual = list(inspect.signature(value).parameters)
            if actual != list(self.params):
                raise AdaptationBrokenError(
                    self.patch,
                    f"{self.module}.{self.qualname} has parameters {actual}, "
                    f"expected {list(self.params)}",
                )
        return owner, attribute, value

    @property
    def value(self) -> Any:
        return self.resolve()[2]


def seams_of(
    patch: str, module: str, qualnames: Iterable[str], params: tuple[str, ...] | None = None
) -> tuple[Seam, ...]:
    """One seam per attribute of one module (the same parameters for each, if given)."""
    return tuple(Seam(patch, module, qualname, params) for qualname in qualnames)


def check_all(seams: Iterable[Seam]) -> list[AdaptationBrokenError]:
    """Resolve every seam without patching anything; the ones that failed."""
    problems: list[AdaptationBrokenError] = []
    for seam in seams:
        try:
            seam.resolve()
        except AdaptationBrokenError as exc:
            problems.append(exc)
    return problems


class OncePerKey:
    """A bounded cache whose misses are computed once, however many threads ask at once.

    ``functools.lru_cache`` lets every thread that misses compute the value: with 100
    runs started together, each parse or router build ran up to 100 times (the REST
    routers alone cost 13 CPU-s of an 80 s benchmark). Here a miss is computed under a
    lock and the others wait for it; hits take no lock.
    """

    def __init__(self, compute: Callable[..., Any], maxsize: int) -> None:
        self._compute = compute
        self._maxsize = maxsize
        self._values: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self.misses = 0

    def __call__(self, *key: Any) -> Any:
        try:
            return self._values[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._values:
                self.misses += 1
                value = self._compute(*key)  # an exception leaves nothing cached
                if len(self._values) >= self._maxsize:
                    self._values.clear()
                self._values[key] = value
            return self._values[key]
