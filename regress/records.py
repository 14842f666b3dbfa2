"""Records from disk: every JSON file regress reads back (a golden's meta.json, results.json)
goes through one bounded reader and is checked against the project's own schema, once, where
it is read.

Why one reader: ``json.loads`` on a file someone else wrote (a pull request that edits the
store, a CI artifact, a crash) accepts far more than regress can judge with. Nested thousands
deep it raises ``RecursionError``; an integer of thousands of digits raises ``ValueError``;
``1e999`` reads as ``inf`` and ``NaN`` / ``Infinity`` literals as non-finite floats, which then
pass or fail comparisons silently (NaN compares false both ways). Each was a traceback in
``regress check``, ``regress report merge`` or the plugin. Here every one of them is a
:class:`~regress.errors.RegressError` of one line naming the file and the field.

Why the schema: the schemas under ``schemas/`` are generated from the dataclasses that declare
the files (:mod:`regress.models`). Checking a record against the same schema where it is read
means a wrong type (a media ``height`` of ``"abc"``, ``metrics`` as a list, a meta ``spec`` that
is an int) is refused at the boundary, naming the field, instead of raising deep inside a
judgement, and that a merged results.json can never fail the schema its readers rely on.
The check interprets the subset of JSON Schema that :mod:`regress.schema` emits; it needs no
``jsonschema`` at run time (the tests check the same files with ``jsonschema`` itself).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from .errors import RegressError

MAX_DEPTH = 64  # the deepest record regress writes (results.json media) is under 10 levels
MAX_INT_DIGITS = 32  # no count, size or byte total regress records needs more
MAX_STRING = 1 << 20  # one string of a record (a reason, a path): at most 1 MiB


class _Bad:
    """A value the parser refused, kept in place so that the walk can name its field."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _parse_int(s: str) -> Any:
    digits = len(s.lstrip("-"))
    return _Bad(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})") if digits > MAX_INT_DIGITS else int(s)


def _parse_float(s: str) -> Any:
    v = float(s)
    return v if math.isfinite(v) else _Bad(f"{s[:40]} is not a finite number")


def _parse_constant(s: str) -> Any:
    return _Bad(f"{s} is not JSON (write non-finite numbers as the strings \"nan\", \"inf\", \"-inf\")")


def read_json(path: Path, *, max_bytes: int, error: type[RegressError] = RegressError,
              missing: str = "no such file") -> Any:
    """The JSON value in ``path``, bounded: at most ``max_bytes``, :data:`MAX_DEPTH` levels,
    integers of :data:`MAX_INT_DIGITS` digits, finite floats only, no NaN/Infinity literals.
    Anything else raises ``error`` (one line: the file, the field, what is wrong)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{size} bytes, larger than the {max_bytes >> 20} MiB a record may be", file=path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(missing, file=path) from None
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None
    except OSError as exc:
        raise error(f"cannot be read ({exc.strerror or type(exc).__name__})", file=path) from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise error(f"nested deeper than {MAX_DEPTH} levels", file=path) from None
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})", file=path) from None
    except ValueError as exc:  # int() past Python's own digit limit, before parse_int sees it
        raise error(f"not valid JSON ({str(exc).splitlines()[0][:120]})", file=path) from None
    problem = _walk(value)
    if problem is not None:
        where, why = problem
        raise error(why, file=path, field=where or None)
    return value


def _walk(value: Any) -> tuple[str, str] | None:
    """(field path, problem) of the first refused value, or None. Iterative: the depth is what
    is being checked, so it must not cost the interpreter's stack."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        v, where, depth = stack.pop()
        if isinstance(v, _Bad):
            return where, v.why
        if isinstance(v, str):
            if len(v) > MAX_STRING:
                return where, f"a string of {len(v)} characters (at most {MAX_STRING})"
            continue
        if isinstance(v, (dict, list)):
            if depth >= MAX_DEPTH:
                return _short(where), f"nested deeper than {MAX_DEPTH} levels"
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, item in items:
                if isinstance(item, (dict, list, _Bad, str)):
                    stack.append((item, _join(where, k), depth + 1))
    return None


def _join(where: str, key: Any) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else str(key))


def _short(where: str) -> str:
    return where if len(where) <= 120 else where[:60] + "..." + where[-40:]


# ---------------------------------------------------------------------- the schema check

def schema_problem(value: Any, schema: Mapping[str, Any], where: str = "") -> tuple[str, str] | None:
    """(field path, problem) where ``value`` breaks ``schema`` (the subset of JSON Schema that
    :mod:`regress.schema` and :mod:`regress.models` emit), or None when it holds to it."""
    found = _problem(value, schema)
    if found is None:
        return None
    keys, why = found
    for key in reversed(keys):
        where = _join(where, key)
    return where, why


def _problem(value: Any, schema: Mapping[str, Any]) -> tuple[list[Any], str] | None:
    """:func:`schema_problem` with the path as the keys from the problem up (appended on the
    way out, so that a value that holds costs no path: a golden's meta.json is ~2,000 values)."""
    if "anyOf" in schema:
        found = []
        for sub in schema["anyOf"]:
            problem = _problem(value, sub)
            if problem is None:
                return None
            found.append(problem)
        # the deepest problem is the most useful one (a record's field, not 'not null')
        return max(found, key=lambda f: len(f[0]))
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        return [], f"{_show(value)} is not one of {', '.join(map(repr, schema['enum']))}"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not (_is(value, kinds[0]) or any(_is(value, k) for k in kinds[1:])):
            return [], f"must be {' or '.join(_NAMES[k] for k in kinds)}, got {_show(value)}"
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return [], f"{_show(value)} does not match {schema['pattern']}"
        if len(value) < schema.get("minLength", 0):
            return [], "must not be empty"
    elif isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                return [name], "is required"
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                sub = props[k]
            elif extra is False:
                return [k], "is not a field of this record"
            elif isinstance(extra, Mapping):
                sub = extra
            else:
                continue
            problem = _problem(v, sub)
            if problem is not None:
                problem[0].append(k)
                return problem
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            return [], f"must hold {schema.get('minItems')} items, got {len(value)}"
        prefix = schema.get("prefixItems", [])
        for i, v in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            if sub is not None:
                problem = _problem(v, sub)
                if problem is not None:
                    problem[0].append(i)
                    return problem
    elif _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return [], f"{value} is below the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return [], f"{value} is above the maximum {schema['maximum']}"
    return None


_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
          "object": "an object", "array": "a list", "null": "null"}


_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list, "null": type(None),
          "integer": int, "number": (int, float)}


def _is(value: Any, kind: str) -> bool:
    # (bool is an int in Python, never a number in JSON)
    return isinstance(value, _TYPES[kind]) and (kind not in ("integer", "number") or not isinstance(value, bool))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (_is(a, "number") and _is(b, "number") and a == b)


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@cache
def meta_schema() -> Mapping[str, Any]:
    """meta.schema.json, requiring only what judging reads (``schema``, ``files``) and letting
    top-level fields it does not know through (a newer regress may record more; refusing them
    would take its goldens out of an older regress's runs): every known field is checked."""
    from .models import meta_schema as build

    return {**build(), "required": ["schema", "files"], "additionalProperties": True}


@cache
def case_record_schema() -> Mapping[str, Any]:
    from .models import results_schema

    return results_schema()["properties"]["cases"]["items"]


@cache
def run_record_schema() -> Mapping[str, Any]:
    from .models import results_schema

    return results_schema()["properties"]["runs"]["items"]


@cache
def results_document_schema() -> Mapping[str, Any]:
    from .models import results_schema

    return results_schema()


def check(value: Any, schema: Mapping[str, Any], *, file: Path | str, field: str = "",
          error: type[RegressError] = RegressError) -> None:
    """Raise ``error`` (file, field, problem) where ``value`` breaks ``schema``."""
    problem = schema_problem(value, schema, field)
    if problem is not None:
        where, why = problem
        raise error(why, file=file, field=where or None)
