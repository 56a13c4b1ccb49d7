"""Read template.yaml, the single source of truth, as SAM and as CloudFormation.

Used by the tests, the offline local cloud and the docs so that no setting is written
twice. Development-time code: it needs cfn-lint and aws-sam-translator (dev extras) and is
never imported by a Lambda function.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

# Properties holding a local path that `sam build`/`sam package` replace with an S3 URI.
_LOCAL_URI_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


#: The transform that expands Fn::ForEach; CloudFormation runs it before SAM's.
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"


@functools.cache
def load_sam(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as written (SAM), with short-form intrinsics (!Ref ...) as dicts and
    its ``AWS::LanguageExtensions`` loops (``Fn::ForEach``) expanded, as CloudFormation
    expands them before the SAM transform (``expand_language_extensions``)."""
    from cfnlint.decode import decode  # dev dependency

    template, errors = decode(str(path))
    if errors or template is None:
        raise ValueError(f"{path} does not parse: {errors}")
    return expand_language_extensions(dict(template), path)


def expand_language_extensions(template: dict[str, Any], path: Path) -> dict[str, Any]:
    """``template`` with its ``Fn::ForEach`` loops expanded and ``AWS::LanguageExtensions``
    dropped from its transforms (unchanged when it declares no such transform).

    The SAM translator refuses a raw ``Fn::ForEach``, and SAM CLI's own expander (its
    partial mode) resolved intrinsics that must stay (Fn::If, parameters) when tried here
    (research on branch platforms-proto). cfn-lint's expander, private API of the pinned
    cfn-lint (pyproject.toml), expands the loops only, resolving the ``Fn::FindInMap`` it
    can (as CloudFormation's transform does); tests/infra/test_template.py checks what it
    gives. Like CloudFormation it also resolves every other resolvable ``Fn::FindInMap``.
    """
    transforms = template.get("Transform")
    names = transforms if isinstance(transforms, list) else [transforms]
    if LANGUAGE_EXTENSIONS not in names:
        return template
    from cfnlint.template import Template  # dev dependency
    from cfnlint.template.transforms._language_extensions import language_extension

    problems, expanded = language_extension(
        Template(str(path), copy.deepcopy(template), ["us-east-1"])
    )
    if problems or expanded is None:
        raise ValueError(f"{path}: Fn::ForEach does not expand: {problems}")
    # Only the sections that loop come from the expander: cfn-lint's Template also
    # rewrites what it reads for itself (e.g. the operands of a condition's Fn::Equals).
    out = dict(template)
    for section in ("Conditions", "Resources", "Outputs"):
        if "Fn::ForEach::" in json.dumps(template.get(section), default=str):
            out[section] = expanded[section]
    # A mapping only the loops read is resolved away: keep those still looked up.
    looked_up = json.dumps({k: v for k, v in out.items() if k != "Mappings"}, default=str)
    mappings = {
        name: value
        for name, value in (out.get("Mappings") or {}).items()
        if f'"Fn::FindInMap": ["{name}"' in looked_up
    }
    if mappings:
        out["Mappings"] = mappings
    else:
        out.pop("Mappings", None)
    rest = [name for name in names if name != LANGUAGE_EXTENSIONS]
    if rest:
        out["Transform"] = rest[0] if len(rest) == 1 else rest
    else:
        out.pop("Transform", None)
    return out


def local_paths(sam: dict[str, Any]) -> dict[str, str]:
    """Logical id -> the local path (CodeUri, ContentUri, DefinitionUri) it is built from."""
    found: dict[str, str] = {}
    for logical_id, resource in sam["Resources"].items():
        prop = _LOCAL_URI_PROPERTIES.get(resource["Type"])
        value = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(value, str) and not value.startswith("s3://"):
            found[logical_id] = value
    return found


@functools.cache
def load_cfn(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template after the SAM transform (what CloudFormation deploys), offline.

    Local paths are swapped for placeholder S3 URIs, as `sam package` would, and managed
    policy names resolve to nothing (no IAM call is made).
    """
    from samtranslator.translator.transform import transform  # dev dependency

    sam = copy.deepcopy(load_sam(path))
    for logical_id in local_paths(sam):
        resource = sam["Resources"][logical_id]
        prop = _LOCAL_URI_PROPERTIES[resource["Type"]]
        resource["Properties"][prop] = f"s3://runledger-placeholder/{logical_id}"

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return dict(transform(sam, {}, _NoManagedPolicies()))


def load_both(
    path: Path = TEMPLATE_PATH, *, cache: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(load_sam(path), load_cfn(path))`` without importing cfn-lint and the SAM
    translator into this process, unless they are here already.

    Imported modules stay until the process ends: these two (cfn-lint brings sympy and
    networkx) would keep about 100 MB in a process that needs only their result (the
    local cloud). A child Python process reads the template and prints both as JSON.

    With ``cache`` (the local cloud passes its speed switch), what a child printed is kept
    on disk (``cache_file``) and read back by the next process that loads the same
    template with the same readers, instead of starting a child: the child's CPU is
    almost all the SAM translator's and cfn-lint's imports (1.4 CPU-s), paid by every
    ``runledger local run`` and every local cloud a test starts in a process of its own.
    Measured 2026-12-04, ``runledger local run events/requests/kmer-valid-local.json``, 4
    alternated pairs, each cold one with an empty ``RUNLEDGER_CACHE_DIR``: without the
    cache the command takes 1.51x the CPU (medians 4.4 -> 2.9 CPU-s) and 1.48x the wall
    time (4.7 -> 3.2 s).
    """
    if _readers_imported():
        return load_sam(path), load_cfn(path)
    return _load_both_in_child(path, cache)


def _readers_imported() -> bool:
    """Whether cfn-lint or the SAM translator is in this process already (then load_both
    reads the template here: there is nothing left to keep out)."""
    return bool({"cfnlint", "samtranslator"} & sys.modules.keys())


def load_sam_as_read(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """``load_sam(path)``, or the SAM half of the ``load_both(path)`` this process already
    made in a child (the local cloud's), so that reading it again imports nothing."""
    read = _read_in_child.get(path)
    return read[0] if read is not None else load_sam(path)


#: path -> (sam, cfn), as a child read them (load_both).
_read_in_child: dict[Path, tuple[dict[str, Any], dict[str, Any]]] = {}
#: path -> resource type -> its Fn::GetAtt attributes, as the same child read them.
_attributes_read: dict[Path, dict[str, list[str]]] = {}
#: path -> the child read_ahead() started for it, not yet collected by load_both.
_reading: dict[Path, subprocess.Popen[str]] = {}


def read_ahead(path: Path = TEMPLATE_PATH) -> None:
    """Start the child a later ``load_both(path)`` would wait for, and return at once.

    The child reads it with the SAM translator and cfn-lint; the local cloud starts moto
    meanwhile instead of after it. Measured 2026-12-04, bench/bench_speed.py --mechanism
    read_ahead --runs 5, --rounds 6 then --rounds 10: the pipeline's start (entering
    LocalPipeline) takes 1.22x the wall time without it (median of the 16 alternated
    pairs, range 0.57-1.68x: the start competes for the two cores with the fork server's
    imports). Does nothing when ``load_both`` would not need a child, or one has already
    read or is reading ``path``.
    """
    if _readers_imported() or path in _read_in_child:
        return
    cached = cache_file(path)
    if cached is not None and cached.is_file():
        return  # load_both will read it from the cache, no child needed
    if path not in _reading:
        _reading[path] = _start_child(path)


def cache_file(path: Path) -> Path | None:
    """Where a child's reading of ``path`` is kept between processes: a file named by a
    digest of everything the reading depends on (the template's bytes, this module's
    source, the SAM translator's and cfn-lint's versions, the region); None if the cache
    is off (``RUNLEDGER_CACHE_DIR`` empty) or the template cannot be read."""
    import hashlib
    from importlib.metadata import version

    root = os.environ.get("RUNLEDGER_CACHE_DIR")
    if root == "":
        return None
    if root is None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(base) / "runledger")
    digest = hashlib.sha256()
    try:
        digest.update(path.read_bytes())
    except OSError:
        return None
    digest.update(Path(__file__).read_bytes())
    for part in (version("aws-sam-translator"), version("cfn-lint")):
        digest.update(part.encode())
    digest.update(os.environ.get("AWS_DEFAULT_REGION", "us-east-1").encode())
    return Path(root) / f"template-{digest.hexdigest()[:40]}.json"


def _read_cache(cached: Path | None) -> str | None:
    try:
        return cached.read_text(encoding="utf-8") if cached is not None else None
    except OSError:
        return None


def _write_cache(cached: Path | None, printed: str) -> None:
    if cached is None:
        return
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(printed, encoding="utf-8")
        partial.replace(cached)  # whole or not at all, whoever reads it meanwhile
    except OSError:
        pass  # a cache that cannot be written only costs the next process a child


def _start_child(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - this module, with this interpreter
        [sys.executable, "-m", __name__, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _load_both_in_child(path: Path, cache: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    if path in _read_in_child:
        return _read_in_child[path]
    cached = cache_file(path) if cache else None  # the digest reads the template: once
    stdout = _read_cache(cached)
    both = None
    if stdout is not None:
        try:
            both = json.loads(stdout)
        except ValueError:
            both = None  # a damaged cache file: read the template again
    if both is None:
        child = _reading.pop(path, None) or _start_child(path)
        stdout, stderr = child.communicate()
        if child.returncode != 0:
            lines = stderr.strip().splitlines() or [f"exit code {child.returncode}"]
            raise ValueError(f"{path} cannot be read: {lines[-1]}")
        both = json.loads(stdout)
        _write_cache(cached, stdout)
    _read_in_child[path] = both["sam"], both["cfn"]
    _attributes_read[path] = both["attributes"]
    return _read_in_child[path]


def schema_attributes(cfn: dict[str, Any], region: str = "us-east-1") -> dict[str, list[str]]:
    """Resource type -> the attributes ``Fn::GetAtt`` may read of it, for every type in
    ``cfn``, from the CloudFormation resource schemas cfn-lint ships (what CloudFormation
    itself accepts; e.g. ``AWS::Batch::JobDefinition`` returns only ``JobDefinitionArn``).
    A type cfn-lint has no schema for maps to an empty list."""
    from cfnlint.schema import ResourceNotFoundError  # dev dependency
    from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

    found: dict[str, list[str]] = {}
    for resource in cfn.get("Resources", {}).values():
        kind = str(resource["Type"])
        if kind not in found:
            try:
                found[kind] = sorted(PROVIDER_SCHEMA_MANAGER.get_type_getatts(kind, region))
            except ResourceNotFoundError:
                found[kind] = []
    return found


def load_attributes(path: Path = TEMPLATE_PATH) -> dict[str, list[str]]:
    """``schema_attributes`` of the translated template at ``path``, from the child that
    ``load_both`` used when it used one (nothing is imported here then)."""
    if path not in _attributes_read:  # a child's read sets both _read_in_child and this
        if _readers_imported():
            _attributes_read[path] = schema_attributes(load_cfn(path))
        else:
            _load_both_in_child(path)
    return _attributes_read[path]


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of one type."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """Parameter name -> its Default (parameters without one are left out)."""
    return {
        name: spec["Default"]
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }


def table_schema(logical_id: str = "RunsTable", path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """CreateTable arguments (keys, billing, stream) of a table of the template, so tests
    that build a table by hand build the template's table (read as ``load_both`` reads it)."""
    props = load_both(path)[1]["Resources"][logical_id]["Properties"]
    schema = {key: props[key] for key in ("KeySchema", "AttributeDefinitions", "BillingMode")}
    if "StreamSpecification" in props:
        schema["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return schema


if __name__ == "__main__":  # load_both's child: python -m runledger_cli.sam_template PATH
    _path = Path(sys.argv[1])
    _cfn = load_cfn(_path)
    json.dump(
        {"sam": load_sam(_path), "cfn": _cfn, "attributes": schema_attributes(_cfn)},
        sys.stdout,
        default=str,
    )
