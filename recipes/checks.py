"""The config's value rules, declared on the schema's own fields, and the one error family that reports them.

A schema field says what it accepts where it is declared:

    rollout_n: int = check(paper("grpo.rollout_n"), ge=2)
    kl_loss_type: str = check(paper("grpo.kl_loss_type"), choices=KL_TYPES)
    template: str = free(sft_paper("model.template"), "an ms-swift template name; ms-swift checks it")

`check` sets a closed set (`choices`, element-wise on a list), bounds (`ge`, `gt`, `le`, `lt`) or a `pattern`;
`free` says, with its reason, that any value of the field's type is accepted (FREE is the only other
choice: tests/test_config_rules.py refuses a leaf that is neither). A dataclass may add relations between its
own fields with a `relations(node) -> list[Problem]` staticmethod. `schema_problems` walks a composed
config against its dataclass and returns every problem at once, unknown keys included; each is one
line naming the key, the value, what is allowed and, for a near miss, the closest valid value.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

RULE = "rlcs_rule"
"""The dataclass-field metadata key holding a field's `Rule`."""


class ConfigError(ValueError):
    """A recipe, preset or override that does not fit the schema: every problem found, one line each."""

    def __init__(self, message: str = "", problems: Sequence[Problem] = ()):
        self.problems = list(problems)
        lines = [("  " if message else "") + p.line() for p in self.problems]
        super().__init__("\n".join([message, *lines] if message else lines))


@dataclass(frozen=True)
class Problem:
    """One refused value: where, what, what is allowed and the closest valid value."""

    key: str
    value: Any
    allowed: str
    closest: Any = None

    def line(self) -> str:
        hint = f"; did you mean {self.closest!r}?" if self.closest is not None else ""
        return f"{self.key}={_show(self.value)}: {self.allowed}{hint}"


def _show(value: Any) -> str:
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, str):
        return repr(value)
    return "null" if value is None else str(value).replace("True", "true").replace("False", "false")


def problem_from(key: str, value: Any, message: str) -> Problem:
    """A Problem from a check's error text, without repeating the `key=value` the text may start with."""
    for prefix in (f"{key}={value}", f"{key}={value!r}", key):
        if message.startswith(prefix):
            message = message[len(prefix):].lstrip(" :")
            break
    return Problem(key, value, message)


def closest(value: Any, valid: Iterable[Any]) -> Any:
    """The valid value nearest to a misspelt `value` (difflib), or None when nothing is close."""
    names = {str(v): v for v in valid}
    hit = difflib.get_close_matches(str(value), list(names), n=1, cutoff=0.6)
    return names[hit[0]] if hit else None


@dataclass(frozen=True)
class Rule:
    """What one schema field accepts besides its type."""

    choices: tuple[Any, ...] | Callable[[], Sequence[Any]] | None = None
    """A closed set (each element of a list field must be in it); a callable is asked when checking."""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    pattern: str | None = None
    """A regular expression the whole (string) value must match."""
    free: str | None = None
    """Why any value of the type is accepted (a path, a hub id, a prompt...)."""
    refuses: Any = None
    """For a field checked only by its class's `relations`: a value they refuse (the generated tests use it)."""

    def options(self) -> tuple[Any, ...]:
        return tuple(self.choices() if callable(self.choices) else self.choices or ())

    def allowed(self) -> str:
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(map(str, self.options())))
        for name, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(self, name)
            if bound is not None:
                parts.append(f"{sign} {bound:g}")
        if self.pattern:
            parts.append(f"matching {self.pattern}")
        return " and ".join(parts)

    def problem(self, key: str, value: Any) -> Problem | None:
        """The problem with one scalar `value` of field `key`, or None."""
        if value is None or self.free is not None:
            return None
        if self.choices is not None and value not in self.options():
            return Problem(key, value, self.allowed(), closest(value, self.options()))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                       or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt)):
            return Problem(key, value, f"must be {self.allowed()}")
        if self.pattern and not re.fullmatch(self.pattern, str(value)):
            return Problem(key, value, f"must be {self.allowed()}")
        return None


def check(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None,
          choices: tuple[Any, ...] | Callable[[], Sequence[Any]] | None = None, ge: float | None = None,
          gt: float | None = None, le: float | None = None, lt: float | None = None,
          pattern: str | None = None, refuses: Any = None) -> Any:
    """A dataclass field with `default` (or `factory`) and the rule its values must follow."""
    rule = Rule(choices=choices, ge=ge, gt=gt, le=le, lt=lt, pattern=pattern, refuses=refuses)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={RULE: rule})
    return dataclasses.field(default=default, metadata={RULE: rule})


def free(default: Any = dataclasses.MISSING, why: str = "", *, factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that accepts any value of its type, and why (FREE: documented, never silent)."""
    if not why:
        raise ValueError("free(): say why any value is accepted")
    rule = Rule(free=why)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={RULE: rule})
    return dataclasses.field(default=default, metadata={RULE: rule})


def rule_of(f: dataclasses.Field) -> Rule | None:
    return f.metadata.get(RULE)


# -- the walk ---------------------------------------------------------------------------------------------
@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def dict_value_class(tp: Any) -> type | None:
    """V of `dict[str, V]` when V is a dataclass (eval.sources), else None."""
    tp = _strip_optional(tp)
    if typing.get_origin(tp) is dict:
        v = typing.get_args(tp)[1]
        return v if dataclasses.is_dataclass(v) else None
    return None


def leaves(cls: type, node: Any, prefix: str = "") -> Iterable[tuple[str, dataclasses.Field, Any, Any]]:
    """(dotted key, field, declared type, value) of every leaf of `node` under schema class `cls`; entries of
    `dict[str, Dataclass]` fields are walked by their own keys (`eval.sources.mathvista.split`)."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        value = node.get(f.name) if isinstance(node, DictConfig) else None
        tp = _strip_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            yield from leaves(tp, value, key + ".")
        elif dict_value_class(tp) is not None and isinstance(value, DictConfig):
            for name in value:
                yield from leaves(dict_value_class(tp), value[name], f"{key}.{name}.")
        else:
            yield key, f, hints[f.name], value


def unknown_keys(cls: type, node: Any, prefix: str = "") -> list[Problem]:
    """Keys of `node` that `cls` does not declare (a `+key=value` typo), each with the closest declared key."""
    if not isinstance(node, DictConfig):
        return []
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    out = []
    for name in node:
        if name not in names:
            near = closest(name, names)
            out.append(Problem(f"{prefix}{name}", OmegaConf.select(node, str(name), throw_on_missing=False),
                               f"not a key of {prefix.rstrip('.') or 'the recipe'}",
                               f"{prefix}{near}" if near else None))
            continue
        tp = _strip_optional(hints[name])
        if dataclasses.is_dataclass(tp):
            out += unknown_keys(tp, node[name], f"{prefix}{name}.")
        elif dict_value_class(tp) is not None and isinstance(node[name], DictConfig):
            for entry in node[name]:
                out += unknown_keys(dict_value_class(tp), node[name][entry], f"{prefix}{name}.{entry}.")
    return out


def schema_problems(cls: type, cfg: DictConfig, prefix: str = "") -> list[Problem]:
    """Every problem of `cfg` against schema class `cls`: unknown keys, field rules, each class's relations;
    `prefix` names where `cfg` sits in a recipe (`data.` for a DataConfig node on its own)."""
    out = unknown_keys(cls, cfg, prefix)
    for key, f, _tp, value in leaves(cls, cfg, prefix):
        rule = rule_of(f)
        if rule is None:
            continue
        if isinstance(value, ListConfig):
            out += [p for i, v in enumerate(value) if (p := rule.problem(key, v)) is not None]
        elif not OmegaConf.is_config(value):
            p = rule.problem(key, value)
            if p is not None:
                out.append(p)
    out += _relations(cls, cfg, prefix)
    return out


def _relations(cls: type, node: Any, prefix: str) -> list[Problem]:
    if not isinstance(node, DictConfig):
        return []
    try:
        out = list(getattr(cls, "relations", lambda n: [])(node))
    except (ArithmeticError, TypeError, ValueError):
        out = []  # a value a field rule refuses (a zero divisor, a null): that rule names it
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = _strip_optional(hints[f.name])
        if dataclasses.is_dataclass(tp) and f.name in node:
            out += _relations(tp, node[f.name], f"{prefix}{f.name}.")
    return out


def type_words(tp: Any) -> str:
    """How a declared type reads in an error line: `an integer`, `a list of strings or null`..."""
    nullable = type(None) in typing.get_args(tp)
    tp = _strip_optional(tp)
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    origin = typing.get_origin(tp)
    if origin is list:
        text = f"a list of {words.get(typing.get_args(tp)[0], 'values').split(' ', 1)[-1]}s"
    elif origin is dict:
        text = "a mapping"
    elif dataclasses.is_dataclass(tp):
        text = f"a {tp.__name__} mapping"
    else:
        text = words.get(tp, getattr(tp, "__name__", str(tp)))
    return text + (" or null" if nullable else "")


def field_type(cls: type, key: str) -> Any:
    """The declared type of dotted `key` under `cls` (through `dict[str, Dataclass]` entries), or None."""
    parts = key.split(".")
    tp: Any = cls
    i = 0
    while i < len(parts):
        tp = _strip_optional(tp)
        if dict_value_class(tp) is not None:
            tp, i = dict_value_class(tp), i + 1  # skip the entry's own name
            continue
        if not dataclasses.is_dataclass(tp):
            return None
        hints = _hints(tp)
        if parts[i] not in hints:
            return None
        tp, i = hints[parts[i]], i + 1
    return tp
