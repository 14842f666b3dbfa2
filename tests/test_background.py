"""The I/O thread: deferred work is waited for and its first error surfaces at drain; work
whose result the caller collects never leaks its error into drain."""

from __future__ import annotations

import threading

import pytest

from regress.background import Background


def test_deferred_work_runs_in_order_off_the_main_thread() -> None:
    bg = Background()
    seen: list[tuple[int, bool]] = []
    for i in range(5):
        bg.defer(lambda i=i: seen.append((i, threading.current_thread() is threading.main_thread())))
    bg.drain()
    assert seen == [(i, False) for i in range(5)]
    bg.close()


def test_drain_raises_the_first_deferred_error_once() -> None:
    bg = Background()

    def fail(msg: str) -> None:
        raise OSError(msg)

    bg.defer(fail, "disk full")
    bg.defer(fail, "second")
    with pytest.raises(OSError, match="disk full"):
        bg.drain()
    bg.drain()  # already reported: nothing pending
    bg.close()


def test_submitted_errors_belong_to_the_caller() -> None:
    bg = Background()
    fut = bg.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        fut.result()
    bg.drain()  # not deferred: drain does not raise it again
    assert bg.submit(lambda: 41 + 1).result() == 42
    bg.close()


def test_a_golden_that_fails_verification_on_the_io_thread_is_an_error_verdict(project, tmp_path) -> None:
    """check() reads the golden on the I/O thread while the case runs: a file that no longer
    matches its meta (pin re-signed, meta not) is still this case's one-line error."""
    import dataclasses

    from regress.lock import read_lock, write_lock
    from regress.session import GoldenSession, Options
    from regress.stores.file import tree_hash
    from regress.suite import load_suite

    suite = load_suite(project / "goldens" / "suite.toml")
    (png,) = (suite.store.path / "cases" / "qwen").glob("*/output.png")
    png.write_bytes(png.read_bytes()[:-12] + bytes(12))
    lock = read_lock(suite.lock_path, suite.store)
    write_lock(suite.lock_path, dataclasses.replace(lock, revision=tree_hash(suite.store.path)))
    session = GoldenSession(suite, Options(device="cpu", report_dir=tmp_path / "report"))
    v = session.check(suite.case("qwen")).verdict
    assert v.status == "error" and len(v.reasons) == 1
    assert "output.png" in v.reasons[0] and "sha256 does not match" in v.reasons[0]
    session.write_report()  # the error case's media were written without an error of their own
    assert (tmp_path / "report" / "results.json").exists()


def test_a_cases_media_are_written_while_the_next_case_runs(golden_project, tmp_path) -> None:
    """A judged case's media wait for the next pipeline to start (the writer then competes with
    the pipeline, not with pytest's per-test work); the report waits for all of them."""
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    suite = load_suite(golden_project / "goldens" / "suite.toml")
    report = tmp_path / "report"
    session = GoldenSession(suite, Options(device="cpu", report_dir=report))
    first = session.check(suite.case("qwen")).verdict
    assert session.media_of(first) is None and not (report / "cases").exists()  # held until the next case starts
    second = session.check(suite.case("wan")).verdict
    assert session.media_of(first).files and session.media_of(second) is None  # the first's went out when wan started
    session.write_report()
    files = [f for v in (first, second) for f in session.media_of(v).files.values()]
    assert len(files) >= 4 and all((report / f).is_file() for f in files)
    assert not hasattr(first, "files")  # the report only reads the verdict: its media are records of their own
    session.close()
