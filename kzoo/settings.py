"""Typed settings: every dataclass field is checked against its annotation and its range rule.

One message format serves model configs and run configs alike:
`<where>.<field>=<value> is invalid: expected <what is allowed>.`

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Section:
    ...     steps: int = 10
    ...     def __post_init__(self):
    ...         check_fields(self, "training", {"steps": at_least(1)})
    >>> Section(steps=0)
    Traceback (most recent call last):
    ValueError: training.steps=0 is invalid: expected an integer >= 1.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from typing import NamedTuple


class Rule(NamedTuple):
    """A range check: `holds(value)` must be true; `expected` says what is allowed."""

    holds: Callable[[object], bool]
    expected: str
    choices: tuple = ()


def at_least(low: int) -> Rule:
    return Rule(lambda v: v >= low, f"an integer >= {low}")


def positive() -> Rule:
    return Rule(lambda v: v > 0, "a number > 0")


def non_negative() -> Rule:
    return Rule(lambda v: v >= 0, "a number >= 0")


def rate() -> Rule:
    return Rule(lambda v: 0.0 <= v < 1.0, "a rate in [0, 1)")


def open_fraction() -> Rule:
    return Rule(lambda v: 0.0 < v < 1.0, "a fraction in (0, 1)")


def one_of(choices) -> Rule:
    choices = tuple(choices)
    return Rule(lambda v: v in choices, f"one of {choices}", choices)


def check_fields(instance, where: str, rules: dict[str, Rule]) -> None:
    """Checks each field's type from its annotation, then each rule; raises on the first miss."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        check_type(where, f.name, getattr(instance, f.name), hints[f.name])
    for name, rule in rules.items():
        value = getattr(instance, name)
        if value is not None and not rule.holds(value):
            fail(where, name, value, rule.expected, closest(value, rule.choices))


def check_type(where: str, name: str, value, annotation) -> None:
    """Refuses a value whose type the annotation does not allow. bool is never an int here (a
    flag given as a size is a mistake), a float field takes an int (JSON writes 1e4 as
    10000.0, YAML as 10000), and tuple[str, ...] takes a tuple of strings."""
    allowed = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    if not any(_matches(value, kind) for kind in allowed):
        fail(where, name, value, " or ".join(_describe(kind) for kind in allowed))


def fail(where: str, name: str, value, expected: str, hint: str = ""):
    raise ValueError(f"{where}.{name}={value!r} is invalid: expected {expected}.{hint}")


def closest(value, choices) -> str:
    """' Did you mean …?' for a near-miss string, else ''."""
    if not isinstance(value, str) or not choices:
        return ""
    match = difflib.get_close_matches(value, [str(c) for c in choices], n=1)
    return f" Did you mean {match[0]!r}?" if match else ""


def _is_union(annotation) -> bool:
    return isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union


def _matches(value, kind) -> bool:
    if kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (int, str, bool):
        return type(value) is kind
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        return isinstance(value, tuple) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    return isinstance(value, origin or kind)


def _describe(kind) -> str:
    if kind is type(None):
        return "None"
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        return "a list of strings" if args[0] is str else f"a list of {args[0].__name__} values"
    if origin is dict:
        return f"a mapping of {args[0].__name__} to {args[1].__name__}"
    return f"a value of type {kind.__name__}"
