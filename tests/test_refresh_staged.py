"""Multi-platform refresh: each runner stages, one job publishes them as one change."""

from __future__ import annotations

from pathlib import Path

from regress.cli import main
from regress.stores.file import tree_hash


def test_stage_on_two_platforms_then_publish_once(project: Path, tmp_path: Path, capsys) -> None:
    suite = project / "goldens" / "suite.toml"
    lock = project / "goldens" / "goldens.lock"
    before = lock.read_text()
    for key in ("cpu-sve", "cpu-neon"):
        assert main(["refresh", "--suite", str(suite), "-k", "qwen", "--platform", key,
                     "--stage", str(tmp_path / key)]) == 0
        assert (tmp_path / key / "cases" / "qwen" / key / "meta.json").is_file()
    assert lock.read_text() == before  # staging publishes nothing
    assert main(["refresh", "--suite", str(suite), "--staged", str(tmp_path / "cpu-sve"),
                 str(tmp_path / "cpu-neon")]) == 0
    assert "published 2 golden(s)" in capsys.readouterr().err
    store = project / "goldens" / "store"
    assert (store / "cases/qwen/cpu-sve/output.png").is_file()
    assert (store / "cases/qwen/cpu-neon/output.png").is_file()
    assert tree_hash(store) in lock.read_text()


def test_tampered_staging_publishes_nothing(project: Path, tmp_path: Path, capsys) -> None:
    suite = project / "goldens" / "suite.toml"
    lock = project / "goldens" / "goldens.lock"
    assert main(["refresh", "--suite", str(suite), "-k", "qwen", "--platform", "cpu-sve",
                 "--stage", str(tmp_path / "s")]) == 0
    png = tmp_path / "s" / "cases" / "qwen" / "cpu-sve" / "output.png"
    png.write_bytes(png.read_bytes() + b"x")
    before, tree = lock.read_bytes(), tree_hash(project / "goldens" / "store")
    assert main(["refresh", "--suite", str(suite), "--staged", str(tmp_path / "s")]) == 2
    assert "sha256 does not match" in capsys.readouterr().err
    assert lock.read_bytes() == before and tree_hash(project / "goldens" / "store") == tree
    assert main(["refresh", "--suite", str(suite), "--staged", str(tmp_path / "empty")]) == 2  # bad input
