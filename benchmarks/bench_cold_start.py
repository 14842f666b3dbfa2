"""A fresh machine's first judgements: regress's share of each case, cold and warm.

CI runners for golden suites are often new containers: no Triton cache, no inductor cache, no
probe cache. This runs a suite in a fresh process with every compiler and regress cache pointed
at an empty directory (cold), then again in a fresh process over the caches the first run left
(warm), and prints per case: the case's duration, the build, the pipeline call, and the rest
(regress: golden read, probe, metrics, verdict), with regress's share; and per process: the
wall time of the whole pytest run beside the sum of its cases (collection, session start and
end, report).

    python benchmarks/bench_cold_start.py                         # tiny suite (goldens/suite.toml)
    python benchmarks/bench_cold_start.py --suite benchmarks/full/suite.toml -k qwen-image-1328
    python benchmarks/bench_cold_start.py --micro                 # first judgement per shape, no pipeline
    python benchmarks/bench_cold_start.py --phases                # and where each case's rest goes
    python benchmarks/bench_cold_start.py --warm 3                # three warm processes (three samples)

``--micro`` times, in a cold process, the probe and the first and second comparison of each
case's golden against a copy with one changed pixel (no pipeline): what the first judgement of a
shape costs by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHES = ("TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "REGRESS_CACHE_DIR", "CUDA_CACHE_PATH")


def cache_env(root: Path) -> dict[str, str]:
    """The environment whose every compiler / probe cache lives under ``root``."""
    env = dict(os.environ)
    for name in CACHES:
        d = root / name.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[name] = str(d)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the plugin is named with -p (no entry point needed)
    return env


def run_suite(suite: str, select: str | None, env: dict[str, str], report: Path, device: str,
              phases: Path | None = None) -> tuple[float, list]:
    cmd = [sys.executable, "-m", "pytest", suite, "-p", "regress.plugin", "-p", "no:cacheprovider", "-q",
           "-m", "golden", "--golden-suite", suite, "--golden-report", str(report), "--golden-device", device]
    if select:
        cmd += ["-k", select]
    if phases is not None:  # benchmarks/phase_timer.py: each step's seconds per case
        cmd += ["-p", "benchmarks.phase_timer"]
        env = {**env, "REGRESS_PHASES": str(phases)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    results = report / "results.json"
    if not results.exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"no results.json (exit {proc.returncode})")
    return wall, json.loads(results.read_text())["cases"]


def table(label: str, wall: float, cases: list) -> None:
    print(f"\n{label}: pytest process {wall:.1f} s, cases {sum(c.get('duration_s') or 0 for c in cases):.1f} s")
    print("| case | status | case s | build s | pipeline s | regress s | regress share |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for c in cases:
        perf = (c.get("perf") or {}).get("current") or {}
        total = c.get("duration_s") or 0.0
        build, wall_s = perf.get("build_s") or 0.0, perf.get("wall_s") or 0.0
        rest = total - build - wall_s
        share = f"{rest / total:.2%}" if total else "-"
        print(f"| {c['id']} | {c['status']} | {total:.2f} | {build:.2f} | {wall_s:.2f} | {rest:.3f} | {share} |")


def phase_table(path: Path) -> None:
    """Per step (benchmarks/phase_timer.py), milliseconds in each case: where the rest goes."""
    if not path.exists():
        print("(no phase file)")
        return
    doc = json.loads(path.read_text())
    cases = doc["cases"]
    steps: list[str] = []
    for c in cases:
        steps += [k for k in c["phases"] if k not in steps]
    print("| step (ms) | " + " | ".join(c["id"] for c in cases) + " |")
    print("| --- |" + " ---: |" * len(cases))
    for step in steps:
        print(f"| {step} | " + " | ".join(f"{c['phases'].get(step, 0.0) * 1e3:.1f}" for c in cases) + " |")
    for name, seconds, error in doc["warm-up"]:
        print(f"warm-up step {name}: {seconds * 1e3:.1f} ms" + (f", raised {error}" if error else ""))
    for probe in doc["probes"]:
        print(f"clean-process probe on thread {probe['thread']}: {probe['s']:.2f} s (key {probe['key']})")
    envs = {k["key"]: k["env"] for k in doc["keys"]}
    print("probe keys asked: " + ", ".join(f"{k['key']} ({k['thread']})" for k in doc["keys"]))
    if len(envs) > 1:  # what differs between the keys' kernel environments
        first, *rest = envs.values()
        for other in rest:
            print("  environment differs:", sorted(set(map(tuple, first)) ^ set(map(tuple, other))))


MICRO = r"""
import sys, time, json
t0 = time.perf_counter()
import numpy as np, torch
torch.zeros(1, device=DEVICE)
print(f"torch import + {DEVICE} init: {time.perf_counter() - t0:.2f} s")
from regress.suite import load_suite
from regress.session import GoldenSession, Options
from regress.metrics.compare import compare_outputs
from regress.outputs import Output
from regress import probing
t = time.perf_counter(); probing.identity(DEVICE); print(f"probe (clean process, no cache): {time.perf_counter() - t:.2f} s")
suite = load_suite(SUITE)
s = GoldenSession(suite, Options(device=DEVICE))
plat = s.platform
for case in suite.cases:
    if SELECT and SELECT not in case.id:
        continue
    g = s.store.get(case.id, plat)
    if g is None:
        print(f"{case.id}: no golden on {plat}"); continue
    out = g.output()
    arr = out.image if out.image is not None else out.video
    if arr is None:
        print(f"{case.id}: audio, skipped"); continue
    b = arr.copy(); b.reshape(-1)[0] ^= 1
    other = Output(image=b) if out.image is not None else Output(video=b, fps=out.fps)
    times = []
    for _ in range(3):
        torch.cuda.synchronize() if DEVICE.startswith("cuda") else None
        t = time.perf_counter(); c = compare_outputs(out, other, device=DEVICE)
        torch.cuda.synchronize() if DEVICE.startswith("cuda") else None
        times.append(time.perf_counter() - t)
    print(f"{case.id}: shape {tuple(arr.shape)}, path {c.path}: first {times[0]*1e3:.1f} ms, "
          f"second {times[1]*1e3:.1f} ms, third {times[2]*1e3:.1f} ms")
s.close()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="goldens/suite.toml")
    ap.add_argument("-k", dest="select", default=None)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--micro", action="store_true")
    ap.add_argument("--phases", action="store_true", help="time each step of each case (benchmarks/phase_timer.py)")
    ap.add_argument("--warm", type=int, default=1, help="warm processes after the cold one (each its own sample)")
    args = ap.parse_args()
    try:
        import torch

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        print(f"device: {name}, torch {torch.__version__}")
    except Exception:  # noqa: BLE001
        pass
    with tempfile.TemporaryDirectory(prefix="regress-cold-") as tmp:
        env = cache_env(Path(tmp) / "caches")
        if args.micro:
            code = (f"DEVICE={args.device!r}; SUITE={args.suite!r}; SELECT={args.select!r}\n" + MICRO)
            for label in ("cold", "warm"):
                print(f"\n--- micro, {label} caches")
                subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=False)
            return
        warm = [f"warm{i + 1 if args.warm > 1 else ''} (caches of the cold run)" for i in range(args.warm)]
        for label in ("cold (empty caches)", *warm):
            name = label.split()[0]
            phases = Path(tmp) / f"{name}-phases.json" if args.phases else None
            wall, cases = run_suite(args.suite, args.select, env, Path(tmp) / name, args.device, phases)
            table(label, wall, cases)
            if phases is not None:
                phase_table(phases)


if __name__ == "__main__":
    main()
