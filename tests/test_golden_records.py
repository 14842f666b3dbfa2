"""A golden's records are runtime types (regress.golden_records), read once where the golden
is read, written back byte for byte, and the modules that judge read them as types, never as
``dict[str, Any]``; a Verdict is final once ``judge()`` returns it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from regress.golden_records import DriftRecord, GoldenMeta, IdentityRecord, NoiseFloorRecord, PerfRecord
from regress.stores.base import META_FILE, Golden, load_meta

ROOT = Path(__file__).resolve().parents[1]
METAS = sorted(ROOT.glob("goldens/store/cases/*/*/meta.json")) + sorted(ROOT.glob("examples/**/meta.json"))


def _write(meta: dict) -> bytes:
    """How StagedGolden.files writes meta.json."""
    return (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")


@pytest.mark.parametrize("path", METAS, ids=lambda p: p.relative_to(ROOT).parent.as_posix())
def test_every_committed_meta_round_trips_byte_for_byte(path: Path) -> None:
    """Re-serialised through the types, every committed golden's meta.json is the same bytes."""
    record = GoldenMeta.from_json(load_meta(path.parent))
    assert _write(record.to_json()) == path.read_bytes()


def test_a_golden_carries_its_typed_record() -> None:
    path = next(p for p in METAS if '"drift"' in p.read_text())
    g = Golden("c", path.parent.name, path.parent, load_meta(path.parent))
    rec = g.record
    assert isinstance(rec.perf, PerfRecord) and isinstance(rec.identity, IdentityRecord)
    assert isinstance(rec.drift, DriftRecord) and rec.drift.thresholds and rec.drift.path_labels
    assert all(isinstance(v, float | int) for v in rec.drift.thresholds.values())
    assert rec.precision == g.meta["precision"] and g.perf is rec.perf


def test_non_finite_numbers_are_floats_in_the_record_and_strings_in_the_file() -> None:
    raw = {"schema": 1, "case": "c", "files": {}, "noise_floor": {"thresholds": {"psnr": "inf"}, "floor": {"psnr": "inf"},
                                                                  "margin": 2, "runs": []}}
    rec = GoldenMeta.from_json(raw)
    assert isinstance(rec.noise_floor, NoiseFloorRecord)
    assert rec.calibrated == {"psnr": math.inf} and rec.noise_floor.margin == 2  # an int stays an int
    assert rec.to_json() == raw


def test_unknown_fields_survive_a_rewrite() -> None:
    """A field a newer regress records (top level or inside a block) is kept, in place."""
    raw = {"schema": 1, "case": "c", "files": {}, "future": [1, 2], "perf": {"wall_s": 1.5, "energy_j": 3.0},
           "drift": {"thresholds": {"ssim": 0.99}, "paths": [{"label": "x", "hue": "blue"}]}}
    rec = GoldenMeta.from_json(raw)
    assert rec.perf is not None and rec.perf.wall_s == 1.5 and rec.drift is not None
    assert rec.drift.path_labels == ["x"]
    assert rec.to_json() == raw and list(rec.to_json()) == list(raw)


def test_a_block_of_the_wrong_type_is_one_line_at_load(tmp_path: Path) -> None:
    """The schema made from the same types refuses a block the record could not hold."""
    from regress.errors import StoreError

    meta = {"schema": 1, "case": "c", "files": {}, "identity": {"installed": {"torch": 2}}}
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"identity\.installed\.torch") as exc:
        load_meta(tmp_path)
    assert "\n" not in str(exc.value)
