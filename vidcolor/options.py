"""Options declared once: a config dataclass's field carries its command-line flag, help, choices
and range, and the command line, the config built from it and its checks all come from there.

    batch_size: int = option(16, metavar="N", help="frames per model pass", check=above(0))

``add_options(parser, Config)`` adds one argument per field that has an option (in field order,
under the field's ``group``); ``config_from_args(Config, args)`` builds the config from the parsed
namespace; ``check_options(config)`` (called by each config's ``__post_init__``) refuses a value
outside its choices or range with one line naming the flag. Light on purpose: the CLI imports it
before anything heavy loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any

from vidcolor.errors import UsageError


@dataclass(frozen=True)
class Check:
    """A range a value must lie in: ``ok(value)`` and how the error line says it (">= 1")."""

    ok: Callable[[Any], bool]
    text: str


def at_least(low: float) -> Check:
    return Check(lambda v: v >= low, f">= {low}")


def above(low: float) -> Check:
    return Check(lambda v: v > low, f"> {low}")


def within(low: float, high: float, *, high_open: bool = False) -> Check:
    """``[low, high]``, or ``[low, high)`` with ``high_open``."""
    if high_open:
        return Check(lambda v: low <= v < high, f"in [{low}, {high})")
    return Check(lambda v: low <= v <= high, f"in [{low}, {high}]")


@dataclass(frozen=True)
class Option:
    """How one field appears on the command line. ``flag`` defaults to ``--field-name``; a bool
    field is a switch (``store_true``, or ``store_false`` when it defaults to True); a list field
    is repeatable. ``none_means`` stands for a None default where the help says %(default)s.
    ``exclusive`` names a mutually exclusive set within the group."""

    help: str | None = None
    flag: str | None = None
    metavar: str | None = None
    choices: tuple | None = None
    group: str | None = None
    exclusive: str | None = None
    required: bool = False
    check: Check | None = None
    none_means: str | None = None


def option(default: Any = MISSING, *, default_factory: Any = MISSING, **spec: Any) -> Any:
    """A dataclass field with its :class:`Option`."""
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"option": Option(**spec)}
    )


def options(config_type: type) -> list[tuple[dataclasses.Field, Option]]:
    fields = dataclasses.fields(config_type)
    return [(f, f.metadata["option"]) for f in fields if "option" in f.metadata]


def flag_of(field: dataclasses.Field) -> str:
    spec = field.metadata.get("option")
    return (spec and spec.flag) or "--" + field.name.replace("_", "-")


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not MISSING:
        return field.default_factory()
    return None if field.default is MISSING else field.default


def _value_type(hint: Any) -> Any:
    """``int | None`` -> int; ``list[str]`` -> list (its items: str)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _argument(field: dataclasses.Field, spec: Option, hint: Any, default: Any) -> dict:
    """The keywords of ``parser.add_argument`` for one field."""
    kwargs: dict[str, Any] = {"dest": field.name, "default": default, "help": spec.help}
    if default is None and spec.none_means and spec.help:
        kwargs["help"] = spec.help.replace("%(default)s", spec.none_means)
    value_type = _value_type(hint)
    if value_type is bool:
        kwargs["action"] = "store_false" if default else "store_true"
        return kwargs
    if typing.get_origin(value_type) is list:
        kwargs["action"] = "append"
        (value_type,) = typing.get_args(value_type)
    kwargs["type"] = value_type
    for key in ("metavar", "choices"):
        if getattr(spec, key) is not None:
            kwargs[key] = getattr(spec, key)
    if spec.required:
        kwargs["required"] = True
    return kwargs


def add_options(
    parser: argparse.ArgumentParser, config_type: type, *, defaults: dict | None = None
) -> None:
    """One argument per option of ``config_type``; its default is the field's unless
    ``defaults`` gives another (e.g. ``{"address": "auto"}`` for a job on a cluster)."""
    hints = typing.get_type_hints(config_type)
    defaults = defaults or {}
    groups: dict[str | None, Any] = {None: parser}
    exclusive: dict[tuple, Any] = {}
    for field, spec in options(config_type):
        if spec.group not in groups:
            groups[spec.group] = parser.add_argument_group(spec.group)
        target = groups[spec.group]
        if spec.exclusive:
            key = (spec.group, spec.exclusive)
            if key not in exclusive:
                exclusive[key] = target.add_mutually_exclusive_group()
            target = exclusive[key]
        default = defaults[field.name] if field.name in defaults else _default(field)
        target.add_argument(flag_of(field), **_argument(field, spec, hints[field.name], default))


def config_from_args(config_type: type, args: argparse.Namespace, **values: Any) -> Any:
    """``config_type`` from the parsed options (``values`` add or replace fields)."""
    given = {f.name: getattr(args, f.name) for f, _ in options(config_type)}
    return config_type(**{**given, **values})


def check_options(config: Any) -> None:
    """Every option's value within its choices and range (None passes: the field's unset)."""
    for field, spec in options(type(config)):
        value = getattr(config, field.name)
        if value is None:
            continue
        if spec.choices is not None and value not in spec.choices:
            raise UsageError(
                f"{flag_of(field)} must be one of {', '.join(map(str, spec.choices))}, "
                f"got {value!r}"
            )
        if spec.check is not None and not spec.check.ok(value):
            raise UsageError(f"{flag_of(field)} must be {spec.check.text}, got {value!r}")
