"""regress.warmup: the judgement's one-time GPU costs run beside the first build, once."""

from __future__ import annotations

import threading

import pytest

from regress import warmup
from regress.measured import QUIET


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "_STARTED", {})


def test_the_cpu_warms_up_the_probe_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU the clean-process probe (1.6 s cold) overlaps the build; no kernel is compiled."""
    import regress.probing as probing
    from regress.metrics import fused_compile

    seen: list[str] = []
    monkeypatch.setattr(probing, "identity", lambda device: seen.append(device))
    monkeypatch.setattr(fused_compile, "prepare", lambda device: pytest.fail("no GPU kernel on the CPU"))
    warmup.start("cpu")
    warmup.wait("cpu")
    assert seen == ["cpu"]


def test_a_gpu_warms_up_once_in_the_background_and_wait_joins(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    calls: list[tuple[str, str]] = []

    def work(device: str) -> None:
        release.wait(5)
        calls.append((device, threading.current_thread().name))

    monkeypatch.setattr(warmup, "_work", work)
    warmup.start("cuda:0")
    warmup.start("cuda:0")  # a second build in the same process starts nothing
    assert calls == []  # still running: start does not block the build
    release.set()
    warmup.wait("cuda:0")
    assert calls == [("cuda:0", "regress-warm-up")]


def test_work_swallows_errors_the_judgement_will_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import regress.probing as probe

    def broken(_device: str) -> None:
        raise RuntimeError("no such device")

    monkeypatch.setattr(probe, "identity", broken)
    warmup._work("cuda:7")  # returns; the main thread's identity() raises where it is reported


@pytest.mark.parametrize(("compiling", "triton", "warmed"), [
    (True, True, True),     # a fresh machine: the torch path judges first, so it is warmed beside the build
    (False, True, False),   # the kernel was compiled before and is loaded: the torch path is not needed
    (False, False, True),   # no Triton: the torch path judges every comparison
])
def test_a_gpu_warms_the_torch_path_only_where_it_will_judge(monkeypatch: pytest.MonkeyPatch, compiling: bool,
                                                             triton: bool, warmed: bool) -> None:
    """A cold process judges its first comparisons on the torch path while the fused kernel
    compiles; the warm-up pays that path's first grouped convolution beside the build (0.8-1.3 s
    on a fresh H100, benchmarks/RESULTS.md), and only where that path will judge."""
    import regress.metrics.frames as frames
    import regress.probing as probing
    from regress.metrics import fused_compile

    seen: list[str] = []
    monkeypatch.setattr(probing, "identity", lambda device: seen.append("probe"))
    monkeypatch.setattr(frames, "_has_triton", lambda: triton)
    monkeypatch.setattr(fused_compile, "prepare",
                        lambda device: threading.Thread(target=lambda: None) if compiling else None)
    monkeypatch.setattr(warmup, "_warm_torch_path", lambda device: seen.append(f"torch path on {device}"))
    warmup._work("cuda:0")
    assert sorted(seen) == sorted(["probe", *(["torch path on cuda:0"] if warmed else [])])


def test_the_torch_path_warm_up_runs_the_comparison_it_prepares_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from regress.metrics import ssim

    calls: list[tuple[tuple[int, ...], str]] = []
    monkeypatch.setattr(ssim, "ssim_frames", lambda a, b, *, device: calls.append((a.shape, device)))
    warmup._warm_torch_path("cuda:0")
    assert calls == [((2, 32, 32, 3), "cuda:0")]
    monkeypatch.setattr(ssim, "ssim_frames", lambda a, b, *, device: 1 / 0)
    monkeypatch.setattr(warmup, "STEPS", [])
    warmup._step("torch path", lambda: warmup._warm_torch_path("cuda:0"))  # the judgement's to report
    assert warmup.STEPS[0][0] == "torch path" and warmup.STEPS[0][2].startswith("ZeroDivisionError")


def test_a_step_that_raises_leaves_the_probe_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused kernel's preparation raising must not skip the kernel probe: the probe is what
    a cold machine's first judgement otherwise pays on the main thread (3.9 s on a fresh H100,
    benchmarks/RESULTS.md)."""
    import regress.metrics.frames as frames
    import regress.probing as probing
    from regress.metrics import fused_compile

    seen: list[str] = []
    monkeypatch.setattr(warmup, "STEPS", [])
    monkeypatch.setattr(probing, "identity", lambda device: seen.append("probe"))
    monkeypatch.setattr(frames, "_has_triton", lambda: True)
    monkeypatch.setattr(fused_compile, "prepare", lambda device: 1 / 0)
    monkeypatch.setattr(warmup, "_warm_torch_path", lambda device: None)
    warmup._work("cuda:0")
    assert seen == ["probe"]
    assert [(name, error is None) for name, _, error in warmup.STEPS][:2] == [("fused kernel", False),
                                                                             ("kernel probe", True)]


# --------------------------------------------------------------------------- the fused kernel off the judging path

@pytest.fixture
def fused(monkeypatch: pytest.MonkeyPatch, tmp_path):  # noqa: ANN001, ANN201
    from regress.metrics import fused_compile

    fused_compile.reset()
    monkeypatch.setenv("REGRESS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused_compile, "_kernel_key", lambda device: "key")
    yield fused_compile
    fused_compile.reset()


def _frames(t: int = 1, h: int = 32, w: int = 32):  # noqa: ANN202
    import numpy as np

    return np.zeros((t, h, w, 3), np.uint8), np.ones((t, h, w, 3), np.uint8)


def test_a_judgement_never_compiles_it_takes_the_torch_path_until_the_kernel_is_loaded(
        fused, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """A fresh machine compiled the kernel on the first comparison of each shape class (20-40 s
    on an H100 lease): the first comparison now starts one background preparation and goes on."""
    import torch

    from regress.metrics import frames

    monkeypatch.setattr(frames, "_has_triton", lambda: True)
    started: list[tuple[str, list]] = []
    gate = threading.Event()
    monkeypatch.setattr(fused, "_prepare", lambda dev, variants: (started.append((dev, variants)), gate.wait(5)))
    a, b = _frames()
    dev = torch.device("cuda:0")
    assert not frames.fused_available(dev, a, b)
    assert not frames.fused_available(dev, a, b)  # still preparing: asked once
    gate.set()
    for _ in range(50):
        if started:
            break
        threading.Event().wait(0.01)
    assert started == [("cuda:0", [(3, 2)])]
    fused._ready.add(("cuda:0", (3, 2)))  # what _load does once the variant is loaded here
    assert frames.fused_available(dev, a, b)
    big = _frames(t=40, h=720, w=1280)  # three windows per lane: its own variant
    assert not frames.fused_available(dev, *big)


def test_a_machine_that_compiled_before_loads_in_the_warm_up(fused, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    loaded: list[list] = []
    monkeypatch.setattr(fused, "_load", lambda dev, variants: loaded.append(variants))
    monkeypatch.setattr(fused, "_compile_in_child", lambda *a: pytest.fail("no child where the marker says compiled"))
    for v in fused.STANDARD:
        marker = fused._marker("cuda:0", v)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    assert fused.prepare("cuda:0") is None  # loaded before it returns: the warm-up joins it as before
    assert loaded == [list(fused.STANDARD)]
    assert fused.prepare("cuda:0") is None and len(loaded) == 1  # once per process


def test_a_fresh_machine_compiles_in_a_child_then_loads_and_marks(fused, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    calls: list[str] = []
    monkeypatch.setattr(fused, "_compile_in_child", lambda dev, variants: calls.append("child") or None)
    monkeypatch.setattr(fused, "_launch", lambda dev, v: calls.append(f"load {v}"))
    thread = fused.prepare("cuda:0")
    assert thread is not None  # the warm-up does not wait for a compile
    thread.join(5)
    assert calls == ["child", "load (3, 2)", "load (3, 3)"]
    assert fused.state()["ready"] == [("cuda:0", (3, 2)), ("cuda:0", (3, 3))]
    assert all(fused._marker("cuda:0", v).exists() for v in fused.STANDARD)


def test_a_failed_compile_leaves_the_torch_path_and_says_why(fused, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(fused, "_compile_in_child", lambda dev, variants: "the fused kernel's compile failed: boom")
    monkeypatch.setattr(fused, "_launch", lambda dev, v: pytest.fail("nothing to load"))
    fused.prepare("cuda:0").join(5)
    st = fused.state()
    assert st["ready"] == [] and "boom" in st["errors"][("cuda:0", (3, 2))]
    assert not fused._marker("cuda:0", (3, 2)).exists()
    assert not fused.ready("cuda:0", (3, 2))  # given up: asked no more


def test_the_load_waits_for_a_measured_call(fused, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Loading allocates device memory and holds the interpreter: never inside a measured call."""
    events: list[str] = []
    monkeypatch.setattr(fused, "_launch", lambda dev, v: events.append("load"))
    QUIET.acquire()  # a pipeline call is being measured
    try:
        t = threading.Thread(target=fused._load, args=("cuda:0", [(3, 2)]))
        t.start()
        t.join(0.3)
        assert t.is_alive() and events == []
        events.append("call ends")
    finally:
        QUIET.release()
    t.join(5)
    assert events == ["call ends", "load"]


def test_the_meter_holds_quiet_for_the_whole_call() -> None:
    torch = pytest.importorskip("torch")
    from regress.runners.measurement import StageMeter

    class Built:
        meter = None

        def resident_bytes(self) -> int:
            return 0

    held: list[bool] = []

    def probe() -> None:
        held.append(not QUIET.acquire(blocking=False) or (QUIET.release() or False))

    with StageMeter(Built(), "cpu", cpu_memory=False):
        t = threading.Thread(target=probe)
        t.start()
        t.join()
        torch.zeros(1)
    t = threading.Thread(target=probe)
    t.start()
    t.join()
    assert held == [True, False]


def test_a_library_setting_kmp_variables_in_the_build_does_not_make_the_judgement_probe_again(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """What a fresh H100 showed (benchmarks/RESULTS.md, "A second fresh H100"): the warm-up probed
    beside the build, a library then set KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK, the probe's
    cache key changed, and the first judgement probed again on the main thread (2.9-3.1 s). The
    same process here: one build that sets both, one clean-process probe in all."""
    import os
    import time

    import numpy as np

    import regress
    from regress import probing
    from regress.numerics import Identity
    from regress.outputs import Output
    from regress.runners import Perf, RunResult
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    image = np.tile(np.linspace(0, 200, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))

    class Engine:
        name, output_kind, default_precision = "kmp-engine", "image", {"model": "fp32"}

        def build(self, case, precision, device):  # noqa: ANN001, ANN201
            for _ in range(500):  # as on the H100: the warm-up's probe starts while the build runs
                if probes:
                    break
                time.sleep(0.01)
            os.environ["KMP_DUPLICATE_LIB_OK"] = "True"  # (monkeypatch restores both: deleted below first)
            os.environ["KMP_INIT_AT_FORK"] = "FALSE"
            return None

        def run(self, pipe, case, device):  # noqa: ANN001, ANN201
            return RunResult(Output(image=image.copy()), {"model": "fp32"}, Perf(wall_s=0.0))

    regress.register_runner("kmp-engine", Engine())
    (tmp_path / "goldens").mkdir()
    suite_file = tmp_path / "goldens" / "suite.toml"
    suite_file.write_text('[store]\nkind = "file"\npath = "store"\n\n[defaults]\nssim = 0.99\nmax_abs = 2\n\n'
                          '[[case]]\nid = "kmp"\npipeline = "kmp-engine"\n')
    probes: list[str] = []
    monkeypatch.setenv("REGRESS_CACHE_DIR", "off")
    monkeypatch.setattr(probing, "measure_clean", lambda device: probes.append(device) or Identity(
        installed={"torch": "x"}, probe={"op": "digest"}, device="cpu"))

    def fresh_process() -> None:
        for name in ("KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(probing, "_CACHE", {})
        monkeypatch.setattr(warmup, "_STARTED", {})
        probes.clear()

    suite = load_suite(suite_file)
    for update in ("missing", "none"):  # the golden is made, then judged, each as in a new process
        fresh_process()
        session = GoldenSession(suite, Options(device="cpu", platform="cpu-avx2", update=update))
        try:
            run = session.check(suite.cases[0])
            if update == "missing":
                session.publish()
        finally:
            session.close()
        assert run.verdict.status in ("written", "passed"), run.verdict.reasons
    assert probes == ["cpu"], "the judgement probed again after the build changed the environment"
