"""The plugin's ``--golden-*`` options and the ini keys a project sets their defaults with.

Read once, in ``pytest_configure``, into one typed record (:class:`PluginChoices`) that the
hooks, the ``golden`` fixture and the end of the session read: no option-name strings spread
over modules, and every bad value, on the command line or in the ini file, is refused before
collection as one line (``pytest.UsageError``).

What a project would set once lives in ``[tool.pytest.ini_options]`` (or pytest.ini, tox.ini,
setup.cfg), as pytest-mpl's options do: ``golden_suite``, ``golden_strict``, ``golden_report``,
``golden_platform``, ``golden_device``, ``golden_publish``, ``golden_create_pr``. The command
line wins over the ini, and pytest's ``-o golden_strict=false`` turns an ini's flag off for one
run. One-shot actions (update, force, bisect, shard, precision experiments, A/B, adopt,
replacing another machine's goldens) have no ini key: a project file that rewrote goldens on
every run would be a trap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from .case import COMPILE_MODES
from .env import in_ci
from .errors import RegressError
from .modes import PUBLISH_TARGETS, UPDATE_MODES

DEFAULT_SUITE = "goldens/suite.toml"


@dataclass(frozen=True, kw_only=True)
class Flag:
    """One ``--golden-*`` option; ``ini`` names its project-default key where it has one."""

    name: str
    help: str
    kind: Literal["value", "flag", "append", "optional"] = "value"  # optional: a value that may be left out
    ini: str | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    const: Any = None  # kind "optional": the value when the flag is given bare

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


FLAGS: tuple[Flag, ...] = (
    Flag(name="--golden-suite", ini="golden_suite", metavar="PATH",
         help=f"suite file whose cases become test items (default: {DEFAULT_SUITE})"),
    Flag(name="--golden-update", default="none", choices=UPDATE_MODES,
         help="write goldens for missing / failed / all selected cases into the store and bump the lock"),
    Flag(name="--golden-report", ini="golden_report", metavar="DIR", help="write results.json and index.html here"),
    Flag(name="--golden-platform", ini="golden_platform", metavar="KEY",
         help="file and look up goldens under this platform key instead of the detected one"),
    Flag(name="--golden-precision", kind="append", default=[], metavar="COMPONENT=DTYPE",
         help="override a component's dtype for this run (repeatable), e.g. vae=fp32"),
    Flag(name="--golden-compile", kind="optional", const="default", choices=COMPILE_MODES, metavar="MODE",
         help="run every case's denoiser under torch.compile (MODE: default, reduce-overhead, max-autotune, "
              "max-autotune-no-cudagraphs; bare: default); each case runs as <id>.compiled with goldens of its "
              "own, judged against its eager golden in the drift regime while it has none. Write "
              "--golden-compile=MODE (a bare flag before a path would take the path as its MODE)"),
    Flag(name="--golden-strict", kind="flag", ini="golden_strict",
         help="a missing golden fails (default when the CI environment variable is set)"),
    Flag(name="--golden-device", ini="golden_device", metavar="DEVICE", help="run pipelines on this torch device"),
    Flag(name="--golden-force", kind="flag", default=False,
         help="with --golden-update: write goldens that fail the quality gate"),
    Flag(name="--golden-bisect", kind="flag", default=False,
         help="at session end, bisect each failing case: revert each difference from its golden (dtypes, "
              "backend settings) to name the cause (`regress bisect CASE` does one)"),
    Flag(name="--golden-replace-other-machine", kind="flag", default=False,
         help="with --golden-update: replace goldens of this platform key that another machine made"),
    Flag(name="--golden-shard", metavar="I/N",
         help="run shard I of N (1-based), balanced by the durations recorded in the goldens; "
              "the same split on every machine (`regress shard N` prints it)"),
    Flag(name="--golden-publish", ini="golden_publish", choices=PUBLISH_TARGETS,
         help="with --golden-update and a Hub store: commit through the Hub API or git (default: store kind)"),
    Flag(name="--golden-create-pr", kind="flag", ini="golden_create_pr",
         help="with --golden-update and a Hub store: publish as a Hub pull request"),
    Flag(name="--golden-record", metavar="DIR",
         help="A/B: write every case's run (output and meta) into DIR, to be the baseline of another "
              "revision on this machine"),
    Flag(name="--golden-adopt", kind="flag", default=False,
         help="keep each case that passes against its reviewed golden in the drift regime as this machine's "
              "reference (published at the end, one commit): later runs here are judged exactly"),
    Flag(name="--golden-baseline", metavar="DIR",
         help="A/B: judge every case exactly against the run --golden-record wrote into DIR too, and "
              "write the change's impact table (impact.md beside the report)"),
)
_BY_NAME = {f.name: f for f in FLAGS}


def add_options(parser: pytest.Parser) -> None:
    """Declare every flag, and the ini key of each that has one (unset ini keys read as None,
    so that "not set" and "set to false" differ)."""
    group = parser.getgroup("regress", "golden-output regression tests (regress)")
    for f in FLAGS:
        if f.kind == "flag":
            # an ini-backed flag defaults to None: the command line gave nothing, ask the ini
            group.addoption(f.name, action="store_true", default=None if f.ini else f.default, help=f.help)
        elif f.kind == "optional":
            group.addoption(f.name, nargs="?", const=f.const, default=f.default, choices=f.choices,
                            metavar=f.metavar, help=f.help)
        elif f.kind == "append":
            group.addoption(f.name, action="append", default=list(f.default), metavar=f.metavar, help=f.help)
        else:
            group.addoption(f.name, default=f.default, choices=f.choices, metavar=f.metavar, help=f.help)
        if f.ini:
            parser.addini(f.ini, f"project default of {f.name} (the command line wins)",
                          type="bool" if f.kind == "flag" else "string", default=None)


@dataclass(frozen=True, kw_only=True)
class PluginChoices:
    """The options of one pytest run, from the command line, else the ini, else the defaults."""

    suite: Path  # resolved
    suite_given: bool  # named on the command line or in the ini: a missing file is then an error
    suite_arg: str | None  # as typed on the command line (the hint that makes missing goldens repeats it)
    update: str = "none"
    report_dir: Path | None = None  # resolved
    platform: str | None = None
    precision: dict[str, str] = field(default_factory=dict)
    compile: str | None = None  # --golden-compile: every case runs under torch.compile in this mode
    strict: bool = False
    device: str | None = None
    force: bool = False
    bisect: bool = False
    replace_other_machine: bool = False
    shard: str | None = None
    publish: str | None = None
    create_pr: bool = False
    record_dir: Path | None = None
    adopt: bool = False
    baseline_dir: Path | None = None


class _Source:
    """Where each value comes from: the command line, else the ini (its relative paths are
    relative to the ini file, as pytest's own ``paths`` keys are), else nothing."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.ini_dir = config.inipath.parent if config.inipath else config.invocation_params.dir

    def cli(self, name: str) -> Any:
        return self.config.getoption(name)

    def ini(self, name: str) -> Any:
        key = _BY_NAME[name].ini
        assert key is not None, name
        try:
            value = self.config.getini(key)
        except (ValueError, TypeError) as exc:  # a bad bool ("maybe"), a TOML value of the wrong type
            where = f"{self.config.inipath}: " if self.config.inipath else ""
            first = (str(exc).splitlines() or [type(exc).__name__])[0].removeprefix(where)  # TOML's names the file
            raise pytest.UsageError(f"{where}{key}: {first}") from None
        return None if value == "" else value

    def value(self, name: str) -> Any:
        given = self.cli(name)
        return given if given is not None else self.ini(name)

    def path(self, name: str) -> Path | None:
        """A directory option: the command line's relative to where pytest was started, the
        ini's relative to the ini file."""
        given = self.cli(name)
        if given:
            return (self.config.invocation_params.dir / given).resolve()
        if _BY_NAME[name].ini:
            from_ini = self.ini(name)
            if from_ini:
                return (self.ini_dir / from_ini).resolve()
        return None


def resolve(config: pytest.Config) -> PluginChoices:
    """Every option of this run, checked: a bad one is a ``pytest.UsageError`` (one line)."""
    src = _Source(config)
    choices = PluginChoices(
        **_suite(config, src), update=src.cli("--golden-update"), report_dir=src.path("--golden-report"),
        platform=_platform(config, src), precision=_precision(src.cli("--golden-precision")),
        compile=src.cli("--golden-compile"),
        strict=_strict(src), device=src.value("--golden-device"), force=src.cli("--golden-force"),
        bisect=src.cli("--golden-bisect"), replace_other_machine=src.cli("--golden-replace-other-machine"),
        shard=_shard(src.cli("--golden-shard")), publish=_publish(config, src),
        create_pr=bool(src.value("--golden-create-pr")), record_dir=src.path("--golden-record"),
        adopt=src.cli("--golden-adopt"), baseline_dir=src.path("--golden-baseline"))
    if choices.adopt:
        from .references import refuse_dirty

        try:
            refuse_dirty(config.invocation_params.dir)
        except RegressError as exc:
            raise pytest.UsageError(f"--golden-adopt: {exc}") from None
    if choices.baseline_dir is not None and not (choices.baseline_dir / "cases").is_dir():
        raise pytest.UsageError(f"--golden-baseline: {choices.baseline_dir}: no recorded run there (expected "
                                "cases/<id>/<platform>/ written by --golden-record)")
    return choices


def _suite(config: pytest.Config, src: _Source) -> dict[str, Any]:
    """The suite file: the command line's (found from where pytest started, else from its
    rootdir), else the ini's (relative to the ini file), else the default (as the command line's)."""
    given = src.cli("--golden-suite")
    from_ini = None if given else src.ini("--golden-suite")
    if from_ini:
        return {"suite": (src.ini_dir / from_ini).resolve(), "suite_given": True, "suite_arg": None}
    p = Path(given or DEFAULT_SUITE)
    found = p.resolve() if p.is_absolute() else next(
        ((base / p).resolve() for base in (config.invocation_params.dir, config.rootpath) if (base / p).exists()),
        (config.invocation_params.dir / p).resolve())
    return {"suite": found, "suite_given": given is not None, "suite_arg": given}


def _strict(src: _Source) -> bool:
    value = src.value("--golden-strict")
    return in_ci() if value is None else bool(value)


def _precision(texts: list[str]) -> dict[str, str]:
    from .precision import parse_override

    out = {}
    for text in texts:
        try:
            component, dtype = parse_override(text)
        except ValueError as exc:
            raise pytest.UsageError(f"--golden-precision: {exc}") from None
        out[component] = dtype
    return out


def _platform(config: pytest.Config, src: _Source) -> str | None:
    given = src.cli("--golden-platform")
    key = given or src.ini("--golden-platform")
    if key:
        from .platform import require_key

        what = "--golden-platform" if given else f"{config.inipath}: golden_platform"
        try:
            require_key(key, what=what)
        except RegressError as exc:
            raise pytest.UsageError(str(exc)) from None
    return key or None


def _shard(text: str | None) -> str | None:
    if text:
        from .shard import parse_shard

        try:
            parse_shard(text)
        except RegressError as exc:
            raise pytest.UsageError(str(exc)) from None
    return text


def _publish(config: pytest.Config, src: _Source) -> str | None:
    """argparse checks the command line's choice; the ini's is checked here."""
    given = src.cli("--golden-publish")
    if given:
        return given
    target = src.ini("--golden-publish")
    if target is not None and target not in PUBLISH_TARGETS:
        raise pytest.UsageError(f"{config.inipath}: golden_publish: {target!r} is not one of "
                                f"{', '.join(PUBLISH_TARGETS)}")
    return target
