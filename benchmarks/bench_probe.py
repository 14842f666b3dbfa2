"""The kernel probe's cost against the bare pipeline call it accompanies.

A golden session runs the probe once per process and device (regress/probe.py), when the
first case is judged, i.e. after that case's pipeline ran: the math libraries (cuBLAS, cuDNN,
oneDNN) have started by then. This bench measures it in that order; ``--cold`` probes before
any pipeline instead, where the probe's first call carries the libraries' start-up. Later
calls (a calibration that changes a kernel setting) cost only the ops. The peer is one bare
call of a tiny pipeline (the tiny sd case through its runner, already built), measured in
the same process.

    python benchmarks/bench_probe.py [--device cuda] [--rounds 20] [--cold]

Prints the machine, the device start and the first pipeline call (timed apart), the probe's
first call, the median and worst of ``--rounds`` repeated calls, the bare pipeline call's
median, and their ratio (``RESULT probe ...``). Run in a fresh process: the first call is
only first once.

A session does not run these ops in its own process any more: it asks
:func:`regress.probing.identity`, which runs them once per machine and installed versions in a
clean interpreter and caches the result on disk. The last rows time that: the clean process
(what the first run on a machine pays), and the identity read from the disk cache in a process
that has not asked yet (what every later run pays).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--cold", action="store_true",
                    help="probe before any pipeline ran (the session probes after the first case's call)")
    ap.add_argument("--suite", default=str(Path(__file__).resolve().parents[1] / "goldens" / "suite.toml"))
    args = ap.parse_args()

    import torch

    from regress.probe import installed, run_probe
    from regress.runners import get_runner
    from regress.suite import load_suite

    inst = installed(args.device)
    machine = inst.get("gpu.name") or f"{inst.get('cpu.model')} ({inst.get('cpu.isa')})"
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    # The device's own start (CUDA context, allocator) is paid by the first pipeline anyway:
    # timed apart, so that the probe's first call counts only its kernels' set-up.
    t0 = time.perf_counter()
    torch.ones(1, device=args.device).sum().item()
    init_ms = (time.perf_counter() - t0) * 1e3

    suite = load_suite(args.suite)
    case = suite.case("sd-tiny")
    runner = get_runner(case.pipeline)
    from regress.session import GoldenSession, Options

    session = GoldenSession(suite, Options(device=args.device))
    precision = session.precision_for(case)
    if args.cold:  # the probe before any pipeline: it pays the math libraries' start-up
        first_ms = run_probe(args.device)[1]
    pipe = runner.build(case, precision, args.device)
    t0 = time.perf_counter()
    runner.run(pipe, case, args.device)  # warm-up: what the session's first case does before the probe
    sync()
    first_call_ms = (time.perf_counter() - t0) * 1e3
    if not args.cold:
        first_ms = run_probe(args.device)[1]
    again = [run_probe(args.device)[1] for _ in range(args.rounds)]
    bare = []
    for _ in range(max(5, args.rounds // 2)):
        sync()
        t0 = time.perf_counter()
        runner.run(pipe, case, args.device)
        sync()
        bare.append((time.perf_counter() - t0) * 1e3)
    when = "before any pipeline (--cold)" if args.cold else "after the first pipeline call"

    import tempfile

    from regress import probing

    with tempfile.TemporaryDirectory() as cache:
        import os

        os.environ["REGRESS_CACHE_DIR"] = cache
        t0 = time.perf_counter()
        probing.identity(args.device)  # nothing cached: a clean interpreter imports torch and probes
        clean_ms = (time.perf_counter() - t0) * 1e3
        reads = []
        for _ in range(args.rounds):
            probing._CACHE.clear()  # a new process: the disk cache, not this one's memory
            t0 = time.perf_counter()
            probing.identity(args.device)
            reads.append((time.perf_counter() - t0) * 1e3)
    med, worst, bmed = statistics.median(again), max(again), statistics.median(bare)
    print(f"machine: {machine}; torch {torch.__version__}; device {args.device}; threads {torch.get_num_threads()}")
    print(f"{'what':<44}{'ms':>10}")
    print(f"{'device start (not the probe; paid anyway)':<44}{init_ms:>10.2f}")
    print(f"{'first sd-tiny pipeline call (library start)':<44}{first_call_ms:>10.2f}")
    print(f"{'probe, first call, ' + when:<44}{first_ms:>10.2f}")
    print(f"{'probe, repeated (median of ' + str(args.rounds) + ')':<44}{med:>10.2f}")
    print(f"{'probe, repeated (worst)':<44}{worst:>10.2f}")
    print(f"{'bare sd-tiny pipeline call (median)':<44}{bmed:>10.2f}")
    print(f"{'identity, clean process (first on a machine)':<44}{clean_ms:>10.2f}")
    print(f"{'identity, from the disk cache (median)':<44}{statistics.median(reads):>10.2f}")
    print(f"RESULT probe first {first_ms:.2f} ms, repeated {med:.2f} ms; bare sd-tiny call {bmed:.2f} ms; "
          f"first probe / bare call = {first_ms / bmed:.2f}x; clean-process identity {clean_ms:.0f} ms once per "
          f"machine, {statistics.median(reads):.2f} ms from the cache; machine {machine}")


if __name__ == "__main__":
    main()
