"""regress.warmup: the judgement's one-time GPU costs run beside the first build, once."""

from __future__ import annotations

import threading

import pytest

from regress import warmup


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "_STARTED", {})


def test_the_cpu_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "_work", lambda _d: pytest.fail("no warm-up on the CPU"))
    warmup.start("cpu")
    warmup.wait("cpu")
    assert warmup._STARTED == {}


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
