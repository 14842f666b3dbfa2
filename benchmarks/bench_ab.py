"""What exact judging on the same numerics costs: an A/B run and an adopted identity, against a
plain golden run measured in the same process tree.

Rows (wall time of the whole command, imports and pipeline builds included, best of
``--rounds``):

* ``plain``: ``pytest -m golden`` (the baseline: the bare suite run against its pinned goldens);
* ``ab, BASE not cached``: ``regress ab HEAD`` with an empty cache (BASE in a worktree, then
  the head); the issue's bound is ~2.1x plain;
* ``ab, BASE cached``: the same again (only the head runs);
* ``drift path, no reference`` / ``drift path, adopted``: ``pytest -m golden`` under a kernel
  path with no golden of its own (``ONEDNN_MAX_CPU_ISA=AVX512_CORE`` where the CPU has AVX-512,
  else ``ATEN_CPU_CAPABILITY=default``), before and after ``regress adopt`` there.

Everything runs in a temporary clone of this repository (its HEAD), so nothing here changes.

    python benchmarks/bench_ab.py [-k EXPR] [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode not in ok:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        sys.exit(f"{' '.join(cmd)}: exit {proc.returncode}: {' / '.join(tail)}")
    return dt


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", dest="expr", default=None)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    sel = ["-k", args.expr] if args.expr else []
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    drift_env = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"} if "avx512f" in flags else {"ATEN_CPU_CAPABILITY": "default"}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        base_env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS", "PYTEST_ADDOPTS")}
        base_env["PYTHONPATH"] = str(clone)
        pytest = [sys.executable, "-m", "pytest", "-m", "golden", "-q", "-p", "no:cacheprovider", *sel]
        regress = [sys.executable, "-m", "regress"]
        rows: list[tuple[str, float]] = []

        def best(label: str, cmd: list[str], env: dict[str, str], *, fresh_cache: bool = False,
                 ok: tuple[int, ...] = (0,)) -> float:
            times = []
            for r in range(args.rounds):
                e = dict(env)
                if fresh_cache:
                    e["REGRESS_CACHE_DIR"] = str(Path(tmp) / f"cache-{label.replace(' ', '_')}-{r}")
                times.append(_run(cmd, clone, e, ok=ok))
            rows.append((label, min(times)))
            return min(times)

        cache_env = {**base_env, "REGRESS_CACHE_DIR": str(Path(tmp) / "cache")}
        _run(pytest, clone, cache_env)  # warm the OS file cache and the probe cache
        plain = best("plain", pytest, cache_env)
        # The probe is cached apart from the A/B runs: an empty cache per round costs one probe too.
        best("ab, BASE not cached", [*regress, "ab", "HEAD", "--no-cache", *sel, "--report", str(Path(tmp) / "ab")],
             cache_env)
        _run([*regress, "ab", "HEAD", *sel, "--report", str(Path(tmp) / "ab")], clone, cache_env)
        best("ab, BASE cached", [*regress, "ab", "HEAD", *sel, "--report", str(Path(tmp) / "ab")], cache_env)
        drift = {**cache_env, **drift_env}
        best("drift path, no reference", pytest, drift)
        _run([*regress, "adopt", *sel], clone, drift)
        subprocess.run([*GIT, "add", "-A"], cwd=clone, check=True)
        subprocess.run([*GIT, "commit", "-qm", "adopt"], cwd=clone, check=True)
        best("drift path, adopted", pytest, drift)
    print(f"# bench_ab: {_dt.date.today()} on {_cpu()} ({os.cpu_count()} cores), python {platform.python_version()}, "
          f"drift path {' '.join(f'{k}={v}' for k, v in drift_env.items())}, best of {args.rounds}")
    print("| run | wall time (s) | x plain |")
    print("| --- | --- | --- |")
    for label, t in rows:
        print(f"| {label} | {t:.1f} | {t / plain:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
