"""Hostile input, one test per class: no silent pass, no path outside its root, no secret
printed, no traceback or hang where one line is promised. Each failed on the code before its fix."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regress.cli import main
from regress.errors import RegressError, StoreError, redact
from regress.outputs import Output, load_image

# --------------------------------------------------------------------------- silent passes

BARE_SUITE = """
[store]
kind = "file"
path = "store"
"""


def test_a_suite_without_thresholds_cannot_pass_a_changed_output(tmp_path: Path) -> None:
    """Real projects start with only [store] and golden.check(image): an inverted image must
    not pass there; nothing compared is an error that says how to set thresholds."""
    from regress.runners.base import Perf, RunResult
    from regress.session import GoldenSession, Options
    from regress.suite import Case, load_suite

    (tmp_path / "goldens").mkdir()
    (tmp_path / "goldens" / "suite.toml").write_text(BARE_SUITE)
    suite = load_suite(tmp_path / "goldens" / "suite.toml")
    ramp = np.linspace(0, 255, 32, dtype=np.float32)
    image = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (32, 1)), np.tile(ramp[:, None], (1, 32))],
                     axis=-1).astype(np.uint8)  # smooth: passes the quality gate for new goldens
    case = Case(id="mine", pipeline="fixture")

    def judge(img: np.ndarray, **opts):  # noqa: ANN202
        s = GoldenSession(suite, Options(device="cpu", platform="cpu-avx2", **opts))
        try:
            return s.judge(case, RunResult(output=Output(image=img), fingerprint={}, perf=Perf(wall_s=0.0))), s
        finally:
            s.close()

    run, s = judge(image, update="missing")
    s.publish()
    run, _ = judge(255 - image)
    v = run.verdict
    assert v.status == "error" and v.failed
    assert "no threshold applies" in v.message() and "[defaults]" in v.message()


def _publish_meta(project: Path, case_id: str, change) -> Path:  # noqa: ANN001
    from regress.session import GoldenSession, Options
    from regress.stores.base import StagedGolden
    from regress.suite import load_suite

    store = GoldenSession(load_suite(project / "goldens" / "suite.toml"), Options(device="cpu")).store
    (platform,) = store.platforms(case_id)
    g = store.get(case_id, platform)
    meta = {k: v for k, v in g.meta.items() if k != "files"}
    change(meta)
    store.publish([StagedGolden(case_id, platform, g.output(), meta)])
    return g.directory / "meta.json"


@pytest.mark.parametrize(("block", "thresholds", "says"), [
    ("noise_floor", {"ssim": -1e9}, "outside the metric's range"),
    ("noise_floor", {"max_abs": 255.0}, "can never fail"),
    ("drift", {"psnr": "loose"}, "must be a number"),
    ("drift", {"sharpness": 0.5}, "unknown metric"),
])
def test_thresholds_read_from_a_golden_are_range_checked(project: Path, block, thresholds, says) -> None:
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    _publish_meta(project, "qwen", lambda m: m.__setitem__(block, {"thresholds": thresholds}))
    suite = load_suite(project / "goldens" / "suite.toml")
    session = GoldenSession(suite, Options(device="cpu"))
    try:
        v = session.check(suite.case("qwen")).verdict
    finally:
        session.close()
    assert v.status == "error" and says in v.message() and f"{block}.thresholds" in v.message()


@pytest.mark.parametrize(("field", "value"), [("perf", [1, 2]), ("precision", {"vae": 3}), ("files", "x"),
                                              ("perf", {"peak_memory": {"decode": "big"}})])
def test_wrong_typed_meta_fields_are_one_line(field, value, tmp_path: Path) -> None:
    from regress.stores.base import load_meta

    meta = {"schema": 1, "files": {"output.png": "0" * 64}, field: value}
    if field == "files":
        meta["files"] = value
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=f"field '{field}"):
        load_meta(tmp_path)


def test_compare_refuses_what_an_rgb_conversion_would_hide(tmp_path: Path, capsys) -> None:
    a16, b16 = np.full((16, 16), 40000, np.uint16), np.full((16, 16), 50000, np.uint16)  # both clip to 255
    Image.fromarray(a16).save(tmp_path / "a16.png")
    Image.fromarray(b16).save(tmp_path / "b16.png")
    rgba = np.zeros((16, 16, 4), np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "b.png")
    for x, y, says in (("a16", "b16", "16 bits per channel"), ("a", "b", "alpha channel")):
        assert main(["compare", str(tmp_path / f"{x}.png"), str(tmp_path / f"{y}.png")]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1


def test_a_png_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    """A 30000x30000 PNG header over a few bytes: refused from the header, never decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(RegressError, match="more than regress decodes"):
        load_image(tmp_path / "bomb.png")


# --------------------------------------------------------------------------- paths never leave their root

def _hostile_results(directory: Path, *, cid: str, platform: str) -> Path:
    directory.mkdir(parents=True)
    doc = {"schema": 1, "cases": [{"id": cid, "platform": platform, "status": "passed",
                                   "files": {"actual": f"cases/{cid}/{platform}/actual.png"}}]}
    (directory / "results.json").write_text(json.dumps(doc))
    return directory


@pytest.mark.parametrize(("cid", "platform"), [("..", "cpu-avx2"), ("ok", "../../x"), ("a/b", "cpu-avx2")])
def test_report_merge_never_writes_or_deletes_outside_its_output(tmp_path: Path, cid, platform, capsys) -> None:
    workspace = tmp_path / "workspace"
    keep = workspace / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("precious")
    run = _hostile_results(workspace / "run", cid=cid, platform=platform)
    out = workspace / "out" / "merged"
    out.mkdir(parents=True)
    assert main(["report", "merge", str(run), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "results.json" in err and err.count("\n") == 1
    assert keep.read_text() == "precious" and sorted(p.name for p in workspace.iterdir()) == ["keep.txt", "out", "run"]


def test_refresh_platform_is_validated_before_anything_moves(project: Path, capsys) -> None:
    src = project / "src"
    src.mkdir()
    (src / "code.py").write_text("x = 1\n")
    rc = main(["refresh", "--suite", str(project / "goldens" / "suite.toml"), "--platform", "../../src"])
    assert rc == 2 and "is not a platform key" in capsys.readouterr().err
    assert (src / "code.py").read_text() == "x = 1\n"


def test_store_paths_are_built_only_from_ids_and_keys(project: Path) -> None:
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    store = GoldenSession(load_suite(project / "goldens" / "suite.toml"), Options(device="cpu")).store
    for cid, platform in (("..", "cpu-avx2"), ("qwen", "../.."), ("qwen", "cpu-avx2/../../x")):
        with pytest.raises(StoreError):
            store.get(cid, platform)


# --------------------------------------------------------------------------- secrets

def test_credentials_and_tokens_never_reach_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "s3cr3t-token-value")
    msg = str(RegressError("cannot reach the Hub at http://user:TOKEN@127.0.0.1:9/api (token hf_"
                           + "a" * 30 + "; s3cr3t-token-value)"))
    assert "TOKEN" not in msg and "hf_aaaa" not in msg and "s3cr3t" not in msg and "http://***@127.0.0.1:9" in msg
    from regress.verdict import Verdict

    v = Verdict(id="c", platform="cpu-avx2", status="error", reasons=["runner said: https://u:pw@hub/x"])
    assert "pw@" not in json.dumps(v.to_json()) and "pw@" not in v.message()
    assert redact("nothing secret") == "nothing secret"


@pytest.mark.parametrize("ref", ["../../../../proc/self/environ", "main/../../x", "refs//main", "x.lock"])
def test_a_lock_ref_cannot_climb_out_of_the_cache(ref, tmp_path: Path) -> None:
    from regress.lock import read_lock

    (tmp_path / "goldens.lock").write_text(f'kind = "hf"\nrepo = "org/goldens"\nrevision = "{ref}"\n')
    with pytest.raises(RegressError, match="revision"):
        read_lock(tmp_path / "goldens.lock")

