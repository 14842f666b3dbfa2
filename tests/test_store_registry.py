"""The shape of the store package (issue 25): stores register like runners do, one helper
writes a file atomically, goldens.lock is rendered by tomli-w, and each module holds one job.

Bad input stays one line with exit code 2 (an unknown store kind, a third-party store that
fails to load); the lock's bytes are those the f-string renderer wrote, so no pin moves.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from regress.cli import main
from regress.errors import StoreError
from regress.lock import Lock, read_lock, write_lock
from regress.stores import known_kinds, open_store, register_store, unregister_store
from regress.suite import load_suite

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "regress"

CASE = '''
[defaults]
ssim = 0.99

[[case]]
id = "a"
pipeline = "qwen-image"
prompt = "p"
height = 16
width = 16
steps = 1
'''


def suite_file(tmp_path: Path, store: str) -> Path:
    path = tmp_path / "goldens" / "suite.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[store]\n{store}\n{CASE}")
    return path


class MemoryStore:
    """A third-party store: no files, two goldens listed, a fixed revision."""

    kind = "memory"
    revision = "mem:7"
    last_publish = None

    def __init__(self, where: str) -> None:
        self.where = where

    @classmethod
    def from_suite(cls, suite, *, lock, options):  # noqa: ANN001, ANN206
        return cls(str(suite.store.repo))

    def platforms(self, case_id: str) -> list[str]:
        return ["cpu-avx2"] if case_id == "a" else []

    def get(self, case_id: str, platform: str):  # noqa: ANN201
        return None

    def entries(self) -> list[tuple[str, str]]:
        return [("a", "cpu-avx2"), ("old", "cpu-avx2")]

    def file(self, relpath: str):  # noqa: ANN201
        return None

    def publish(self, staged, *, message: str = "") -> str:  # noqa: ANN001
        return self.revision

    def publish_files(self, files, *, message: str = "") -> str:  # noqa: ANN001
        return self.revision


@pytest.fixture
def memory_kind():  # noqa: ANN201
    register_store("memory", MemoryStore)
    yield "memory"
    unregister_store("memory")


# --------------------------------------------------------------------------- the registry


def test_a_store_registered_in_code_opens_the_suites_kind(tmp_path: Path, memory_kind: str, capsys) -> None:
    suite = load_suite(suite_file(tmp_path, 'kind = "memory"\nrepo = "bucket/goldens"'))
    store = open_store(suite)
    assert isinstance(store, MemoryStore) and store.where == "bucket/goldens"
    assert "memory" in known_kinds() and {"file", "hf", "git"} <= set(known_kinds())
    # the CLI resolves the kind through the same registry
    assert main(["check", "--suite", str(suite.path)]) == 0
    out = capsys.readouterr().out
    assert "2 goldens, store memory at mem:7" in out and "unused golden: old [cpu-avx2]" in out


def test_a_registered_store_wins_over_a_builtin_kind(tmp_path: Path) -> None:
    register_store("file", MemoryStore)
    try:
        store = open_store(load_suite(suite_file(tmp_path, 'kind = "file"\npath = "store"')))
    finally:
        unregister_store("file")
    assert isinstance(store, MemoryStore)
    assert type(open_store(load_suite(suite_file(tmp_path, 'kind = "file"\npath = "store"')))).__name__ == "FileStore"


def test_an_unknown_kind_is_one_line_listing_the_known_kinds(tmp_path: Path, capsys) -> None:
    path = suite_file(tmp_path, 'kind = "s3"\npath = "store"')
    with pytest.raises(StoreError) as ei:
        open_store(load_suite(path))
    msg = str(ei.value)
    assert "\n" not in msg and f"{path}: field 'store.kind': unknown store kind 's3'" in msg
    assert "known: file, git, hf;" in msg and "register_store" in msg and "'regress.stores' entry point" in msg
    assert main(["check", "--suite", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown store kind 's3'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_kind_that_is_not_a_name_is_refused_by_the_parser(tmp_path: Path, capsys) -> None:
    assert main(["check", "--suite", str(suite_file(tmp_path, 'kind = "../s3"'))]) == 2
    assert "field 'store.kind'" in capsys.readouterr().err


def test_a_store_class_without_from_suite_is_one_line(tmp_path: Path) -> None:
    register_store("memory", object)
    try:
        with pytest.raises(StoreError, match=r"store kind 'memory' from register_store has no from_suite") as ei:
            open_store(load_suite(suite_file(tmp_path, 'kind = "memory"')))
    finally:
        unregister_store("memory")
    assert "\n" not in str(ei.value)


def _site(tmp_path: Path, name: str, module: str) -> Path:
    """What `pip install` of a third-party store leaves on sys.path: its module ``name`` and a
    dist-info whose entry_points.txt names its ``Bucket`` in the 'regress.stores' group."""
    site = tmp_path / "site"
    dist = site / f"{name}-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[regress.stores]\nbucket = {name}:Bucket\n")
    (site / f"{name}.py").write_text(module)
    return site


def test_an_entry_point_store_is_found_without_registering(tmp_path: Path, monkeypatch) -> None:
    module = ("class Bucket:\n    kind = 'bucket'\n    @classmethod\n"
              "    def from_suite(cls, suite, *, lock, options):\n        b = cls(); b.opts = options; return b\n")
    monkeypatch.syspath_prepend(str(_site(tmp_path, "bucket_store_ok", module)))
    assert "bucket" in known_kinds()
    store = open_store(load_suite(suite_file(tmp_path, 'kind = "bucket"')), strict=True)
    assert type(store).__name__ == "Bucket" and store.opts.strict and store.opts.verify


def test_an_entry_point_that_fails_to_load_is_one_line(tmp_path: Path, monkeypatch) -> None:
    module = "import sys\nsys.exit(3)\n"
    monkeypatch.syspath_prepend(str(_site(tmp_path, "bucket_store_exits", module)))
    with pytest.raises(StoreError) as ei:
        open_store(load_suite(suite_file(tmp_path, 'kind = "bucket"')))
    msg = str(ei.value)
    assert "\n" not in msg and "field 'store.kind'" in msg
    assert "loading store kind 'bucket' from entry point bucket_store_exits:Bucket: SystemExit: 3" in msg


def test_a_file_store_refuses_hub_publish_options_through_the_registry(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="--publish / --create-pr need a Hub store"):
        open_store(load_suite(suite_file(tmp_path, 'kind = "file"\npath = "store"')), publish="git")


# --------------------------------------------------------------------------- goldens.lock


def test_the_repositorys_lock_rewritten_by_tomli_w_is_byte_identical(tmp_path: Path) -> None:
    for name in ("goldens/goldens.lock", "examples/custom_runner/goldens/goldens.lock",
                 "benchmarks/full/goldens.lock"):
        original = (REPO / name).read_bytes()
        lock = read_lock(REPO / name)
        copy = tmp_path / name.replace("/", "_")
        write_lock(copy, lock)
        assert copy.read_bytes() == original, name
        assert read_lock(copy) == lock


def test_a_hub_lock_keeps_the_format_it_always_had(tmp_path: Path) -> None:
    lock = Lock(kind="hf", repo="org/goldens", repo_type="dataset", revision="a" * 40)
    assert lock.render() == ("# Pins the golden store. `regress refresh` rewrites `revision`; review its diff like "
                             'code.\nkind = "hf"\nrepo = "org/goldens"\nrepo_type = "dataset"\n'
                             f'revision = "{"a" * 40}"\n')


def test_a_lock_value_an_f_string_would_break_is_quoted(tmp_path: Path) -> None:
    lock = Lock(kind="custom", repo='org/"odd"\\name', repo_type="dataset", revision="main")
    write_lock(tmp_path / "goldens.lock", lock)
    assert read_lock(tmp_path / "goldens.lock") == lock


def test_tomli_w_is_declared_with_a_bound_the_installed_version_meets() -> None:
    from importlib.metadata import version

    from packaging.requirements import Requirement

    from regress.suite import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "tomli-w"]
    assert str(req.specifier).startswith(">=") and req.specifier.contains(version("tomli-w"))


# --------------------------------------------------------------------------- the atomic write


def test_write_atomic_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    from regress.atomic import write_atomic

    target = tmp_path / "deep" / "results.json"
    write_atomic(target, "old")
    write_atomic(target, b"new bytes")
    assert target.read_bytes() == b"new bytes" and os.listdir(target.parent) == ["results.json"]
    mask = os.umask(0o022)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # as open() would create it, not mkstemp's 0o600


def test_write_atomic_keeps_the_old_file_when_the_write_fails(tmp_path: Path, monkeypatch) -> None:
    from regress import atomic

    target = tmp_path / "goldens.lock"
    target.write_text("pinned")

    def refuse(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", refuse)
    with pytest.raises(OSError):
        atomic.write_atomic(target, "half")
    assert target.read_text() == "pinned" and os.listdir(tmp_path) == ["goldens.lock"]


def test_only_the_atomic_helper_writes_then_replaces() -> None:
    """One copy of write-then-replace: elsewhere ``os.replace`` only moves whole entries (the
    file store's journaled swap and its recovery), and no module renames a temporary file."""
    movers = {"atomic.py", "stores/journal.py", "stores/recovery.py"}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel == "atomic.py":
            continue
        assert "os.replace(" not in text or rel in movers, rel
        assert not re.search(r"\btmp\w*\.(replace|rename)\(|mkstemp", text), rel


# --------------------------------------------------------------------------- one job per module


def test_store_modules_stay_small() -> None:
    """No module of the store package (nor the lock, nor the atomic write) over 300 lines
    unless its docstring says why it must be one file."""
    paths = [*sorted((PACKAGE / "stores").glob("*.py")), PACKAGE / "lock.py", PACKAGE / "atomic.py"]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert len(text.splitlines()) <= 300 or "one file" in doc, path.name
