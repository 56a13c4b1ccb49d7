"""Resolve CloudFormation intrinsic functions against the local cloud's physical resources.

The local cloud creates each resource of the translated template in moto and records what
`Ref` and `Fn::GetAtt` return for it; this module evaluates the template's values with
those. It covers the intrinsics template.yaml uses (Ref, Fn::GetAtt, Fn::Sub, Fn::If,
Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Join, Fn::Select, Fn::Split) and fails loudly on
any other, so a template change that needs more is noticed at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the property is dropped


class UnresolvableError(ValueError):
    """The template uses something the local cloud cannot resolve."""


@dataclass
class Scope:
    """What a template's intrinsics resolve against."""

    parameters: Mapping[str, Any]
    refs: dict[str, Any] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)  # (id, attr) -> value
    conditions: Mapping[str, Any] = field(default_factory=dict)  # name -> condition expression
    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "runledger-local"
    #: logical id -> the attributes its CloudFormation schema returns (``check_references``);
    #: a recorded attribute outside them is refused, as CloudFormation refuses it.
    returns: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}"
            f":stack/{self.stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise UnresolvableError(f"unknown pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise UnresolvableError(
            f"Ref {name}: no such parameter, or the resource is not created yet"
        )

    def get_att(self, logical_id: str, attribute: str) -> Any:
        allowed = self.returns.get(logical_id)
        if allowed is not None and attribute not in allowed:
            raise UnresolvableError(_not_returned(logical_id, attribute, allowed))
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise UnresolvableError(
                f"Fn::GetAtt {logical_id}.{attribute}: not known to the local cloud"
            ) from None

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise UnresolvableError(f"unknown condition {name}")
        return bool(resolve(self.conditions[name], self))


def _not_returned(logical_id: str, attribute: str, allowed: frozenset[str]) -> str:
    listed = ", ".join(sorted(allowed)) or "no attributes"
    return (
        f"Fn::GetAtt {logical_id}.{attribute}: its CloudFormation resource schema returns "
        f"only {listed}, so CloudFormation would reject the template"
    )


def check_references(
    template: Mapping[str, Any], attributes_by_type: Mapping[str, list[str]]
) -> dict[str, frozenset[str]]:
    """Refuse a template whose ``Fn::GetAtt`` (or ``${Id.Attribute}`` in ``Fn::Sub``) names
    an attribute its resource's CloudFormation schema does not return, or whose ``Ref``
    names nothing, before anything is created; return logical id -> returned attributes.

    ``attributes_by_type`` is resource type -> attributes, from the schemas cfn-lint ships
    (runledger_cli.sam_template.schema_attributes).
    """
    resources = template.get("Resources", {})
    returns = {
        logical_id: frozenset(attributes_by_type.get(resource["Type"], ()))
        for logical_id, resource in resources.items()
    }
    known = set(resources) | set(template.get("Parameters", {}))
    problems: list[str] = []

    def check_ref(name: str, written: str, where: str) -> None:
        if not name.startswith("AWS::") and name not in known:
            problems.append(f"{where}: {written}: no such parameter or resource")

    def check_att(logical_id: str, attribute: str, where: str) -> None:
        if logical_id not in returns:
            problems.append(f"{where}: Fn::GetAtt {logical_id}.{attribute}: no such resource")
        elif attribute not in returns[logical_id]:
            problems.append(f"{where}: {_not_returned(logical_id, attribute, returns[logical_id])}")

    def walk(value: Any, where: str) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item, where)
        elif isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref" and isinstance(arg, str):
                    check_ref(arg, f"Ref {arg}", where)
                    return
                if key == "Fn::GetAtt":
                    check_att(*_getatt_target(arg), where)
                    return
                if key == "Fn::Sub":
                    text, variables = _sub_parts(arg)
                    walk(variables, where)
                    for match in _SUB_VARIABLE.finditer(text):
                        name = match.group(1).strip()
                        target = _sub_target(name, variables)
                        if isinstance(target, tuple):
                            check_att(*target, where)
                        elif target is not None:
                            check_ref(target, f"${{{name}}}", where)
                    return
            for item in value.values():
                walk(item, where)

    for section in ("Resources", "Outputs"):
        for name, body in template.get(section, {}).items():
            walk(body, f"{section}.{name}")
    if problems:
        raise UnresolvableError(
            "the local cloud refuses to start, as CloudFormation would refuse the stack:\n  "
            + "\n  ".join(dict.fromkeys(problems))
        )
    return returns


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def _getatt_target(arg: Any) -> tuple[str, str]:
    """``Fn::GetAtt``'s argument (``[id, attribute]`` or ``"id.attribute"``) as a pair."""
    logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
    return str(logical_id), str(attribute)


def _sub_parts(arg: Any) -> tuple[str, Mapping[str, Any]]:
    """``Fn::Sub``'s argument (``text`` or ``[text, variables]``) as text and variables."""
    return (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])


def _sub_target(name: str, variables: Mapping[str, Any]) -> tuple[str, str] | str | None:
    """What ``${name}`` in a ``Fn::Sub`` stands for: None for one of its own variables, an
    ``(id, attribute)`` pair for a GetAtt, else the name of a parameter, resource or
    pseudo parameter (a Ref)."""
    if name in variables:
        return None
    if "." in name and not name.startswith("AWS::"):
        logical_id, attribute = name.split(".", 1)
        return logical_id, attribute
    return name


def _sub(template: str, variables: Mapping[str, Any], scope: Scope) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        target = _sub_target(name, variables)
        if target is None:
            return str(resolve(variables[name], scope))
        if isinstance(target, tuple):
            return str(scope.get_att(*target))
        return str(scope.ref(target))

    return _SUB_VARIABLE.sub(replace, template).replace("${!", "${")


def resolve(value: Any, scope: Scope) -> Any:
    """``value`` with every intrinsic function evaluated; AWS::NoValue entries dropped."""
    if isinstance(value, list):
        items = [resolve(v, scope) for v in value]
        return [v for v in items if v is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return scope.ref(arg)
        if key == "Fn::GetAtt":
            return scope.get_att(*_getatt_target(arg))
        if key == "Fn::Sub":
            return _sub(*_sub_parts(arg), scope)
        if key == "Fn::If":
            name, if_true, if_false = arg
            return resolve(if_true if scope.condition(name) else if_false, scope)
        if key == "Fn::Equals":
            left, right = (resolve(v, scope) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not resolve(arg[0], scope)
        if key == "Fn::And":
            return all(resolve(v, scope) for v in arg)
        if key == "Fn::Or":
            return any(resolve(v, scope) for v in arg)
        if key == "Condition":
            return scope.condition(arg)
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(str(v) for v in resolve(items, scope))
        if key == "Fn::Select":
            index, items = arg
            return resolve(items, scope)[int(resolve(index, scope))]
        if key == "Fn::Split":
            separator, text = arg
            return str(resolve(text, scope)).split(separator)
        if key.startswith("Fn::"):
            raise UnresolvableError(f"{key} is not supported by the local cloud")
    resolved = {k: resolve(v, scope) for k, v in value.items()}
    return {k: v for k, v in resolved.items() if v is not NO_VALUE}
