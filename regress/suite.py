"""``goldens/suite.toml`` -> immutable :class:`Case` objects, validated once.

Every problem is reported as one line that names the file, the case id and the field, so
that a user can fix it without reading a traceback (CLI exit code 2; a collection error in
pytest).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
import sys
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import SuiteError
from .metrics.catalog import LPIPS_NETS, LPIPS_PRECISIONS, METRICS
from .precision import DTYPES, canonical_dtype

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_SUITE = Path("goldens/suite.toml")
LOCK_NAME = "goldens.lock"
CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Upper bounds of a case's sizes: beyond them a run cannot be meant (a 100000-pixel side, a
# 10^8-token prompt) and would only crash or exhaust memory in the middle of a suite.
_LIMITS = {"height": 16384, "width": 16384, "steps": 10000, "frames": 10000, "max_sequence_length": 65536}
STORE_KINDS = ("file", "hf", "git")  # the built-in kinds; a third-party store registers its own (regress.stores)
STORE_KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
STORE_FIELDS = ("kind", "path", "repo", "repo_type", "url", "branch")  # the [store] table's keys


@dataclass(frozen=True)
class PlatformRule:
    """A per-platform ``xfail`` or ``skip`` entry of a case: glob + reason."""

    platform: str
    reason: str

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key, self.platform)


# A Case field's metadata: "judge" marks the fields that say how a case is judged, not what it
# computes (left out of the spec that is hashed into each golden); "schema" refines its JSON
# Schema (regress.schema). The dataclass is the one declaration of the [[case]] fields: the
# parser's field table, the spec and the schema are derived from it.
_JUDGE = {"judge": True}


@dataclass(frozen=True)
class Case:
    """One golden case: what to run and how to judge it."""

    id: str = field(metadata={"schema": {"pattern": CASE_ID_RE.pattern}})
    pipeline: str
    model: str = "tiny"
    model_revision: str | None = None
    # "random": the released architecture (regress/shapes/released.toml) with seeded random
    # weights, built on the device: production memory and time without a download.
    weights: str | None = None
    prompt: str = ""
    negative_prompt: str | None = None
    seed: int = field(default=0, metadata={"schema": {"minimum": 0, "maximum": 2**63 - 1}})
    height: int | None = None
    width: int | None = None
    steps: int = 2
    frames: int | None = None
    fps: float | None = None
    guidance: float | None = None
    max_sequence_length: int | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    precision: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict, metadata=_JUDGE)
    marks: tuple[str, ...] = field(default=(), metadata=_JUDGE)
    xfail: tuple[PlatformRule, ...] = field(default=(), metadata=_JUDGE)
    skip: tuple[PlatformRule, ...] = field(default=(), metadata=_JUDGE)

    @property
    def is_tiny(self) -> bool:
        return self.model == "tiny" and self.weights is None

    @property
    def is_shape_true(self) -> bool:
        return self.weights == "random"

    def spec(self) -> dict[str, Any]:
        """What determines the output (not how it is judged): hashed into each golden's meta."""
        spec = {k: dict(v) if isinstance(v, Mapping) else v for k, v in ((k, getattr(self, k)) for k in SPEC_FIELDS)}
        if spec.get("weights") is None:  # only when set: the hashes of existing goldens stay valid
            spec.pop("weights", None)
        return spec

    def spec_hash(self) -> str:
        blob = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def rule_for(self, platform: str) -> tuple[str, str] | None:
        """('skip' | 'xfail', reason) when a per-platform rule applies here."""
        for r in self.skip:
            if r.matches(platform):
                return "skip", r.reason
        for r in self.xfail:
            if r.matches(platform):
                return "xfail", r.reason
        return None


@dataclass(frozen=True)
class StoreSpec:
    kind: str
    path: Path | None = None  # file store, resolved against the suite's directory
    repo: str | None = None  # hf / git
    repo_type: str = "dataset"
    url: str | None = None  # git: where to push (a path or URL)
    branch: str = "main"  # hf / git: the branch a publish commits to


@dataclass(frozen=True)
class Suite:
    path: Path
    store: StoreSpec
    defaults: Mapping[str, float]
    fallback: Mapping[str, float]
    platforms: Mapping[str, Mapping[str, float]]
    cases: tuple[Case, ...]
    fingerprint: str = "fail"  # or "warn"
    # Perf gates, relative to the golden's meta: peak memory per stage (on by default, 2%),
    # wall time (off by default: shared runners are noisy). None = off.
    memory_tolerance: float | None = 0.02
    time_tolerance: float | None = None
    name: str = "goldens"
    drift_cap: Mapping[str, float] = field(default_factory=dict)  # refresh: how far a new golden may move
    metrics: Mapping[str, str] = field(default_factory=dict)  # [metrics]: lpips_net, lpips_weights, ...
    # Precision settings (regress.settings) that may differ from a golden's without failing:
    # names ('cudnn.benchmark'), families ('sdpa') or one stage's ('autocast@decode').
    allowed_settings: tuple[str, ...] = ()
    # A case in the drift regime whose golden has no measured drift bounds: 'fail' (under
    # --golden-strict / CI; a loud warning otherwise) or 'fallback' (judged by [fallback], said so).
    unmeasured_drift: str = "fail"

    @property
    def lock_path(self) -> Path:
        return self.path.parent / LOCK_NAME

    def case(self, case_id: str) -> Case:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise SuiteError(f"no case with id '{case_id}'", file=self.path)

    def select(self, expr: str | None, *, platform: str | Callable[[], str]) -> list[Case]:
        """The cases ``pytest -m golden -k expr`` collects on ``platform`` (:mod:`regress.select`)."""
        from .select import select

        return select(self, expr, platform=platform)


# --------------------------------------------------------------------------- parsing

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
SPEC_FIELDS = tuple(f.name for f in fields(Case) if f.name != "id" and not f.metadata.get("judge"))
_TOP_KEYS = {"suite", "store", "defaults", "fallback", "platforms", "case", "metrics"}
_SUITE_KEYS: dict[str, type | tuple[type, ...]] = {"name": str, "fingerprint": str,
                                                   "memory_tolerance": (int, float, bool),
                                                   "time_tolerance": (int, float, bool),
                                                   "drift_cap": dict, "allowed_settings": list,
                                                   "unmeasured_drift": str}
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


def load_suite(path: str | Path = DEFAULT_SUITE) -> Suite:
    """Read and validate a suite file. Raises :class:`SuiteError` (one line) on any problem."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError("suite file not found (pass --suite PATH or --golden-suite PATH)", file=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"not valid TOML: {exc}", file=path) from None
    except UnicodeDecodeError:
        raise SuiteError("not UTF-8 text", file=path) from None
    return parse_suite(data, path)


# The thresholds a new suite starts from (`regress init`, and a project with no suite file):
# on the machine that made the golden, a single pixel moved by 3/255 fails; against another
# arch's golden (a stand-in), only a visible change does.
STARTER_DEFAULTS: Mapping[str, float] = {"ssim": 0.9999, "psnr": 60.0, "max_abs": 2, "mean_abs": 0.05,
                                         "audio_snr": 60.0}
STARTER_FALLBACK: Mapping[str, float] = {"ssim": 0.98, "psnr": 30.0, "max_abs": 64, "mean_abs": 4.0,
                                         "audio_snr": 20.0}


def implicit_suite(path: Path) -> Suite:
    """The suite of a project that has no suite file but tests using the ``golden`` fixture:
    no cases, goldens in a file store beside where the suite file would be (``goldens/store``),
    the starter thresholds. ``pytest --golden-update=missing`` creates the store and the lock."""
    return parse_suite({"store": {"kind": "file", "path": "store"}, "defaults": dict(STARTER_DEFAULTS),
                        "fallback": dict(STARTER_FALLBACK)}, path)


def parse_suite(data: Mapping[str, Any], path: Path) -> Suite:
    for key in data:
        if key not in _TOP_KEYS:
            raise SuiteError(f"unknown top-level key (expected one of {', '.join(sorted(_TOP_KEYS))})",
                             file=path, field=key)
    meta = data.get("suite", {})
    _require_table(meta, path, "suite")
    for k, v in meta.items():
        if k not in _SUITE_KEYS:
            raise SuiteError(f"unknown key (expected one of {', '.join(_SUITE_KEYS)})", file=path, field=f"suite.{k}")
        if not _is(v, _SUITE_KEYS[k]):
            raise SuiteError(f"must be {_type_name(_SUITE_KEYS[k])}", file=path, field=f"suite.{k}")
    fingerprint = meta.get("fingerprint", "fail")
    if fingerprint not in ("fail", "warn"):
        raise SuiteError("must be 'fail' or 'warn'", file=path, field="suite.fingerprint")

    allowed_settings = meta.get("allowed_settings", [])
    if not all(isinstance(x, str) and x.strip() for x in allowed_settings):
        raise SuiteError("must be an array of setting names, e.g. [\"cudnn.benchmark\", \"sdpa\"]", file=path,
                         field="suite.allowed_settings")
    unmeasured_drift = meta.get("unmeasured_drift", "fail")
    if unmeasured_drift not in ("fail", "fallback"):
        raise SuiteError("must be 'fail' or 'fallback'", file=path, field="suite.unmeasured_drift")
    tolerances: dict[str, float | None] = {"memory_tolerance": 0.02, "time_tolerance": None}
    for k in tolerances:
        if k not in meta:
            continue
        v = meta[k]
        if v is True or (not isinstance(v, bool) and not (0 <= float(v) <= 10)):
            raise SuiteError("must be a fraction >= 0 (0.02 = 2%) or false to switch the gate off", file=path,
                             field=f"suite.{k}")
        tolerances[k] = None if v is False else float(v)
    drift_cap = _parse_thresholds(meta.get("drift_cap", {}), path, None, "suite.drift_cap")
    store = _parse_store(data.get("store"), path)
    defaults = _parse_thresholds(data.get("defaults", {}), path, None, "defaults")
    fallback = _parse_thresholds(data.get("fallback", {}), path, None, "fallback")
    platforms_raw = data.get("platforms", {})
    _require_table(platforms_raw, path, "platforms")
    platforms = {glob: _parse_thresholds(t, path, None, f"platforms.{glob}") for glob, t in platforms_raw.items()}

    raw_cases = data.get("case", [])
    if not isinstance(raw_cases, list):
        raise SuiteError("must be an array of tables ([[case]])", file=path, field="case")
    cases: list[Case] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_cases):
        case = _parse_case(raw, path, i)
        if case.id in seen:
            raise SuiteError("duplicate case id", file=path, case=case.id, field="id")
        seen.add(case.id)
        cases.append(case)
    return Suite(path=path, store=store, defaults=defaults, fallback=fallback, platforms=platforms,
                 cases=tuple(cases), fingerprint=fingerprint, name=str(meta.get("name", path.parent.name)),
                 memory_tolerance=tolerances["memory_tolerance"], time_tolerance=tolerances["time_tolerance"],
                 drift_cap=drift_cap, metrics=_parse_metrics(data.get("metrics", {}), path),
                 allowed_settings=tuple(x.strip() for x in allowed_settings), unmeasured_drift=unmeasured_drift)



_METRICS_KEYS: dict[str, tuple[str, ...] | None] = {
    # key: allowed values (None: any string)
    "lpips_net": LPIPS_NETS, "lpips_precision": LPIPS_PRECISIONS, "lpips_weights": None,
    "lpips_weights_sha256": None,
}


def _parse_metrics(raw: Any, path: Path) -> dict[str, str]:
    """``[metrics]``: how metrics are computed (LPIPS backbone, its weights file and precision)."""
    _require_table(raw, path, "metrics")
    for k, v in raw.items():
        if k not in _METRICS_KEYS:
            raise SuiteError(f"unknown key (expected one of {', '.join(_METRICS_KEYS)})", file=path,
                             field=f"metrics.{k}")
        if not isinstance(v, str) or not v:
            raise SuiteError("must be a non-empty string", file=path, field=f"metrics.{k}")
        allowed = _METRICS_KEYS[k]
        if allowed is not None and v not in allowed:
            raise SuiteError(f"must be one of {', '.join(allowed)}", file=path, field=f"metrics.{k}")
    sha = raw.get("lpips_weights_sha256")
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise SuiteError("must be 64 lowercase hex digits", file=path, field="metrics.lpips_weights_sha256")
    return dict(raw)


def _require_table(value: Any, path: Path, fld: str, case: str | None = None) -> None:
    if not isinstance(value, dict):
        raise SuiteError("must be a table", file=path, case=case, field=fld)


def _parse_store(raw: Any, path: Path) -> StoreSpec:
    if raw is None:
        raise SuiteError("missing [store] table (kind = \"file\" with path, or kind = \"hf\" with repo)",
                         file=path, field="store")
    _require_table(raw, path, "store")
    for k in raw:
        if k not in STORE_FIELDS:
            raise SuiteError(f"unknown key (expected one of {', '.join(sorted(STORE_FIELDS))})", file=path,
                             field=f"store.{k}")
        if not isinstance(raw[k], str):
            raise SuiteError("must be a string", file=path, field=f"store.{k}")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not STORE_KIND_RE.match(kind):
        raise SuiteError(f"must be one of {', '.join(STORE_KINDS)}, or the kind of a registered store (lowercase "
                         "letters, digits, '-', '_')", file=path, field="store.kind")
    if kind not in STORE_KINDS:  # resolved, or refused in one line, when the store opens (regress.stores.registry)
        return StoreSpec(kind=kind, path=(path.parent / raw["path"]).resolve() if "path" in raw else None,
                         repo=raw.get("repo"), repo_type=raw.get("repo_type", "dataset"), url=raw.get("url"),
                         branch=raw.get("branch", "main"))
    if kind == "file":
        if "path" not in raw:
            raise SuiteError("a file store needs a path (relative to the suite file)", file=path, field="store.path")
        return StoreSpec(kind="file", path=(path.parent / raw["path"]).resolve())
    if "repo" not in raw or raw["repo"].count("/") != 1:
        raise SuiteError("needs a repo id 'org/name'", file=path, field="store.repo")
    repo_type = raw.get("repo_type", "dataset")
    if repo_type not in ("dataset", "model", "space"):
        raise SuiteError("must be dataset, model or space", file=path, field="store.repo_type")
    local = (path.parent / raw["path"]).resolve() if "path" in raw else None
    url = raw.get("url")
    if url and not re.match(r"^[^/]*:", url) and not Path(url).is_absolute():
        url = str((path.parent / url).resolve())  # a local git remote (not a URL, not host:path), relative to the suite
    return StoreSpec(kind=kind, repo=raw["repo"], repo_type=repo_type, url=url, path=local,
                     branch=raw.get("branch", "main"))


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
            if k not in ("platform", "reason"):
                raise SuiteError("unknown key (expected platform, reason)", file=path, case=case,
                                 field=f"{where}.{k}")
        if not isinstance(r.get("platform"), str) or not r["platform"]:
            raise SuiteError("needs a platform glob, e.g. \"rocm-*\"", file=path, case=case, field=f"{where}.platform")
        if not isinstance(r.get("reason"), str) or not r["reason"].strip():
            raise SuiteError("needs a reason", file=path, case=case, field=f"{where}.reason")
        rules.append(PlatformRule(r["platform"], r["reason"]))
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
    values.update(precision=precision, thresholds=_parse_thresholds(raw.get("thresholds", {}), path, cid, "thresholds"),
                  marks=tuple(raw.get("marks", [])), args=dict(raw.get("args", {})),
                  xfail=_parse_rules(raw.get("xfail", []), path, cid, "xfail"),
                  skip=_parse_rules(raw.get("skip", []), path, cid, "skip"))
    return Case(**values)
