"""``regress ab BASE``: run a git revision and the working tree on this machine, one after the other.

BASE is checked out in a temporary git worktree and its golden suite runs there with
``--golden-record`` (its own code: for a project whose engine lives in the repository, as the
seed's does, and for regress's own built-in families alike, since ``PYTHONPATH`` puts the
worktree first). Then the working tree runs with ``--golden-baseline``: each case is judged
exactly against BASE's output (and against its pinned golden as usual), and the report gets the
impact table. Both runs are plain ``pytest -m golden`` processes: what the CI form of an A/B
(``--golden-record`` on the base job, ``--golden-baseline`` on the head job) does, this does.

BASE's recording is cached per (commit, machine and installed versions, selection): a second
A/B against the same BASE runs only the head (``benchmarks/bench_ab.py`` measures both).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .env import PYTHONPATH
from .errors import RegressError

GIT_TIMEOUT_S = 120
_RUN_TIMEOUT_S = 6 * 3600  # a shape-true suite on a GPU runs for minutes; a hung one must end
_COMPLETE = "recorded.json"


@dataclass(frozen=True)
class AbResult:
    base: str  # the commit
    cached: bool  # BASE's recording came from the cache
    report: Path
    head_exit: int
    failed: list[str]  # cases whose A/B judgement failed
    moved: list[str]  # cases whose output, dtypes or settings differ from BASE's at all
    impact: str  # the Markdown table


def _git(args: list[str], *, cwd: Path) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegressError(f"git {' '.join(args)}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise RegressError(f"git {' '.join(args)}: {tail[0]}")
    return proc.stdout.strip()


def _pytest(cwd: Path, args: list[str], *, log: Path) -> int:
    env = dict(os.environ)
    env[PYTHONPATH] = os.pathsep.join([str(cwd), *([env[PYTHONPATH]] if env.get(PYTHONPATH) else [])])
    cmd = [sys.executable, "-m", "pytest", "-m", "golden", "-p", "no:cacheprovider", "-q", *args]
    with open(log, "w", encoding="utf-8") as out:
        try:
            return subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=_RUN_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            raise RegressError(f"the golden suite in {cwd} did not finish in {_RUN_TIMEOUT_S} s (log: {log})") from None


def _tail(log: Path, n: int = 1) -> str:
    lines = [x for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    return " / ".join(lines[-n:]) or "no output"


def resolve(base: str, *, suite: Path) -> tuple[Path, str, Path]:
    """(the checkout's root, BASE's commit, the suite's path in the checkout), or one line naming
    what is wrong, before anything runs."""
    where = suite.resolve().parent
    if not suite.is_file():
        raise RegressError(f"{suite}: no such suite file")
    try:
        root = Path(_git(["rev-parse", "--show-toplevel"], cwd=where))
    except RegressError:
        raise RegressError(f"{where} is not inside a git checkout: `regress ab` runs two revisions of one") from None
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], cwd=root)
    except RegressError:
        raise RegressError(f"BASE {base!r} is not a commit of {root} (a branch, tag, sha or HEAD~1)") from None
    return root, commit, suite.resolve().relative_to(root)


def run_ab(base: str, *, suite: Path, expr: str | None, report: Path, device: str | None = None,
           cache: bool = True) -> AbResult:
    """Record BASE's run on this machine (or take it from the cache), then run the working tree
    against it; the result names what moved. Raises RegressError for what is not a run's
    outcome (not a git checkout, an unknown revision, a BASE that cannot record)."""
    from . import probing

    root, commit, suite_rel = resolve(base, suite=suite)
    # The machine, its installed versions and kernel-choosing environment, without importing torch
    # here (seconds): the same key the kernel probe is cached under. A recording that does not
    # match the head's numerics is still caught: the head judges it in the drift regime, strictly.
    machine = probing.cache_key(device or "auto")
    key = hashlib.sha256(json.dumps([commit, machine, str(suite_rel), expr]).encode()).hexdigest()[:20]
    cache_root = probing.cache_dir()
    recorded = (cache_root / "ab" / key) if cache and cache_root is not None else None
    report = report.resolve()
    report.mkdir(parents=True, exist_ok=True)
    select = ["-k", expr] if expr else []
    device_opt = [f"--golden-device={device}"] if device else []
    cached = recorded is not None and (recorded / _COMPLETE).is_file()
    with tempfile.TemporaryDirectory(prefix="regress-ab-") as tmp:
        if not cached:
            out = recorded if recorded is not None else Path(tmp) / "recorded"
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            tree = Path(tmp) / "base"
            _git(["worktree", "add", "--detach", "--force", str(tree), commit], cwd=root)
            try:
                log = report / "base.log"
                code = _pytest(tree, [f"--golden-suite={suite_rel}", f"--golden-record={out}", *device_opt, *select],
                               log=log)
            finally:
                _git(["worktree", "remove", "--force", str(tree)], cwd=root)
            if code == 5:  # pytest: nothing collected
                raise RegressError(f"BASE {base} ({commit[:12]}) has no golden case that -k {expr!r} selects")
            if code not in (0, 1) or not any((out / "cases").glob("*/*/meta.json")):
                raise RegressError(f"BASE {base} ({commit[:12]}) recorded no run (pytest exit {code}: {_tail(log)}); "
                                   "a BASE older than regress's --golden-record cannot be an A/B base")
            (out / _COMPLETE).write_text(json.dumps({"commit": commit, "machine": machine}), encoding="utf-8")
            recorded = out
        assert recorded is not None
        head_log = report / "head.log"
        head_exit = _pytest(root, [f"--golden-suite={suite_rel}", f"--golden-baseline={recorded}",
                                   f"--golden-report={report}", *device_opt, *select], log=head_log)
        results = report / "results.json"
        if not results.is_file():
            raise RegressError(f"the working tree's run wrote no report (pytest exit {head_exit}: {_tail(head_log)})")
        doc = json.loads(results.read_text(encoding="utf-8"))
    from .report.impact import ab_cases, markdown

    cases = ab_cases(doc)
    failed = [c.id for c in cases if c.ab is not None and c.ab.status == "failed"]
    moved = [c.id for c in cases if c.ab is not None and c.ab.moved]
    return AbResult(base=commit, cached=cached, report=report, head_exit=head_exit, failed=failed, moved=moved,
                    impact=markdown(doc))
