"""Several GPUs on one machine: pytest-xdist with one worker per GPU.

Each worker pins itself to one device by setting ``CUDA_VISIBLE_DEVICES`` and
``HIP_VISIBLE_DEVICES`` in ``pytest_configure``, before anything initialises CUDA (regress
imports torch only when a golden case is collected). Worker ``gwK`` takes the K-th entry of
the devices the controller could see (``REGRESS_WORKER_DEVICES``, else ``HIP_VISIBLE_DEVICES``,
else ``CUDA_VISIBLE_DEVICES``, else ``0, 1, 2, ...``), wrapping around when there are more
workers than devices.

Each worker writes its own report under ``<report>/workers/<id>/`` and hands its results to
the controller (xdist's ``workeroutput``); the controller merges them with the code of
``regress report merge`` into ``<report>/`` and writes the GitHub summary once. No two
processes write the same file. ``--golden-update`` is refused under xdist: every worker would
publish its own goldens and rewrite the same lock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from .env import CUDA_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES, REGRESS_WORKER_DEVICES

DEVICE_VARS = (CUDA_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES)
WORKERS_DIR = "workers"
OUTPUT_KEY = "regress_results"  # workeroutput entry: a JSON list of results documents


def worker_id(config: pytest.Config) -> str | None:
    """'gw0' on an xdist worker, None elsewhere."""
    wi = getattr(config, "workerinput", None)
    return str(wi["workerid"]) if wi else None


def is_controller(config: pytest.Config) -> bool:
    """True in the xdist controller process of a distributed run (it runs no test itself)."""
    return (worker_id(config) is None and getattr(config.option, "dist", "no") != "no"
            and bool(getattr(config.option, "tx", None)))


def device_for(worker: str, environ: dict[str, str] | os._Environ[str]) -> str:
    """The device id worker ``gwK`` should see, from the devices visible to the controller."""
    m = re.search(r"(\d+)$", worker)
    index = int(m.group(1)) if m else 0
    for var in (REGRESS_WORKER_DEVICES, HIP_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES):
        listed = [d.strip() for d in environ.get(var, "").split(",") if d.strip()]
        if listed:
            return listed[index % len(listed)]
    return str(index)


def pin_device(worker: str) -> str:
    """Restrict this worker process to one GPU (CUDA and ROCm alike)."""
    device = device_for(worker, os.environ)
    for var in DEVICE_VARS:
        os.environ[var] = device
    return device


def worker_report_dir(report_dir: Path, worker: str) -> Path:
    return report_dir / WORKERS_DIR / worker


def configure(config: pytest.Config, *, report_dir: Path | None) -> None:
    """Called from the plugin's ``pytest_configure``, with the run's report directory (from
    the command line or the ini file, resolved)."""
    worker = worker_id(config)
    distributed = worker is not None or is_controller(config)
    if distributed and config.getoption("--golden-update") != "none":
        raise pytest.UsageError("--golden-update cannot run under pytest-xdist (-n): every worker would publish "
                                "its own goldens and rewrite goldens.lock; run it without -n, or use "
                                "`regress refresh`")
    if worker is not None:
        pin_device(worker)
    elif is_controller(config):
        if report_dir is not None:  # results of an earlier distributed run must not be merged into this one
            shutil.rmtree(report_dir / WORKERS_DIR, ignore_errors=True)
        config.pluginmanager.register(Controller(config, report_dir=report_dir), "regress-xdist-controller")


def hand_over(config: pytest.Config, docs: list[dict[str, Any]]) -> None:
    """On a worker: give this worker's results documents to the controller."""
    out = getattr(config, "workeroutput", None)
    if out is not None:
        out[OUTPUT_KEY] = json.dumps(docs)


class Controller:
    """Collects the workers' results and writes the one merged report."""

    def __init__(self, config: pytest.Config, *, report_dir: Path | None) -> None:
        self.config = config
        self.report_dir = report_dir
        self.docs: list[tuple[str, dict[str, Any]]] = []
        self.merged: dict[str, Any] | None = None

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        out = getattr(node, "workeroutput", None) or {}
        worker = str(getattr(getattr(node, "gateway", None), "id", None) or f"worker{len(self.docs)}")
        for doc in json.loads(out.get(OUTPUT_KEY) or "[]"):
            self.docs.append((worker, doc))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.docs:
            return
        from .report import write_doc_report
        from .report.github import emit
        from .report.merge import RunDir, merge_docs

        out = self.report_dir
        runs = []
        for worker, doc in sorted(self.docs, key=lambda wd: wd[0]):
            root = worker_report_dir(out, worker) if out else Path(".")
            runs.append(RunDir(root=root, doc=doc, label=f"{WORKERS_DIR}/{worker}"))
        merged = merge_docs(runs, out=out, coverage=False)
        self.merged = merged
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if out is not None:
            path = write_doc_report(out, merged)
            if tr:
                tr.write_line(f"regress: merged {len(runs)} worker report(s) into {path}")
        emit(merged, write=tr.write_line if tr else print)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.merged is not None:
            from .report.summary import write_drift_lines

            write_drift_lines(terminalreporter, self.merged.get("cases") or [])
