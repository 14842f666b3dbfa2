"""Hostile inputs at the edges of a run (issue 24): a shape-true case the memory cannot hold,
``weights = "random"`` beside a model, pipelines cached under a key that leaves out what was
built, ``regress init`` where it cannot write, device strings that are not devices, and a
drift variant that never ends. Each is one line, exit code 2 where the CLI answers, nothing
allocated or written first, and each test failed on the code before its fix.

Nothing here allocates a released-size model or needs a GPU: free memory, GPU presence and
writability are faked where the real ones depend on the machine (tests run as root here)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from regress.cli import main
from test_hardening import BARE_SUITE

GiB = 2**30


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --------------------------------------------------------------------------- 1. shape-true fit, CPU too

def test_a_shape_true_build_the_host_cannot_hold_is_refused_before_it_allocates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a 6 GiB limit the 54 GiB qwen-image build allocated and died in the allocator; now
    the host's free memory is checked like a GPU's, before the scaffold or any weight exists."""
    pytest.importorskip("diffusers")
    import regress.shapes.memory as memory
    from regress.errors import RunnerError
    from regress.runners import get_runner
    from regress.suite import Case

    monkeypatch.setattr(memory, "host_free", lambda: memory.Free(free=5 * GiB, total=6 * GiB,
                                                                 source="cgroup memory.max"))
    runner = get_runner("qwen-image")

    def allocated(*_a, **_k):  # noqa: ANN202
        raise AssertionError("the build allocated before it was refused")

    monkeypatch.setattr(type(runner), "build_tiny", allocated)
    case = Case(id="qwen-full", pipeline="qwen-image", weights="random", height=1328, width=1328)
    with pytest.raises(RunnerError) as info:
        runner.build(case, {}, "cpu")
    line = str(info.value)
    assert "\n" not in line and "case 'qwen-full'" in line and "field 'weights'" in line
    assert "needs 53.7 GiB of weights" in line and "5.0 of 6.0 GiB free" in line and "cgroup memory.max" in line


def _cgroup(root: Path, *, limit: str, current: int, inactive: int) -> Path:
    root.mkdir()
    (root / "memory.max").write_text(limit + "\n")
    (root / "memory.current").write_text(f"{current}\n")
    (root / "memory.stat").write_text(f"anon 1\ninactive_file {inactive}\nactive_file 2\n")
    return root


def test_host_free_memory_is_the_smaller_of_memavailable_and_the_cgroup_limit(tmp_path: Path) -> None:
    from regress.shapes.memory import host_free

    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal: {64 * 2**20} kB\nMemFree: 1 kB\nMemAvailable: {20 * 2**20} kB\n")
    limited = _cgroup(tmp_path / "limited", limit=str(6 * GiB), current=2 * GiB, inactive=GiB)
    free = host_free(cgroup=limited, meminfo=meminfo)
    assert free is not None and free.free == 5 * GiB and free.source == "cgroup memory.max"  # page cache is free
    unlimited = _cgroup(tmp_path / "unlimited", limit="max", current=2 * GiB, inactive=0)
    free = host_free(cgroup=unlimited, meminfo=meminfo)
    assert free is not None and (free.free, free.total, free.source) == (20 * GiB, 64 * GiB, "MemAvailable")


# --------------------------------------------------------------------------- 2. weights = "random" beside a model

@pytest.mark.parametrize(("line", "field"), [('model = "tiny"', "model"), ('model = "org/name"', "model"),
                                             ('model_revision = "abc123"', "model_revision")])
def test_random_weights_beside_a_model_is_refused(tmp_path: Path, line, field, capsys) -> None:
    """`model = "tiny"` or a revision beside `weights = "random"` was accepted and ignored."""
    suite = tmp_path / "suite.toml"
    suite.write_text(BARE_SUITE + f'\n[[case]]\nid = "big"\npipeline = "sd"\nweights = "random"\n{line}\n')
    assert main(["check", "--suite", str(suite)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert str(suite) in err and "case 'big'" in err and f"field '{field}'" in err


# --------------------------------------------------------------------------- 3. the built-pipeline cache key

class _CountingRunner:
    def __init__(self) -> None:
        self.builds: list[str] = []

    def build(self, case, precision, device):  # noqa: ANN001, ANN201
        self.builds.append(case.id)
        return f"built for {case.id}"


def test_the_pipeline_cache_keys_everything_a_build_reads() -> None:
    """A tiny case and a shape-true case of one family shared one built pipeline: the key
    left out `weights`. Cases that differ only in what the call reads still share one."""
    from regress.pipelines import PipelineCache
    from regress.suite import Case

    runner, cache = _CountingRunner(), PipelineCache()
    tiny = Case(id="tiny", pipeline="sd")
    assert cache.get(runner, Case(id="tiny-64", pipeline="sd", height=64), {}, "cpu")[0] == "built for tiny-64"
    assert cache.get(runner, tiny, {}, "cpu")[0] == "built for tiny-64"  # only the call differs: shared
    assert cache.get(runner, Case(id="big", pipeline="sd", weights="random"), {}, "cpu")[0] == "built for big"
    assert cache.get(runner, Case(id="rev", pipeline="sd", model="org/m", model_revision="a"), {}, "cpu")[0] \
        == "built for rev"
    assert cache.get(runner, Case(id="rev-b", pipeline="sd", model="org/m", model_revision="b"), {}, "cpu")[0] \
        == "built for rev-b"
    assert cache.get(runner, tiny, {"unet": "bf16"}, "cpu")[0] == "built for tiny"
    other = type("OtherRunner", (_CountingRunner,), {})()  # a project's runner for the same name
    assert cache.get(other, tiny, {}, "cpu")[0] == "built for tiny"
    assert runner.builds == ["tiny-64", "big", "rev", "rev-b", "tiny"] and other.builds == ["tiny"]


# --------------------------------------------------------------------------- 4. regress init

def _tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``, with file contents and link targets: compared before and after."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            key = str(p.relative_to(root))
            out[key] = ("link:" + os.readlink(p)) if p.is_symlink() else (
                "dir" if p.is_dir() else p.read_bytes().decode("latin-1"))
    return out


def _read_only(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root ignores directory permissions, so chmod cannot make a read-only directory here:
    ``os.access`` (what init asks) answers "not writable" for ``path`` instead."""
    real = os.access

    def access(p, mode, *a, **k):  # noqa: ANN001, ANN202
        if Path(p) == path and mode & os.W_OK:
            return False
        return real(p, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize("setup", ["target-is-a-file", "tests-is-a-file", "goldens-is-a-file", "read-only",
                                   "read-only-parent", "pytest-ini-not-utf8", "pyproject-is-a-directory",
                                   "dangling-conftest-link", "dangling-goldens-link"])
def test_init_that_cannot_write_everything_writes_nothing(tmp_path: Path, setup: str,
                                                         monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "proj"
    project.mkdir()
    target = project
    outside = tmp_path / "outside.py"  # where a dangling link points: must stay absent
    if setup == "target-is-a-file":
        target = project / "file"
        target.write_text("x")
    elif setup in ("tests-is-a-file", "goldens-is-a-file"):
        (project / setup.split("-")[0]).write_text("a file\n")
    elif setup == "read-only":
        _read_only(project, monkeypatch)
    elif setup == "read-only-parent":
        target = project / "new" / "deeper"
        _read_only(project, monkeypatch)
    elif setup == "pytest-ini-not-utf8":
        (project / "pytest.ini").write_bytes(b"[pytest]\ntestpaths = tests \xff\n")
    elif setup == "pyproject-is-a-directory":
        (project / "pyproject.toml").mkdir()
    elif setup == "dangling-conftest-link":
        (project / "conftest.py").symlink_to(outside)
    elif setup == "dangling-goldens-link":
        (project / "goldens").symlink_to(tmp_path / "nowhere")
    before = _tree(tmp_path)
    assert main(["init", str(target)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "nothing was written" in err
    assert _tree(tmp_path) == before and not outside.exists()


def test_init_that_fails_part_way_removes_what_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys) -> None:
    """A write that fails after others succeeded (a full disk) leaves no half scaffold."""
    import errno

    real_open = Path.open

    def open_(self: Path, mode: str = "r", *a, **k):  # noqa: ANN002, ANN003, ANN202
        if self.name == "suite.toml" and "x" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_open(self, mode, *a, **k)

    monkeypatch.setattr(Path, "open", open_)
    monkeypatch.chdir(tmp_path)
    assert main(["init", "proj"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "suite.toml" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_init_reads_a_percent_in_testpaths_as_text(tmp_path: Path, capsys) -> None:
    """configparser's interpolation made `%` in an ini value a traceback after the files were written."""
    (tmp_path / "tox.ini").write_text("[pytest]\ntestpaths = %tests\n")
    assert main(["init", str(tmp_path)]) == 0
    assert "pytest's testpaths (%tests) leave out goldens/" in capsys.readouterr().out


# --------------------------------------------------------------------------- 5. --device

_PAIR = ("a.png", "b.png")


def _pngs(directory: Path) -> list[str]:
    import numpy as np
    from PIL import Image

    for name in _PAIR:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(directory / name)
    return [str(directory / n) for n in _PAIR]


@pytest.mark.parametrize("device", ["nonsense", "cuda", "cuda:7", "meta", ""])
@pytest.mark.parametrize("command", ["compare", "env", "refresh", "calibrate", "sweep", "bisect", "adopt", "ab"])
def test_a_device_that_is_not_one_here_is_one_line_before_anything_runs(
        tmp_path: Path, command: str, device: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`--device nonsense` was a traceback in compare and ran on the CPU under `env`; `--device
    cuda` without a GPU a traceback. The GPU is faked away, so this holds on a GPU machine too."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)  # hermetic: on the code before the fix, some of these ran the suite
    (tmp_path / "suite.toml").write_text(BARE_SUITE)
    args = {"compare": ["compare", *_pngs(tmp_path)], "bisect": ["bisect", "some-case"],
            "ab": ["ab", "HEAD"]}.get(command, [command])
    with pytest.raises(SystemExit) as info:
        main([*args, "--suite", str(tmp_path / "suite.toml"), "--device", device])
    assert info.value.code == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("regress: argument --device:") and repr(device) in err


def test_a_gpu_index_past_the_last_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from regress.devices import DeviceError, check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(DeviceError, match=r"'cuda:2': torch sees 2 GPU\(s\) here \(cuda:0 to cuda:1\)"):
        check_device("cuda:2")


@pytest.mark.parametrize("device", ["nonsense", "cuda"])
def test_the_plugin_and_library_device_is_checked_before_the_platform(
        tmp_path: Path, device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--golden-device` and `Options(device=...)` reach the run through the session: a bad
    one is a RegressError (the plugin's one-line collection error), not a CPU run or a traceback."""
    import torch

    from regress.devices import DeviceError
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (tmp_path / "suite.toml").write_text(BARE_SUITE)
    session = GoldenSession(load_suite(tmp_path / "suite.toml"), Options(device=device))
    with pytest.raises(DeviceError, match=repr(device)):
        _ = session.platform


# --------------------------------------------------------------------------- 6. drift variant timeout

def _hanging_python(tmp_path: Path) -> str:
    """A stand-in for `python -m regress.drift ...` that hangs, with a child holding its pipes."""
    script = tmp_path / "hang.sh"
    script.write_text("#!/bin/sh\nsleep 60 &\nsleep 60\n")
    script.chmod(0o755)
    return str(script)


def test_a_drift_variant_that_hangs_is_stopped_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from regress.drift import DriftError, Variant, run_variant
    from regress.env import REGRESS_DRIFT_TIMEOUT

    monkeypatch.setattr(sys, "executable", _hanging_python(tmp_path))
    kwargs = {"suite_path": tmp_path / "suite.toml", "device": "cpu", "repeats": 2, "case_ids": ["c"],
              "out_dir": tmp_path}
    t0 = time.monotonic()
    with pytest.raises(DriftError) as info:
        run_variant(Variant("sdpa math", {}), timeout_s=0.5, **kwargs)
    assert time.monotonic() - t0 < 10  # the child holding the pipes was stopped too
    assert "\n" not in str(info.value) and "'sdpa math'" in str(info.value) and REGRESS_DRIFT_TIMEOUT in str(info.value)

    monkeypatch.setenv(REGRESS_DRIFT_TIMEOUT, "0.5")  # configurable without code
    with pytest.raises(DriftError, match=r"'tf32 on' ran past its timeout of 0\.5 s"):
        run_variant(Variant("tf32 on", {}), **kwargs)
    monkeypatch.setenv(REGRESS_DRIFT_TIMEOUT, "soon")
    with pytest.raises(DriftError, match=rf"{REGRESS_DRIFT_TIMEOUT}='soon': must be a number of seconds"):
        run_variant(Variant("tf32 on", {}), **kwargs)
