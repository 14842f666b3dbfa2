"""Field-level validation of a suite file: TOML types, thresholds, platform rules, one
``[[case]]`` table -> :class:`~regress.case.Case`.

Every problem is one :class:`~regress.errors.SuiteError` line naming the file, the case and
the field (:mod:`regress.suite` reads the file and its top-level tables).
"""

from __future__ import annotations

import math
import types
import typing
from collections import abc
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from .case import CASE_ID_RE, COMPILE_MODES, Case, PlatformRule
from .errors import SuiteError
from .metrics.catalog import METRICS
from .precision import DTYPES, canonical_dtype

# Upper bounds of a case's sizes: beyond them a run cannot be meant (a 100000-pixel side, a
# 10^8-token prompt) and would only crash or exhaust memory in the middle of a suite.
_LIMITS = {"height": 16384, "width": 16384, "steps": 10000, "frames": 10000, "max_sequence_length": 65536}

def _toml_types(hint: Any) -> type | tuple[type, ...]:
    """What TOML gives for a Case field's annotation (a float field takes integers too)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) in (
        typing.Union, types.UnionType) else [hint]
    t = typing.get_origin(args[0]) or args[0]
    return {float: (int, float), tuple: list, Mapping: dict, abc.Mapping: dict}.get(t, t)


_CASE_HINTS = typing.get_type_hints(Case)
_CASE_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {  # name: (TOML types, required)
    f.name: (_toml_types(_CASE_HINTS[f.name]), f.default is MISSING and f.default_factory is MISSING)
    for f in fields(Case)}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "a table", list: "an array",
               bool: "true or false"}


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return "a number" if float in t else " or ".join(_TYPE_NAMES[x] for x in t)
    return _TYPE_NAMES[t]


def _is(value: Any, t: type | tuple[type, ...]) -> bool:
    # bool is an int in Python; a suite saying `seed = true` is a mistake.
    if isinstance(value, bool):
        return t is bool or (isinstance(t, tuple) and bool in t)
    return isinstance(value, t)


def _require_table(value: Any, path: Path, fld: str, case: str | None = None) -> None:
    if not isinstance(value, dict):
        raise SuiteError("must be a table", file=path, case=case, field=fld)


def _parse_thresholds(raw: Any, path: Path, case: str | None, fld: str) -> dict[str, float]:
    _require_table(raw, path, fld, case)
    out: dict[str, float] = {}
    for name, value in raw.items():
        spec = METRICS.get(name)
        if spec is None:
            raise SuiteError(f"unknown metric (expected one of {', '.join(METRICS)})", file=path, case=case,
                             field=f"{fld}.{name}")
        if not _is(value, (int, float)):
            raise SuiteError("must be a number", file=path, case=case, field=f"{fld}.{name}")
        v = float(value)
        if math.isnan(v) or not (spec.low <= v <= spec.high):
            raise SuiteError(f"{v} is out of range [{spec.low}, {spec.high}]", file=path, case=case,
                             field=f"{fld}.{name}")
        out[name] = v
    return out


def _parse_rules(raw: list, path: Path, case: str, fld: str) -> tuple[PlatformRule, ...]:
    rules = []
    for j, r in enumerate(raw):
        where = f"{fld}[{j}]"
        if not isinstance(r, dict):
            raise SuiteError("must be a table {platform = \"glob\", reason = \"...\"}", file=path, case=case,
                             field=where)
        for k in r:
            if k not in ("platform", "reason", "compiled"):
                raise SuiteError("unknown key (expected platform, reason, compiled)", file=path, case=case,
                                 field=f"{where}.{k}")
        if not isinstance(r.get("compiled", False), bool):
            raise SuiteError("must be true or false", file=path, case=case, field=f"{where}.compiled")
        if not isinstance(r.get("platform"), str) or not r["platform"]:
            raise SuiteError("needs a platform glob, e.g. \"rocm-*\"", file=path, case=case, field=f"{where}.platform")
        if not isinstance(r.get("reason"), str) or not r["reason"].strip():
            raise SuiteError("needs a reason", file=path, case=case, field=f"{where}.reason")
        rules.append(PlatformRule(r["platform"], r["reason"], compiled=r.get("compiled", False)))
    return tuple(rules)


def _parse_case(raw: Any, path: Path, index: int) -> Case:
    if not isinstance(raw, dict):
        raise SuiteError("must be a table", file=path, field=f"case[{index}]")
    cid = raw.get("id")
    label = cid if isinstance(cid, str) else f"#{index + 1}"
    for k, v in raw.items():
        if k not in _CASE_FIELDS:
            raise SuiteError(f"unknown key (expected one of {', '.join(_CASE_FIELDS)})", file=path, case=label,
                             field=k)
        types, _ = _CASE_FIELDS[k]
        if not _is(v, types):
            raise SuiteError(f"must be {_type_name(types)}, got {type(v).__name__}", file=path, case=label, field=k)
    for k, (_, required) in _CASE_FIELDS.items():
        if required and k not in raw:
            raise SuiteError("required field is missing", file=path, case=label, field=k)
    if not CASE_ID_RE.match(cid):
        raise SuiteError("must be letters, digits, '.', '_' or '-' (it names a directory)", file=path,
                         case=label, field="id")
    for k, most in _LIMITS.items():
        if k in raw and not 0 < raw[k] <= most:
            raise SuiteError(f"must be between 1 and {most}, got {raw[k]}", file=path, case=cid, field=k)
    for k in ("fps", "guidance"):
        if k in raw and not math.isfinite(raw[k]):
            raise SuiteError(f"must be a finite number, got {raw[k]}", file=path, case=cid, field=k)
    if "fps" in raw and not raw["fps"] > 0:
        raise SuiteError("must be positive", file=path, case=cid, field="fps")
    if "seed" in raw and not 0 <= raw["seed"] < 2**63:
        raise SuiteError("must be between 0 and 2**63 - 1 (torch seeds are 64-bit)", file=path, case=cid,
                         field="seed")
    precision: dict[str, str] = {}
    for comp, dt in raw.get("precision", {}).items():
        canon = canonical_dtype(dt) if isinstance(dt, str) else None
        if canon not in DTYPES:
            raise SuiteError(f"unknown dtype {dt!r} (one of {', '.join(DTYPES)})", file=path, case=cid,
                             field=f"precision.{comp}")
        precision[comp] = canon
    for j, m in enumerate(raw.get("marks", [])):
        if not isinstance(m, str) or not m.isidentifier():
            raise SuiteError("marks must be identifiers", file=path, case=cid, field=f"marks[{j}]")
    if "compile" in raw and raw["compile"] not in COMPILE_MODES:
        raise SuiteError(f"unknown torch.compile mode {raw['compile']!r} (one of {', '.join(COMPILE_MODES)})",
                         file=path, case=cid, field="compile")
    if "parallel" in raw:
        from .parallel import layout_of, problem

        bad = problem(raw["parallel"])
        if bad is not None:
            raise SuiteError(bad[1], file=path, case=cid, field=f"parallel.{bad[0]}" if bad[0] else "parallel")
    if "weights" in raw:
        if raw["weights"] != "random":
            raise SuiteError(f"unknown weights {raw['weights']!r}: \"random\" is the only value (leave it out to "
                             "use the model's own weights)", file=path, case=cid, field="weights")
        # Any model named beside it (even "tiny") is a case that says two things: refuse it
        # rather than pick one silently.
        for other in ("model", "model_revision"):
            if other in raw:
                raise SuiteError(f"weights = \"random\" builds the family's released architecture with random "
                                 f"weights, so '{other}' = {raw[other]!r} would be ignored: leave '{other}' out, "
                                 "or leave 'weights' out to use that model", file=path, case=cid, field=other)
    values = dict(raw)
    values.update({k: float(raw[k]) for k in ("fps", "guidance") if k in raw})
    if raw.get("parallel"):  # canonical (context = 2 is ulysses = 2): one layout, one spec hash
        values["parallel"] = layout_of(raw["parallel"]).to_table()
    values.update(precision=precision, thresholds=_parse_thresholds(raw.get("thresholds", {}), path, cid, "thresholds"),
                  marks=tuple(raw.get("marks", [])), args=dict(raw.get("args", {})),
                  xfail=_parse_rules(raw.get("xfail", []), path, cid, "xfail"),
                  skip=_parse_rules(raw.get("skip", []), path, cid, "skip"))
    return Case(**values)
