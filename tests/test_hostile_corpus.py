"""The hostile-input corpus (tests/hostile/): files as a crash, a bad merge or a hostile pull
request could leave them, each read where regress reads such a file. Every one is refused in one
line naming the file, with no traceback; a journal is refused before recovery moves anything, and
every file outside the store stays byte-identical. Add a file to the corpus to add a case."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from regress.cli import main
from regress.errors import RegressError
from regress.stores.base import load_meta
from test_hardening_store import assert_refused, plant, proj  # noqa: F401 - the project fixture and checks

CORPUS = Path(__file__).parent / "hostile"


def _files(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).glob("*.json"))


@pytest.mark.parametrize("path", _files("meta"), ids=lambda p: p.stem)
def test_a_hostile_meta_json_is_one_line(path: Path, tmp_path: Path) -> None:
    golden = tmp_path / "cases" / "x" / "cpu-avx2"
    golden.mkdir(parents=True)
    shutil.copy(path, golden / "meta.json")
    with pytest.raises(RegressError) as ei:
        load_meta(golden)
    msg = str(ei.value)
    assert "\n" not in msg and "meta.json" in msg, msg


@pytest.mark.parametrize("path", _files("results"), ids=lambda p: p.stem)
def test_a_hostile_results_json_is_one_line_in_report_merge(path: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    shard = tmp_path / "shard"
    shard.mkdir()
    shutil.copy(path, shard / "results.json")
    rc = main(["report", "merge", str(shard), "-o", str(tmp_path / "merged")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1 and "results.json" in err, err
    assert not (tmp_path / "merged" / "results.json").exists()


@pytest.mark.parametrize("path", _files("journal"), ids=lambda p: p.stem)
def test_a_hostile_journal_is_refused_and_nothing_outside_moves(proj: Path, path: Path, capsys) -> None:  # noqa: F811, ANN001
    assert_refused(proj, plant(proj, None, raw=path.read_text()), None, capsys)
