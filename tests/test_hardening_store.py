"""Hostile input and failures around the golden stores: recovery that can only touch the store,
a lock that is the commit point, lock paths that are not files, readers that never wait
silently, the Hub's pull-request pins and typed errors, the offline switch parsed as
huggingface_hub parses it, and git that cannot hang. Each test failed on the code before its fix.

The file-store tests build a small project of their own (synthetic goldens, no pipeline), so
that "every file outside the store is byte-identical" is checked over the whole project tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from regress.cli import main
from regress.errors import RegressError, StoreError
from regress.lock import read_lock
from regress.outputs import Output
from regress.stores.base import StagedGolden
from regress.stores.file import LOCK_FILE, WORK_PREFIX, FileStore, RecoveryWarning, tree_hash

REPO = Path(__file__).resolve().parent.parent

SUITE = """
[store]
kind = "file"
path = "store"
"""


def staged(case: str, platform: str = "cpu-avx2", v: int = 1) -> StagedGolden:
    img = np.random.default_rng(v).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return StagedGolden(case, platform, Output(image=img), {"case": case, "precision": {"vae": "bf16"}})


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """A project: a pyproject.toml (its root marker), the project's conftest.py and tests, a
    directory beside the store, and a file store with two goldens pinned by goldens/goldens.lock."""
    root = tmp_path / "proj"
    (root / "goldens" / "beside" / "cpu-avx2").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (root / "conftest.py").write_text("# the project's conftest: recovery must never touch it\n")
    (root / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (root / "goldens" / "beside" / "keep.txt").write_text("beside the store\n")
    (root / "goldens" / "beside" / "cpu-avx2" / "meta.json").write_text("{}\n")
    (root / "goldens" / "suite.toml").write_text(SUITE)
    store = FileStore(root / "goldens" / "store", lock=None, lock_path=root / "goldens" / "goldens.lock")
    store.publish([staged("a", v=1), staged("b", v=2)])
    return root


def store_root(proj: Path) -> Path:
    return proj / "goldens" / "store"


def lock_path(proj: Path) -> Path:
    return proj / "goldens" / "goldens.lock"


def open_store(proj: Path) -> FileStore:
    return FileStore(store_root(proj), lock=read_lock(lock_path(proj)), lock_path=lock_path(proj))


def outside(proj: Path, *, skip_lock: bool = True) -> dict[str, str]:
    """Every entry of the project tree except the store (and, unless asked, the lock, which a
    publish legitimately rewrites): path -> sha256 of a file, or the target of a link."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(proj):
        d = Path(dirpath)
        if d == store_root(proj):
            dirnames[:] = []
            continue
        for name in sorted(dirnames) + sorted(filenames):
            p = d / name
            rel = p.relative_to(proj).as_posix()
            if p == store_root(proj) or (skip_lock and p == lock_path(proj)):
                continue
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def whole_store(proj: Path) -> dict[str, str]:
    """The store with its hidden entries (work directories, journals): 'nothing moved'."""
    out = {}
    for p in sorted(store_root(proj).rglob("*")):
        rel = p.relative_to(store_root(proj)).as_posix()
        out[rel] = ("link:" + os.readlink(p) if p.is_symlink() else
                    hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
    return out


# --------------------------------------------------------------------------- a kill at any fail point

PUBLISH = """
import sys
import numpy as np
from pathlib import Path
from regress.lock import read_lock
from regress.outputs import Output
from regress.stores.base import StagedGolden
from regress.stores.file import FileStore
root, lock = Path(sys.argv[1]), Path(sys.argv[2])
store = FileStore(root, lock=read_lock(lock), lock_path=lock)
def img(v):
    return Output(image=np.random.default_rng(v).integers(0, 256, (8, 8, 3), dtype=np.uint8))
store.publish([StagedGolden("a", "cpu-avx2", img(7), {"case": "a"}), StagedGolden("c", "cpu-avx2", img(8), {"case": "c"})])
"""


@pytest.mark.parametrize(("point", "state"), [("mid-swap", "old"), ("before-lock", "old"), ("after-lock", "new")])
def test_a_publish_killed_at_any_fail_point_touches_nothing_outside_the_store(proj: Path, point, state) -> None:
    before, old_lock, old_tree = outside(proj), lock_path(proj).read_bytes(), tree_hash(store_root(proj))
    env = {**os.environ, "REGRESS_FAIL_AT": f"{point}:kill", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", PUBLISH, str(store_root(proj)), str(lock_path(proj))], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert outside(proj) == before
    with pytest.warns(RecoveryWarning):
        store = open_store(proj)  # recovered, and the pin holds
    assert outside(proj) == before
    if state == "old":
        assert lock_path(proj).read_bytes() == old_lock and tree_hash(store_root(proj)) == old_tree
        assert store.entries() == [("a", "cpu-avx2"), ("b", "cpu-avx2")]
    else:
        assert store.entries() == [("a", "cpu-avx2"), ("b", "cpu-avx2"), ("c", "cpu-avx2")]
    assert not list(store_root(proj).glob(WORK_PREFIX + "*"))


# --------------------------------------------------------------------------- hostile journals


def plant(proj: Path, journal: object, *, raw: str | None = None, backups: dict[str, str] | None = None) -> Path:
    """A work directory as a killed publish leaves it, with this journal and these backups
    (name -> file text); returns the journal's path."""
    work = store_root(proj) / (WORK_PREFIX + "planted")
    work.mkdir()
    (work / "journal.json").write_text(raw if raw is not None else json.dumps(journal))
    for name, text in (backups or {}).items():
        (work / name).write_text(text)
    return work / "journal.json"


def assert_refused(proj: Path, journal: Path, field: str | None, capsys) -> None:
    before, store_before, lock_before = outside(proj), whole_store(proj), lock_path(proj).read_bytes()
    with pytest.raises(StoreError) as ei:
        open_store(proj)
    msg = str(ei.value)
    assert "\n" not in msg and str(journal) in msg and "refused to recover" in msg, msg
    if field:
        assert f"field '{field}'" in msg, msg
    assert journal.is_file()  # kept for inspection
    assert outside(proj) == before and whole_store(proj) == store_before
    assert lock_path(proj).read_bytes() == lock_before
    # the CLI says the same in one line, exit 2, no traceback
    assert main(["check", "--suite", str(proj / "goldens" / "suite.toml")]) == 2
    err = capsys.readouterr().err
    assert "refused to recover" in err and "Traceback" not in err


@pytest.mark.parametrize(("items", "field"), [
    (["../beside"], "items[0]"),  # a directory beside the store
    (["cases/../../beside"], "items[0]"),
    (["../../conftest.py"], "items[0]"),  # the project's conftest.py
    ([None], "items[0]"),
    ([1], "items[0]"),
    ([{"target": "cases/a/cpu-avx2", "old": "../../conftest.py"}], "items[0]"),
    (["cases/a/cpu-avx2", "cases/a/cpu-avx2"], "items[1]"),
    (["cases/a"], "items[0]"),  # not a golden's directory
    (["cases/b/cpu-avx2", ".regress-publish.lock"], "items[1]"),
])
def test_a_hostile_journal_is_refused_before_anything_moves(proj: Path, items, field, capsys) -> None:
    journal = plant(proj, {"items": items}, backups={"old0": "hostile\n", "old1": "hostile\n"})
    assert_refused(proj, journal, field, capsys)


def test_an_absolute_path_in_a_journal_is_refused(proj: Path, capsys) -> None:
    journal = plant(proj, {"items": [str(proj / "goldens" / "beside")]}, backups={"old0": "hostile\n"})
    assert_refused(proj, journal, "items[0]", capsys)


@pytest.mark.parametrize("raw", ["not json", "[]", '{"items": "cases/a/cpu-avx2"}', "[" * 100000,
                                 '{"items": [], "old": ["../../conftest.py"]}'],
                         ids=["not-json", "a-list", "items-a-string", "nested-deep", "an-old-key"])
def test_a_malformed_journal_is_the_same_one_line_refusal(proj: Path, raw: str, capsys) -> None:
    assert_refused(proj, plant(proj, None, raw=raw), None, capsys)


def test_a_golden_directory_linked_out_of_the_store_is_refused(proj: Path, capsys) -> None:
    """cases/z links to the directory beside the store: cases/z/cpu-avx2 names a file there."""
    (store_root(proj) / "cases" / "z").symlink_to(proj / "goldens" / "beside")
    journal = plant(proj, {"items": ["cases/z/cpu-avx2"]})  # no new0: 'moved in', so the old code removed it
    assert_refused(proj, journal, "items[0]", capsys)


def test_a_work_directory_linked_out_of_the_store_is_refused(proj: Path, capsys) -> None:
    """The backups would come from (and the work directory's removal go to) wherever it points."""
    elsewhere = proj / "goldens" / "beside"
    (elsewhere / "journal.json").write_text(json.dumps({"items": ["cases/a/cpu-avx2"]}))
    (elsewhere / "old0").write_text("from beside the store\n")
    (store_root(proj) / (WORK_PREFIX + "linked")).symlink_to(elsewhere)
    assert_refused(proj, store_root(proj) / (WORK_PREFIX + "linked") / "journal.json", None, capsys)


def test_a_backup_that_is_a_link_to_the_projects_conftest_is_refused(proj: Path, capsys) -> None:
    journal = plant(proj, {"items": ["cases/a/cpu-avx2"]})
    (journal.parent / "old0").symlink_to(proj / "conftest.py")
    assert_refused(proj, journal, "old0", capsys)


def test_a_valid_journal_is_still_rolled_back(proj: Path) -> None:
    """The checks refuse only what no publish writes: a real interrupted publish still recovers."""
    pinned = tree_hash(store_root(proj))
    golden = store_root(proj) / "cases" / "a" / "cpu-avx2"
    work = store_root(proj) / (WORK_PREFIX + "real")
    work.mkdir()
    (work / "journal.json").write_text(json.dumps({"items": ["cases/a/cpu-avx2"]}))
    os.replace(golden, work / "old0")  # killed mid-swap: the old golden aside, the new one not yet in
    (work / "new0").mkdir()
    with pytest.warns(RecoveryWarning, match="rolled back"):
        open_store(proj)
    assert tree_hash(store_root(proj)) == pinned and not work.exists()


# --------------------------------------------------------------------------- the lock is the commit point


def _raise_after_writing(real):  # noqa: ANN001, ANN202
    def write_lock(path, lock):  # noqa: ANN001, ANN202
        real(path, lock)
        raise KeyboardInterrupt  # e.g. Ctrl-C just after the rename

    return write_lock


@pytest.mark.parametrize("how", ["after-lock", "while-writing"])
def test_an_exception_after_the_lock_is_written_rolls_back_the_lock_too(proj: Path, monkeypatch, how) -> None:
    import regress.stores.journal as file_store  # the journaled publish writes the lock

    store = open_store(proj)
    lock_before, tree_before = lock_path(proj).read_bytes(), tree_hash(store_root(proj))
    if how == "after-lock":
        monkeypatch.setenv("REGRESS_FAIL_AT", "after-lock")
        expected: type[BaseException] = StoreError
    else:
        monkeypatch.setattr(file_store, "write_lock", _raise_after_writing(file_store.write_lock))
        expected = KeyboardInterrupt
    with pytest.raises(expected):
        store.publish([staged("a", v=9), staged("c", v=10)])
    monkeypatch.delenv("REGRESS_FAIL_AT", raising=False)
    assert lock_path(proj).read_bytes() == lock_before and tree_hash(store_root(proj)) == tree_before
    assert open_store(proj).entries() == [("a", "cpu-avx2"), ("b", "cpu-avx2")]  # every later open works
    assert main(["check", "--suite", str(proj / "goldens" / "suite.toml")]) == 0


def test_a_publish_with_no_lock_before_leaves_none_after_a_late_failure(tmp_path: Path, monkeypatch) -> None:
    store = FileStore(tmp_path / "store", lock=None, lock_path=tmp_path / "goldens.lock")
    monkeypatch.setenv("REGRESS_FAIL_AT", "after-lock")
    with pytest.raises(StoreError, match="injected"):
        store.publish([staged("a")])
    monkeypatch.delenv("REGRESS_FAIL_AT")
    assert not (tmp_path / "goldens.lock").exists() and tree_hash(store.root) == "empty"
    FileStore(tmp_path / "store", lock=None, lock_path=tmp_path / "goldens.lock")


# --------------------------------------------------------------------------- lock paths that are not files


@pytest.mark.parametrize("kind", ["directory", "symlink"])
def test_a_publishers_lock_path_that_is_not_a_file_is_one_line(proj: Path, kind: str, capsys) -> None:
    path = store_root(proj) / LOCK_FILE
    path.unlink(missing_ok=True)
    if kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(proj / "conftest.py")
    before = outside(proj)
    plant(proj, {"items": ["cases/a/cpu-avx2"]})  # leftovers: the opener needs the publishers' lock
    with pytest.raises(StoreError) as ei:
        open_store(proj)
    assert "\n" not in str(ei.value) and str(path) in str(ei.value) and "publishers' lock" in str(ei.value)
    assert main(["check", "--suite", str(proj / "goldens" / "suite.toml")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert outside(proj) == before


def test_a_goldens_lock_that_is_a_directory_is_one_line(proj: Path, capsys) -> None:
    lock_path(proj).unlink()
    lock_path(proj).mkdir()
    assert main(["check", "--suite", str(proj / "goldens" / "suite.toml")]) == 2
    err = capsys.readouterr().err
    assert "goldens.lock: not a regular file" in err and "Traceback" not in err


def test_a_goldens_lock_linked_out_of_the_project_is_neither_read_nor_written(proj: Path, tmp_path: Path) -> None:
    store = open_store(proj)  # opened before the lock became a link
    elsewhere = tmp_path / "elsewhere.lock"
    elsewhere.write_bytes(lock_path(proj).read_bytes())
    lock_path(proj).unlink()
    lock_path(proj).symlink_to(elsewhere)
    for read in (lambda: read_lock(lock_path(proj)), lambda: open_store(proj)):
        with pytest.raises(RegressError, match="outside the project") as ei:
            read()
        assert "\n" not in str(ei.value)
    before = elsewhere.read_bytes()
    with pytest.raises(RegressError, match="outside the project"):
        store.publish([staged("c", v=3)])
    assert elsewhere.read_bytes() == before and lock_path(proj).is_symlink()
    assert not (store_root(proj) / "cases" / "c").exists()


def test_a_goldens_lock_linked_inside_the_project_is_written_through(proj: Path) -> None:
    shared = proj / "shared.lock"
    shared.write_bytes(lock_path(proj).read_bytes())
    lock_path(proj).unlink()
    lock_path(proj).symlink_to(Path("..") / "shared.lock")
    revision = open_store(proj).publish([staged("c", v=3)])
    assert lock_path(proj).is_symlink() and read_lock(shared).revision == revision  # the link stays
    assert open_store(proj).entries()[-1] == ("c", "cpu-avx2")


# --------------------------------------------------------------------------- readers and a paused publisher

HOLDER = """
import os, sys, time
from pathlib import Path
from filelock import FileLock
from regress.stores import file as fs
root, mid_swap = Path(sys.argv[1]), sys.argv[2] == "1"
lock = FileLock(str(root / fs.LOCK_FILE))
lock.acquire()
from regress.stores.publishers_lock import note_owner
note_owner(root)
work = root / (fs.WORK_PREFIX + "live")
work.mkdir()
(work / "new0").mkdir()  # a publisher writing its new goldens: the tree is still the pinned one
if mid_swap:  # ... or caught between two renames: the tree is neither old nor new
    (work / "journal.json").write_text('{"items": ["cases/a/cpu-avx2"]}')
    os.replace(root / "cases" / "a" / "cpu-avx2", work / "old0")
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(proj: Path):  # noqa: ANN201
    procs = []

    def start(mid_swap: bool) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", HOLDER, str(store_root(proj)), "1" if mid_swap else "0"],
                             env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "holding"
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def check(proj: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regress", "check", "--suite", str(proj / "goldens" / "suite.toml")],
                          env={**os.environ, "PYTHONPATH": str(REPO), **env}, capture_output=True, text=True,
                          timeout=20)


def test_a_reader_does_not_wait_for_a_publisher_that_has_not_changed_the_tree(proj: Path, holder) -> None:
    holder(mid_swap=False)
    start = time.monotonic()
    proc = check(proj)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 20 and "waiting" not in proc.stderr


def test_a_reader_behind_a_paused_publisher_says_who_and_gives_up_in_one_line(proj: Path, holder) -> None:
    p = holder(mid_swap=True)
    proc = check(proj, REGRESS_STORE_WAIT="1")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert f"waiting up to 1 s for regress pid {p.pid}" in lines[0]
    assert f"regress pid {p.pid}" in lines[-1] and "still holds the publishers' lock after 1 s" in lines[-1]
    assert "Traceback" not in proc.stderr and len(lines) == 2


# --------------------------------------------------------------------------- the Hub: pull requests, typed errors

from huggingface_hub import CommitInfo  # noqa: E402
from huggingface_hub.hf_api import GitRefInfo, GitRefs  # noqa: E402
from test_publish import PINNED, http_error  # noqa: E402  (the stand-in's pieces)
from test_publish import staged as hub_staged  # noqa: E402

from regress.lock import Lock, write_lock  # noqa: E402
from regress.stores.hf import HfStore, HubSettings  # noqa: E402
from regress.suite import StoreSpec  # noqa: E402


class HubWithPullRequests:
    """A stand-in for HfApi that keeps branches and pull requests as the Hub does: a commit on
    a revision needs that revision's head as its parent (else HTTP 412); ``create_pr`` opens a
    pull request from ``parent_commit`` (huggingface_hub's documented behaviour)."""

    def __init__(self) -> None:
        self.heads = {"refs/heads/main": PINNED}
        self.status: dict[int, str] = {}
        self.commits: list[dict] = []

    def _next(self) -> str:
        return hashlib.sha1(str(len(self.commits)).encode()).hexdigest()

    def list_repo_files(self, repo_id: str, *, repo_type: str | None = None, revision: str | None = None,
                        token: object = None) -> list[str]:
        return []

    def create_commit(self, repo_id: str, operations: list, *, commit_message: str,
                      commit_description: str | None = None, repo_type: str | None = None,
                      revision: str | None = None, create_pr: bool | None = None,
                      parent_commit: str | None = None, **kw: object) -> CommitInfo:
        self.commits.append(dict(revision=revision, create_pr=create_pr, parent_commit=parent_commit))
        sha = self._next()
        url = "https://huggingface.co/datasets/org/goldens"
        if create_pr:
            n = len(self.status) + 1
            self.heads[f"refs/pr/{n}"], self.status[n] = sha, "open"
            return CommitInfo(commit_url=f"{url}/commit/{sha}", commit_message=commit_message,
                              commit_description="", oid=sha, pr_url=f"{url}/discussions/{n}")
        ref = revision if revision.startswith("refs/") else f"refs/heads/{revision}"
        if self.heads.get(ref) != parent_commit:
            raise http_error(412, "A commit has happened since. Please refresh and try again.")
        self.heads[ref] = sha
        return CommitInfo(commit_url=f"{url}/commit/{sha}", commit_message=commit_message, commit_description="",
                          oid=sha)

    def list_repo_refs(self, repo_id: str, *, repo_type: str | None = None, include_pull_requests: bool = False,
                       token: object = None) -> GitRefs:
        info = [GitRefInfo(name=r.rpartition("/")[2], ref=r, target_commit=s) for r, s in self.heads.items()]
        return GitRefs(branches=[i for i in info if i.ref.startswith("refs/heads/")], converts=[], tags=[],
                       pull_requests=[i for i in info if i.ref.startswith("refs/pr/")] if include_pull_requests
                       else None)

    def get_discussion_details(self, repo_id: str, discussion_num: int, *, repo_type: str | None = None,
                               token: object = None):  # noqa: ANN201
        from types import SimpleNamespace

        return SimpleNamespace(status=self.status[discussion_num])


def hub_store(tmp_path: Path, api, *, create_pr: bool = False) -> HfStore:  # noqa: ANN001
    path = tmp_path / "goldens.lock"
    if not path.exists():
        write_lock(path, Lock(kind="hf", repo="org/goldens", repo_type="dataset", revision=PINNED))
    settings = HubSettings(endpoint="http://127.0.0.1:9", cache_dir=tmp_path / "hf-cache", offline=False)
    return HfStore(StoreSpec(kind="hf", repo="org/goldens"), lock=read_lock(path), lock_path=path, api=api,
                   settings=settings, create_pr=create_pr)


def test_after_a_pull_request_the_next_publish_adds_to_it(tmp_path: Path) -> None:
    api = HubWithPullRequests()
    pr_sha = hub_store(tmp_path, api, create_pr=True).publish([hub_staged("qwen", "cpu-avx2")])
    assert read_lock(tmp_path / "goldens.lock").revision == pr_sha == api.heads["refs/pr/1"]
    # the lock pins the pull request's head, which is not on main: a commit on main is refused
    # by the Hub, and regress commits on top of the pinned commit on the pull request instead
    store = hub_store(tmp_path, api)
    sha = store.publish([hub_staged("wan", "cpu-avx2", 1)])
    assert api.commits[-1] == dict(revision="refs/pr/1", create_pr=False, parent_commit=pr_sha)
    assert read_lock(tmp_path / "goldens.lock").revision == sha == api.heads["refs/pr/1"]
    assert store.last_publish.pull_request and store.last_publish.url.endswith("/datasets/org/goldens/discussions/1")
    assert api.heads["refs/heads/main"] == PINNED  # main untouched
    # --create-pr again: a new pull request from the pinned commit, as the Hub does it
    assert hub_store(tmp_path, api, create_pr=True).publish([hub_staged("wan", "cpu-avx2", 2)])
    assert api.commits[-1]["parent_commit"] == sha and "refs/pr/2" in api.heads


def test_a_merged_pull_request_in_the_lock_says_to_pin_the_branch(tmp_path: Path) -> None:
    api = HubWithPullRequests()
    hub_store(tmp_path, api, create_pr=True).publish([hub_staged("qwen", "cpu-avx2")])
    api.status[1] = "merged"
    api.heads["refs/heads/main"] = "f" * 40  # the merge commit
    before = (tmp_path / "goldens.lock").read_bytes()
    with pytest.raises(StoreError) as ei:
        hub_store(tmp_path, api).publish([hub_staged("wan", "cpu-avx2", 1)])
    assert "pull request #1, which is merged" in str(ei.value) and "`regress pin main`" in str(ei.value)
    assert "\n" not in str(ei.value) and (tmp_path / "goldens.lock").read_bytes() == before


def test_a_branch_that_really_moved_is_still_reported_as_moved(tmp_path: Path) -> None:
    api = HubWithPullRequests()
    api.heads["refs/heads/main"] = "e" * 40  # someone else published
    with pytest.raises(StoreError, match="'main' has moved past the pinned commit"):
        hub_store(tmp_path, api).publish([hub_staged("qwen", "cpu-avx2")])


class ConnectError(Exception):
    """Named like httpx's connection error, but not one: a name proves nothing."""


class FailingHub(HubWithPullRequests):
    def __init__(self, fail: BaseException) -> None:
        super().__init__()
        self.fail = fail

    def create_commit(self, *a, **k):  # noqa: ANN002, ANN003, ANN201
        raise self.fail


@pytest.mark.parametrize(("failure", "says"), [
    (RuntimeError("the parent directory of the upload cache is gone"), "the commit failed (RuntimeError"),
    (ConnectError("refused"), "the commit failed (ConnectError"),
    (http_error(409, "Conflict"), "has moved past the pinned commit"),
])
def test_hub_errors_are_known_by_type_and_status_not_by_words(tmp_path: Path, failure, says) -> None:
    with pytest.raises(StoreError) as ei:
        hub_store(tmp_path, FailingHub(failure)).publish([hub_staged("qwen", "cpu-avx2")])
    assert says in str(ei.value), str(ei.value)


def test_a_transport_error_of_the_hubs_http_client_is_a_network_error() -> None:
    import httpx2

    from regress.stores.hub_errors import is_network_error

    assert is_network_error(httpx2.ConnectError("refused"))
    assert not is_network_error(ConnectError("refused")) and not is_network_error(http_error(503, "down"))


# --------------------------------------------------------------------------- HF_HUB_OFFLINE as huggingface_hub reads it


@pytest.mark.parametrize("value", ["off", "OFF", "no", "0", "false", "", "1", "on", "YES", "true", "True"])
def test_hf_hub_offline_means_what_it_means_to_huggingface_hub(monkeypatch, value: str) -> None:
    from huggingface_hub import constants

    from regress.env import hub_environment

    if constants.HF_HUB_OFFLINE:
        pytest.skip("huggingface_hub was imported offline in this process")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub_environment().offline is constants._is_true(value or None)


# --------------------------------------------------------------------------- git cannot hang


def test_a_git_that_does_not_answer_is_a_one_line_timeout(tmp_path: Path, monkeypatch) -> None:
    from regress.stores import publish_git

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text("#!/bin/sh\nexec sleep 5\n")
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(publish_git, "GIT_TIMEOUT_S", 0.3)
    start = time.monotonic()
    with pytest.raises(StoreError) as ei:
        publish_git.GitPublisher("https://example.invalid/goldens.git").commit({}, [], parent=PINNED, title="t",
                                                                               body="b")
    assert "did not finish within 0.3 s" in str(ei.value) and "\n" not in str(ei.value)
    assert time.monotonic() - start < 4


# --------------------------------------------------------------------------- declared dependencies


def test_filelock_is_declared_with_a_bound_the_installed_version_meets() -> None:
    import filelock
    from packaging.requirements import Requirement

    from regress.suite import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "filelock"]
    assert str(req.specifier).startswith(">=") and req.specifier.contains(filelock.__version__)
