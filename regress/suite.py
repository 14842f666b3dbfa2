"""``goldens/suite.toml`` -> an immutable :class:`Suite` of :class:`Case` objects, validated once.

Every problem is reported as one line that names the file, the case id and the field, so
that a user can fix it without reading a traceback (CLI exit code 2; a collection error in
pytest). This module reads the file and its top-level tables; a case's record is
:mod:`regress.case` (re-exported here: runners and their authors import ``regress.suite.Case``)
and the field-level checks are :mod:`regress.suite_fields`. Which cases a ``-k`` expression
selects is :mod:`regress.select`, a layer above.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Case, PlatformRule, SPEC_FIELDS, CASE_ID_RE and _TYPE_NAMES are read from here too (runners,
# regress.models' schema of the suite file).
from .case import CASE_ID_RE, SPEC_FIELDS, Case, PlatformRule  # noqa: F401
from .errors import SuiteError
from .metrics.catalog import LPIPS_NETS, LPIPS_PRECISIONS, MESH_DEFAULTS, MESH_FALLBACK
from .suite_fields import _TYPE_NAMES, _is, _parse_case, _parse_thresholds, _require_table, _type_name  # noqa: F401

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_SUITE = Path("goldens/suite.toml")
LOCK_NAME = "goldens.lock"
STORE_KINDS = ("file", "hf", "git")  # the built-in kinds; a third-party store registers its own (regress.stores)
STORE_KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
STORE_FIELDS = ("kind", "path", "repo", "repo_type", "url", "branch")  # the [store] table's keys


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
    # The suite's own cases where a run replaced them by their compiled variants (--golden-compile):
    # what a compiled case without a golden of its own is judged against (:meth:`eager_twin`).
    eager: tuple[Case, ...] = ()

    def compiled(self, mode: str) -> Suite:
        """This suite with every case run under ``torch.compile`` (see :meth:`Case.compiled`)."""
        from dataclasses import replace

        return replace(self, cases=tuple(c.compiled(mode) for c in self.cases), eager=self.eager or self.cases)

    def eager_twin(self, case: Case) -> Case | None:
        """The eager case whose golden a compiled ``case`` is judged against while it has none
        of its own: the suite's case of the same spec without ``compile`` (for ``--golden-compile``,
        the case it was made from; for a case that declares ``compile``, a case beside it with the
        same inputs). None for an eager case, or where there is no such case."""
        if case.compile is None:
            return None
        spec = case.eager_spec()
        return next((c for c in (*self.eager, *self.cases) if c.compile is None and c.spec() == spec), None)

    def one_process_twin(self, case: Case) -> Case | None:
        """The one-process case whose golden a parallel ``case`` is judged against while it has
        none of its own: the suite's case of the same spec without ``parallel``. None for a
        one-process case, or where there is no such case."""
        if not case.parallel:
            return None
        spec = case.one_process_spec()
        return next((c for c in (*self.eager, *self.cases) if not c.parallel and c.spec() == spec), None)

    @property
    def lock_path(self) -> Path:
        return self.path.parent / LOCK_NAME

    def case(self, case_id: str) -> Case:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise SuiteError(f"no case with id '{case_id}'", file=self.path)



_TOP_KEYS = {"suite", "store", "defaults", "fallback", "platforms", "case", "metrics"}
_SUITE_KEYS: dict[str, type | tuple[type, ...]] = {"name": str, "fingerprint": str,
                                                   "memory_tolerance": (int, float, bool),
                                                   "time_tolerance": (int, float, bool),
                                                   "drift_cap": dict, "allowed_settings": list,
                                                   "unmeasured_drift": str}
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
                                         "audio_snr": 60.0, **MESH_DEFAULTS}
STARTER_FALLBACK: Mapping[str, float] = {"ssim": 0.98, "psnr": 30.0, "max_abs": 64, "mean_abs": 4.0,
                                         "audio_snr": 20.0, **MESH_FALLBACK}


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


