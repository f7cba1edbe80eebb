"""The fields file (TOML): a deployment's own field sets, validated at start with one line per mistake.

    [sets.shipping]                       # a set, asked for per call by its name ("shipping")
    [[sets.shipping.fields]]
    name = "container"                    # required: the field's name in answers
    labels = ["container no", "cntr"]     # printed label synonyms (case-insensitive)
    patterns = ['[A-Z]{4}\\d{7}']          # regular expressions the value matches whole
    checks = ["ISO6346"]                  # check digits: ISO6346, IBAN (edge_runtime.stream.validators)
    position = "right"                    # any (default) | same_line | right | below
    kind = "code"                         # text (default) | date | amount | currency | code

A field needs labels, patterns or checks. A pattern is refused when a quantified group holds a quantifier
(``(a+)+``, ``(\\w*)*``, ``(a|aa)+``...), the shape that backtracks catastrophically; every other pattern runs on
one line of at most ``text.MAX_LINE_CHARS`` characters. Each mistake is one line, ``FILE: WHERE: what
[REASON]``; the file fails with ``FIELDS_FILE_INVALID`` carrying them all.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_runtime.errors import ConfigurationError
from edge_runtime.fields.rules import FieldRule, FieldSet, Kind, Position
from edge_runtime.text_checks import CHECKS, MAX_PATTERNS, compile_patterns

__all__ = ["load_fields_file", "parse_fields", "unsafe_pattern", "BUILT_IN", "MAX_SETS", "MAX_FIELDS"]

BUILT_IN = ("receipt", "invoice", "form")  # set names the runtime defines itself
MAX_SETS = 64
MAX_FIELDS = 64  # per set
MAX_LABELS = 32
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_FIELD_KEYS = {"name", "labels", "patterns", "checks", "position", "kind"}
# a group that holds a quantifier (or an alternation) and is itself quantified: (x+)+, (x*)*, (a|ab)*, (?:\w+\s?)+
_NESTED = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*}]|\|)(?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d*,\d*\})")


def unsafe_pattern(pattern: str) -> bool:
    """The pattern has a quantified group with a quantifier or an alternation inside: exponential backtracking."""
    return bool(_NESTED.search(pattern))


def load_fields_file(path: Path | str) -> dict[str, FieldSet]:
    """The user field sets of ``path``, or ConfigurationError ``FIELDS_FILE_INVALID`` listing every mistake."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(
            f"{path}: cannot read: {exc.strerror} [FIELDS_FILE_UNREADABLE]", "FIELDS_FILE_INVALID"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not TOML: {exc} [FIELDS_FILE_SYNTAX]", "FIELDS_FILE_INVALID") from None
    return parse_fields(data, str(path))


def parse_fields(data: Mapping[str, Any], source: str = "fields") -> dict[str, FieldSet]:
    """``data`` (the parsed TOML) as field sets; every mistake is collected before failing."""
    mistakes: list[str] = []

    def bad(where: str, what: str, reason: str) -> None:
        mistakes.append(f"{source}: {where}: {what} [{reason}]")

    for key in data:
        if key != "sets":
            bad(key, "unknown top-level key (only [sets.NAME])", "FIELDS_KEY_UNKNOWN")
    sets = data.get("sets", {})
    out: dict[str, FieldSet] = {}
    if not isinstance(sets, Mapping):
        bad("sets", "must be a table of sets", "FIELDS_SET_INVALID")
        sets = {}
    if len(sets) > MAX_SETS:
        bad("sets", f"{len(sets)} sets; at most {MAX_SETS}", "FIELDS_TOO_MANY")
    for set_name, body in list(sets.items())[:MAX_SETS]:
        where = f"sets.{set_name}"
        if not _NAME.fullmatch(set_name) or set_name in BUILT_IN:
            bad(where, f"set name must be lower_snake_case and not one of {', '.join(BUILT_IN)}", "FIELDS_SET_NAME")
        if not isinstance(body, Mapping) or not isinstance(body.get("fields"), list) or not body["fields"]:
            bad(where, "needs a non-empty [[sets.NAME.fields]] list", "FIELDS_SET_INVALID")
            continue
        for key in body:
            if key != "fields":
                bad(f"{where}.{key}", "unknown key", "FIELDS_KEY_UNKNOWN")
        rules = []
        names: set[str] = set()
        if len(body["fields"]) > MAX_FIELDS:
            bad(where, f"{len(body['fields'])} fields; at most {MAX_FIELDS}", "FIELDS_TOO_MANY")
        for i, spec in enumerate(body["fields"][:MAX_FIELDS]):
            rule = _rule(spec, f"{where}.fields[{i}]", bad)
            if rule is not None:
                if rule.name in names:
                    bad(f"{where}.fields[{i}].name", f"{rule.name!r} twice in the set", "FIELD_NAME_DUPLICATE")
                names.add(rule.name)
                rules.append(rule)
        out[set_name] = FieldSet(set_name, tuple(rules))
    if mistakes:
        raise ConfigurationError("\n".join(mistakes), "FIELDS_FILE_INVALID")
    return out


def _strings(spec: Mapping[str, Any], key: str, where: str, bad: Any, limit: int) -> tuple[str, ...]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        bad(f"{where}.{key}", "must be a list of non-empty strings", "FIELD_VALUE_INVALID")
        return ()
    if len(value) > limit:
        bad(f"{where}.{key}", f"{len(value)} entries; at most {limit}", "FIELDS_TOO_MANY")
    return tuple(value[:limit])


def _rule(spec: Any, where: str, bad: Any) -> FieldRule | None:
    if not isinstance(spec, Mapping):
        bad(where, "must be a table", "FIELD_VALUE_INVALID")
        return None
    for key in spec:
        if key not in _FIELD_KEYS:
            bad(f"{where}.{key}", f"unknown key; one of {', '.join(sorted(_FIELD_KEYS))}", "FIELDS_KEY_UNKNOWN")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        bad(f"{where}.name", "required, lower_snake_case", "FIELD_NAME_INVALID")
        name = ""
    labels = _strings(spec, "labels", where, bad, MAX_LABELS)
    patterns: list[re.Pattern[str]] = []
    for j, pattern in enumerate(_strings(spec, "patterns", where, bad, MAX_PATTERNS)):
        at = f"{where}.patterns[{j}]"
        if unsafe_pattern(pattern):
            bad(at, f"{pattern!r} nests quantifiers (catastrophic backtracking)", "FIELD_PATTERN_UNSAFE")
            continue
        try:
            patterns.extend(compile_patterns([pattern]))  # the stream checks' own validation and limits
        except ConfigurationError as exc:
            bad(at, str(exc).replace("text pattern 0", "pattern"), exc.reason)
    checks = tuple(c.strip().upper() for c in _strings(spec, "checks", where, bad, len(CHECKS)))
    for c in checks:
        if c not in CHECKS:
            bad(f"{where}.checks", f"unknown check {c}; choose from {', '.join(CHECKS)}", "TEXT_CHECK_UNKNOWN")
    position = _choice(spec, "position", Position, Position.ANY, where, bad)
    kind = _choice(spec, "kind", Kind, Kind.TEXT, where, bad)
    if not (labels or patterns or checks) and "patterns" not in spec:
        bad(where, "needs labels, patterns or checks", "FIELD_RULE_EMPTY")
    if not name:
        return None
    return FieldRule(name, labels, tuple(patterns), tuple(c for c in checks if c in CHECKS), position, kind)


def _choice(spec: Mapping[str, Any], key: str, enum: Any, default: Any, where: str, bad: Any) -> Any:
    value = spec.get(key, default.value)
    try:
        return enum(value)
    except ValueError:
        bad(f"{where}.{key}", f"{value!r}; one of {', '.join(e.value for e in enum)}", "FIELD_VALUE_INVALID")
        return default
