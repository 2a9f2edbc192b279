"""The types and ranges of an adapter's parameters, and the check every spec value passes.

A spec file may declare, per parameter, what it accepts::

    params:
      M: {type: int, min: 2}
      ef: {type: int, min: 1}
      algorithm: {type: str, choices: [brute, ball_tree]}

Where it declares nothing for a parameter, the type of its default grid values stands in
(all whole numbers: int; any other number among them: float; all text: str; all true/false:
bool), so third-party spec files keep working. A value of the wrong type or out of range is
refused before any job starts, with one line naming the adapter, the parameter and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from annbench.errors import UserError, refuse_unknown_keys

TYPES = ("int", "float", "str", "bool", "any")
RULE_KEYS = {"type", "min", "max", "choices", "optional"}


@dataclass(frozen=True)
class ParamRule:
    """What one parameter accepts."""

    type: str = "any"
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    # a build parameter in no default grid: an experiment may set it, runs that do not keep
    # their identity (the library's own default applies)
    optional: bool = False

    def describe(self) -> str:
        parts = [
            {"int": "an integer", "float": "a number", "str": "text", "bool": "true/false"}.get(
                self.type, "any value"
            )
        ]
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.choices is not None:
            parts.append("one of " + ", ".join(map(str, self.choices)))
        return " ".join(parts)


def parse_rules(raw: Any, where: str) -> dict[str, ParamRule]:
    """The ``params`` section of a spec file."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: 'params' must map parameter names to rules")
    rules = {}
    for name, rule in raw.items():
        place = f"{where}: params.{name}"
        if not isinstance(rule, dict):
            raise UserError(f"{place} must be a mapping with keys {', '.join(sorted(RULE_KEYS))}")
        refuse_unknown_keys(rule, RULE_KEYS, place)
        kind = rule.get("type", "any")
        if kind not in TYPES:
            raise UserError(f"{place}: type {kind!r} is not one of {', '.join(TYPES)}")
        bounds = {}
        for key in ("min", "max"):
            value = rule.get(key)
            if value is not None and not _is_number(value):
                raise UserError(f"{place}: {key} must be a number, got {value!r}")
            bounds[key] = value
        choices = rule.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise UserError(f"{place}: choices must be a list")
        optional = rule.get("optional", False)
        if not isinstance(optional, bool):
            raise UserError(f"{place}: optional must be true or false, got {optional!r}")
        rules[str(name)] = ParamRule(
            kind,
            bounds["min"],
            bounds["max"],
            tuple(choices) if choices is not None else None,
            optional,
        )
    return rules


def inferred_rule(values: list[Any]) -> ParamRule:
    """The rule a parameter's default grid implies when its spec declares none."""
    if values and all(isinstance(v, bool) for v in values):
        return ParamRule("bool")
    if values and all(_is_number(v) for v in values):
        return ParamRule("int" if all(isinstance(v, int) for v in values) else "float")
    if values and all(isinstance(v, str) for v in values):
        return ParamRule("str")
    return ParamRule("any")


def check_value(rule: ParamRule, value: Any, where: str) -> Any:
    """``value`` when ``rule`` admits it; one line otherwise."""
    wrong = UserError(f"{where}: {value!r} is not {rule.describe()}")
    if rule.type == "bool" and not isinstance(value, bool):
        raise wrong
    if rule.type == "str" and not isinstance(value, str):
        raise wrong
    if rule.type == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
        raise wrong
    if rule.type == "float" and not _is_number(value):
        raise wrong
    if rule.type in ("int", "float") and not math.isfinite(value):
        raise wrong
    if rule.type == "any" and not isinstance(value, (str, int, float, bool, type(None))):
        raise UserError(f"{where}: {value!r} is not a single value (a list or mapping)")
    if rule.type == "any" and isinstance(value, float) and not math.isfinite(value):
        raise wrong
    if rule.min is not None and _is_number(value) and value < rule.min:
        raise wrong
    if rule.max is not None and _is_number(value) and value > rule.max:
        raise wrong
    if rule.choices is not None and value not in rule.choices:
        raise wrong
    return value


def checked_list(
    values: Any,
    check: Callable[[Any, str], Any],
    where: str,
    warn: Callable[[str], None] | None = None,
) -> list[Any]:
    """A list from a spec (a single value counts as a list of one): at least one entry, each
    passed through ``check(value, where)``, duplicates dropped with a warning, keeping the
    first of each."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise UserError(f"{where}: the list is empty; give at least one value")
    kept: list[Any] = []
    for value in values:
        value = check(value, where)
        if any(_same(value, seen) for seen in kept):
            if warn:
                warn(f"{where}: duplicate value {value!r} dropped")
            continue
        kept.append(value)
    return kept


def checked_grid(
    values: Any, rule: ParamRule, where: str, warn: Callable[[str], None] | None = None
) -> list[Any]:
    """A grid's values: at least one, each admitted by ``rule``, duplicates dropped."""
    return checked_list(values, lambda value, place: check_value(rule, value, place), where, warn)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
