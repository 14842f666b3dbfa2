"""The file store: content-hash pin, lookup with fallback, all-or-nothing publish."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from regress.errors import StoreError, SuiteError
from regress.lock import EMPTY, Lock, read_lock, write_lock
from regress.outputs import Output
from regress.stores.base import StagedGolden, lookup
from regress.stores.file import FileStore, tree_hash


def image(v: int = 7) -> Output:
    rng = np.random.default_rng(v)
    return Output(image=rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))


def staged(case: str, platform: str, v: int = 7) -> StagedGolden:
    return StagedGolden(case, platform, image(v), {"case": case, "precision": {"vae": "bf16"}})


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store", lock=None, lock_path=tmp_path / "goldens.lock")


def test_publish_writes_files_meta_and_lock(store: FileStore, tmp_path: Path) -> None:
    rev = store.publish([staged("a", "cpu-avx2"), staged("b", "cuda-sm90")])
    assert rev.startswith("sha256:") and rev == tree_hash(store.root)
    assert read_lock(tmp_path / "goldens.lock").revision == rev
    meta = json.loads((store.root / "cases/a/cpu-avx2/meta.json").read_text())
    assert meta["schema"] == 1 and set(meta["files"]) == {"output.png"}
    g = store.get("a", "cpu-avx2")
    assert g is not None and np.array_equal(g.output().image, image().image)
    assert store.entries() == [("a", "cpu-avx2"), ("b", "cuda-sm90")]


def test_reopened_store_checks_its_pin(store: FileStore, tmp_path: Path) -> None:
    store.publish([staged("a", "cpu-avx2")])
    lock = read_lock(tmp_path / "goldens.lock")
    FileStore(store.root, lock=lock, lock_path=tmp_path / "goldens.lock")  # matches: fine
    png = store.root / "cases/a/cpu-avx2/output.png"
    png.write_bytes(png.read_bytes() + b"\0")
    with pytest.raises(StoreError, match="does not match the pin"):
        FileStore(store.root, lock=lock, lock_path=tmp_path / "goldens.lock")


def test_goldens_without_a_lock_are_an_error(store: FileStore, tmp_path: Path) -> None:
    store.publish([staged("a", "cpu-avx2")])
    (tmp_path / "goldens.lock").unlink()
    with pytest.raises(StoreError, match="missing"):
        FileStore(store.root, lock=None, lock_path=tmp_path / "goldens.lock")


def test_corrupted_output_is_caught_by_meta_sha(store: FileStore) -> None:
    store.publish([staged("a", "cpu-avx2")])
    g = store.get("a", "cpu-avx2")
    (g.directory / "output.png").write_bytes(image(9).encode()["output.png"])
    with pytest.raises(StoreError, match="sha256 does not match"):
        g.output()


def test_failed_publish_leaves_store_and_lock_untouched(store: FileStore, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rev = store.publish([staged("a", "cpu-avx2", 1)])
    lock_before = (tmp_path / "goldens.lock").read_bytes()
    monkeypatch.setenv("REGRESS_FAIL_AT", "before-lock")
    with pytest.raises(StoreError, match="injected"):
        store.publish([staged("a", "cpu-avx2", 2), staged("new", "cpu-avx2", 3)])
    assert (tmp_path / "goldens.lock").read_bytes() == lock_before
    assert tree_hash(store.root) == rev
    assert not (store.root / "cases/new").exists()
    # no staging leftovers (the publishers' inter-process lock file stays, hidden and not content)
    assert sorted(p.name for p in store.root.iterdir()) == [".regress-publish.lock", "cases"]


def test_lookup_exact_then_nearest_then_missing(store: FileStore) -> None:
    store.publish([staged("a", "cuda-sm80"), staged("a", "cpu-avx2")])
    assert lookup(store, "a", "cpu-avx2")[1] == "exact"
    g, match = lookup(store, "a", "cuda-sm90")
    assert match == "nearest" and g.platform == "cuda-sm80"
    assert lookup(store, "a", "rocm-gfx942") == (None, "missing")
    assert lookup(store, "zzz", "cpu-avx2") == (None, "missing")


def test_lock_roundtrip_and_validation(tmp_path: Path) -> None:
    p = tmp_path / "goldens.lock"
    write_lock(p, Lock(kind="hf", repo="org/g", repo_type="dataset", revision="a" * 40))
    lock = read_lock(p)
    assert lock.is_commit_sha and lock.repo == "org/g"
    p.write_text('kind = "file"\nrevision = "main"\n')
    with pytest.raises(SuiteError, match="field 'revision'"):
        read_lock(p)
    write_lock(p, Lock(kind="file", revision=EMPTY))
    assert read_lock(p).revision == EMPTY
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".goldens")]


def test_sha256_memo_sees_every_rewrite(tmp_path: Path) -> None:
    """The process-wide digest memo answers a second look at an unchanged file, never a changed one."""
    import hashlib

    from regress.stores.base import sha256_file

    p = tmp_path / "image.png"
    p.write_bytes(b"a" * 100)
    first = sha256_file(p)
    assert first == hashlib.sha256(b"a" * 100).hexdigest() == sha256_file(p)
    p.write_bytes(b"b" * 100)  # same size, rewritten in place
    assert sha256_file(p) == hashlib.sha256(b"b" * 100).hexdigest()
    q = tmp_path / "other.png"
    q.write_bytes(b"c" * 100)
    q.replace(p)  # swapped in by rename, as the stores publish
    assert sha256_file(p) == hashlib.sha256(b"c" * 100).hexdigest()


def test_tree_walk_keeps_the_order_pins_were_made_with(tmp_path: Path) -> None:
    """Part-by-part order, as sorted Path objects: 'a/b' before 'a-b' (a plain string sort
    would swap them and change every pin)."""
    from regress.stores.tree import list_files as _files

    for rel in ("a/b", "a-b", "a/c/d", "a.b", "b", ".hidden/x", "a/.gitkeep", "A", "a_b/c"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    expected = [p.relative_to(tmp_path).parts for p in sorted(tmp_path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(tmp_path).parts)]
    assert _files(tmp_path) == expected
    assert _files(tmp_path / "missing") == []


def test_a_verified_store_answers_lookups_from_its_walk(store: FileStore, tmp_path: Path) -> None:
    """The pin check's walk doubles as the index of goldens: same answers as the directories,
    and after a publish the disk is read again."""
    store.publish([staged("b", "cuda-sm90"), staged("a", "cpu-avx2"), staged("a", "cuda-sm80")])
    (store.root / "cases/a/rocm-gfx942").mkdir()  # a folder without meta.json is no golden
    lock_path = tmp_path / "goldens.lock"
    opened = FileStore(store.root, lock=read_lock(lock_path), lock_path=lock_path)
    disk = FileStore(store.root, lock=read_lock(lock_path), lock_path=lock_path, verify=False)
    assert opened._index is not None and disk._index is None
    assert opened.entries() == disk.entries() == [("a", "cpu-avx2"), ("a", "cuda-sm80"), ("b", "cuda-sm90")]
    for case in ("a", "b", "zzz"):
        assert opened.platforms(case) == disk.platforms(case)
    assert lookup(opened, "a", "cuda-sm90")[0].platform == "cuda-sm80"
    opened.publish([staged("c", "cpu-avx2")])
    assert opened._index is None and ("c", "cpu-avx2") in opened.entries()


def test_both_stores_implement_the_whole_store_contract(store: FileStore, tmp_path: Path) -> None:
    """The Store protocol is the whole contract: the file store and the Hub store each have all
    of it (callers never probe a store for a member)."""
    from regress.lock import Lock
    from regress.stores.base import Store
    from regress.stores.hf import HfStore, HubSettings
    from regress.suite import StoreSpec

    members = ("kind", "revision", "last_publish", "platforms", "get", "entries", "file", "publish", "publish_files")
    assert set(members) == set(Store.__protocol_attrs__ if hasattr(Store, "__protocol_attrs__")
                               else Store.__annotations__.keys() | {m for m in dir(Store) if not m.startswith("_")})
    hub = HfStore(StoreSpec(kind="hf", repo="org/goldens"), lock=Lock(kind="hf", repo="org/goldens",
                                                                      repo_type="dataset", revision="a" * 40),
                  lock_path=tmp_path / "goldens.lock", api=object(),
                  settings=HubSettings(endpoint="http://127.0.0.1:9", cache_dir=tmp_path / "hf", offline=True))
    for s in (store, hub):
        assert isinstance(s, Store), type(s).__name__
        assert all(hasattr(s, m) for m in members)
