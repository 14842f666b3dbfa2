"""The choices of one run, shared by the pytest plugin, the CLI and library callers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Options:
    """Per-run choices (CLI flags / pytest options)."""

    platform: str | None = None  # file goldens under this key instead of the detected one
    device: str | None = None  # 'cpu', 'cuda', 'cuda:1'; default: cuda when available
    strict: bool = False  # a missing golden fails (default under CI)
    update: str = "none"  # one of regress.modes.UPDATE_MODES
    precision: Mapping[str, str] = field(default_factory=dict)  # COMPONENT -> dtype, for this run only
    report_dir: Path | None = None
    force: bool = False  # publish goldens that fail the quality gate
    shard: str | None = None  # 'I/N' when this run is one shard of the suite (recorded in results.json)
    worker: str | None = None  # pytest-xdist worker id ('gw0') when this run is one worker of several
    publish: str | None = None  # Hub stores: commit new goldens through 'hub' (HfApi) or 'git'
    create_pr: bool = False  # Hub stores: publish as a Hub pull request
    freeze_heap: bool = False  # gc.freeze() after the first build (a process that exists for this run)
    replace_other_machine: bool = False  # updates may replace a golden that another machine made
    exact: bool = False  # judge in the exact regime even where the kernel probe differs (bisect --exact)
    record_dir: Path | None = None  # --golden-record: write every case's run here (regress.ab)
    baseline_dir: Path | None = None  # --golden-baseline: judge every case against the run recorded here too
    adopt: bool = False
    compile: str | None = None  # --golden-compile: every case runs as its compiled variant (Case.compiled)  # regress adopt / --golden-adopt: keep drift-regime passes as this identity's references
