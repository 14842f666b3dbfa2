"""The local Hub that the store and checkpoint tests rely on: real huggingface_hub client,
pinned revisions, allow_patterns."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_pinned_downloads_and_patterns(olah_hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in olah_hub.env(tmp_path / "hf").items():
        monkeypatch.setenv(k, v)
    from huggingface_hub import HfApi, snapshot_download

    olah_hub.create_repo("org/goldens")
    first = olah_hub.commit("org/goldens", {"cases/a/x.txt": b"one", "cases/b/y.txt": b"b"}, "first")
    second = olah_hub.commit("org/goldens", {"cases/a/x.txt": b"two"}, "second")
    p1 = Path(snapshot_download("org/goldens", repo_type="dataset", revision=first, allow_patterns=["cases/a/*"],
                                endpoint=olah_hub.endpoint))
    p2 = Path(snapshot_download("org/goldens", repo_type="dataset", revision=second, allow_patterns=["cases/a/*"],
                                endpoint=olah_hub.endpoint))
    assert (p1 / "cases/a/x.txt").read_bytes() == b"one" and (p2 / "cases/a/x.txt").read_bytes() == b"two"
    assert not (p1 / "cases/b").exists()
    files = HfApi(endpoint=olah_hub.endpoint).list_repo_files("org/goldens", repo_type="dataset", revision=first)
    assert sorted(files) == ["cases/a/x.txt", "cases/b/y.txt"]
