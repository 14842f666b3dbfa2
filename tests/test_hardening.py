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



# --------------------------------------------------------------------------- hangs, tracebacks, injection

@pytest.mark.parametrize(("line", "field"), [("seed = 9223372036854775808", "seed"), ("height = 100000", "height"),
                                             ("max_sequence_length = 100000000", "max_sequence_length"),
                                             ("guidance = nan", "guidance"), ("fps = inf", "fps")])
def test_suite_values_a_run_cannot_take_are_refused_up_front(tmp_path: Path, line, field, capsys) -> None:
    (tmp_path / "suite.toml").write_text(BARE_SUITE + f'\n[[case]]\nid = "c"\npipeline = "sd"\n{line}\n')
    assert main(["check", "--suite", str(tmp_path / "suite.toml")]) == 2
    err = capsys.readouterr().err
    assert f"field '{field}'" in err and err.count("\n") == 1


def test_a_lock_that_is_a_directory_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "suite.toml").write_text(BARE_SUITE)
    (tmp_path / "goldens.lock").mkdir()
    assert main(["check", "--suite", str(tmp_path / "suite.toml")]) == 2
    err = capsys.readouterr().err
    assert "goldens.lock" in err and "not a regular file" in err and err.count("\n") == 1


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "dangling-link"])
def test_the_store_reads_only_regular_files(project: Path, kind, capsys) -> None:
    import os

    golden_dir = next((project / "goldens" / "store" / "cases" / "qwen").iterdir())
    target = golden_dir / "extra.bin"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero" if kind == "link-to-dev-zero" else project / "nowhere")
    assert main(["check", "--suite", str(project / "goldens" / "suite.toml")]) == 2  # returns: no hang
    err = capsys.readouterr().err
    assert "extra.bin" in err and err.count("\n") == 1


def test_a_huge_shard_count_is_refused_at_once(project: Path, capsys) -> None:
    assert main(["shard", "99999999999999999999", "--suite", str(project / "goldens" / "suite.toml")]) == 2
    assert "at most one shard per case" in capsys.readouterr().err


def test_whatever_a_runner_raises_the_case_keeps_its_record(tmp_path: Path) -> None:
    from regress.runners import _loaded, _registered, register_runner
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    class Broken:
        name, output_kind, default_precision = "broken-engine", "image", {"model": "fp32"}

        def build(self, case, precision, device):  # noqa: ANN001, ANN201
            return object()

        def run(self, pipe, case, device):  # noqa: ANN001, ANN201
            raise RuntimeError("no such attention backend\nsecond line")

    register_runner("broken-engine", Broken())
    (tmp_path / "suite.toml").write_text(BARE_SUITE + '\n[defaults]\nssim = 0.99\n[[case]]\nid = "b"\n'
                                         'pipeline = "broken-engine"\n')
    suite = load_suite(tmp_path / "suite.toml")
    session = GoldenSession(suite, Options(device="cpu", platform="cpu-avx2"))
    v = session.check(suite.case("b")).verdict
    session.close()
    assert v.status == "error" and v.reasons == ["the runner raised RuntimeError: no such attention backend"]
    doc = session.results_doc()
    assert [c["id"] for c in doc["cases"]] == ["b"]
    _registered.pop("broken-engine"), _loaded.pop("broken-engine", None)


def test_merge_output_cannot_inject_workflow_commands(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    doc = {"schema": 1, "cases": [{"id": "c", "platform": "cpu-avx2", "status": "failed",
                                   "reasons": ["bad\n::add-mask::secret\n::error::forged"]}]}
    (run / "results.json").write_text(json.dumps(doc))
    main(["report", "merge", str(run), "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert not any(line.startswith("::") for line in out.splitlines())


# --------------------------------------------------------------------------- publish: atomic, one at a time

PUBLISH = """
import sys
from regress.session import GoldenSession, Options
from regress.stores.base import StagedGolden
from regress.suite import load_suite
suite_path, note, *cases = sys.argv[1:]
store = GoldenSession(load_suite(suite_path), Options(device="cpu")).store
staged = []
for case in cases:
    (platform,) = store.platforms(case)
    g = store.get(case, platform)
    meta = {k: v for k, v in g.meta.items() if k != "files"}
    meta["note"] = note
    staged.append(StagedGolden(case, platform, g.output(), meta))
store.publish(staged)
"""


def _publisher(project: Path, note: str, *cases: str, fail_at: str | None = None):  # noqa: ANN202
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "REGRESS_FAIL_AT"}
    if fail_at:
        env["REGRESS_FAIL_AT"] = fail_at
    return subprocess.Popen([sys.executable, "-c", PUBLISH, str(project / "goldens" / "suite.toml"), note, *cases],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _notes(project: Path) -> dict[str, str | None]:
    out = {}
    for meta in (project / "goldens" / "store" / "cases").glob("*/*/meta.json"):
        out[meta.parent.parent.name] = json.loads(meta.read_text()).get("note")
    return out


@pytest.mark.parametrize(("point", "state"), [("mid-swap", "old"), ("before-lock", "old"), ("after-lock", "new")])
def test_a_publish_killed_at_each_step_leaves_the_old_or_the_new_state(project: Path, point, state) -> None:
    from regress.session import GoldenSession, Options
    from regress.stores.file import RecoveryWarning
    from regress.suite import load_suite

    proc = _publisher(project, "v2", "qwen", "wan", fail_at=f"{point}:kill")
    proc.communicate(timeout=120)
    assert proc.returncode == -9  # killed where the test asked
    with pytest.warns(RecoveryWarning, match="rolled back" if state == "old" else "had completed"):
        store = GoldenSession(load_suite(project / "goldens" / "suite.toml"), Options(device="cpu")).store
    assert store.recovered
    notes = _notes(project)
    assert notes == ({"qwen": None, "wan": None} if state == "old" else {"qwen": "v2", "wan": "v2"})
    assert not list((project / "goldens" / "store").glob(".regress-publish-*"))
    assert main(["check", "--suite", str(project / "goldens" / "suite.toml")]) == 0  # the pin holds


def test_two_publishes_at_once_both_land(project: Path) -> None:
    a, b = _publisher(project, "from-a", "qwen"), _publisher(project, "from-b", "wan")
    for p in (a, b):
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert _notes(project) == {"qwen": "from-a", "wan": "from-b"}
    assert main(["check", "--suite", str(project / "goldens" / "suite.toml")]) == 0


# --------------------------------------------------------------------------- refresh keeps what it cannot remake

def test_refresh_refuses_to_replace_another_machines_golden(project: Path, capsys) -> None:
    def from_elsewhere(meta: dict) -> None:
        ident = dict(meta["identity"])
        ident["installed"] = {**ident["installed"], "cpu.model": "AMD EPYC 9R14"}
        meta["identity"] = ident
        meta["output_was"] = "another machine's"

    _publish_meta(project, "qwen", from_elsewhere)
    suite = str(project / "goldens" / "suite.toml")
    lock = (project / "goldens" / "goldens.lock").read_text()
    assert main(["refresh", "--suite", suite, "-k", "qwen"]) == 1
    err = capsys.readouterr().err
    assert "not replaced" in err and "AMD EPYC 9R14" in err and "--replace-other-machine" in err
    assert (project / "goldens" / "goldens.lock").read_text() == lock
    assert main(["refresh", "--suite", suite, "-k", "qwen", "--replace-other-machine"]) == 0
    assert (project / "goldens" / "goldens.lock").read_text() != lock


def test_a_bit_identical_refresh_publishes_nothing_and_keeps_the_calibration(project: Path, capsys) -> None:
    floor = {"thresholds": {"ssim": 0.99999}, "runs": []}
    _publish_meta(project, "qwen", lambda m: m.__setitem__("noise_floor", floor))
    lock = (project / "goldens" / "goldens.lock").read_text()
    assert main(["refresh", "--suite", str(project / "goldens" / "suite.toml"), "-k", "qwen"]) == 0
    assert "bit-identical to their goldens, not republished" in capsys.readouterr().err
    assert (project / "goldens" / "goldens.lock").read_text() == lock
    meta = json.loads(next((project / "goldens" / "store" / "cases" / "qwen").glob("*/meta.json")).read_text())
    assert meta["noise_floor"] == floor


def test_a_read_only_store_fails_a_publish_in_one_line(project: Path, capsys) -> None:
    import os

    store = project / "goldens" / "store"
    lock = (project / "goldens" / "goldens.lock").read_text()
    (store / ".regress-publish.lock").unlink(missing_ok=True)
    modes = {p: p.stat().st_mode for p in [store, *store.rglob("*")]}
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    try:
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        assert main(["refresh", "--suite", str(project / "goldens" / "suite.toml"), "-k", "qwen", "--force",
                     "--replace-other-machine", "--precision", "vae=fp32"]) == 1
        err = capsys.readouterr().err
        assert "nothing changed" in err or "unchanged" in err
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert (project / "goldens" / "goldens.lock").read_text() == lock


def test_a_write_that_fails_mid_publish_rolls_back_in_one_line(project: Path, monkeypatch, capsys) -> None:
    """Disk full while the new goldens are written: the same one-line failure, nothing moved."""
    from regress.stores import base

    real = base.StagedGolden.write

    def full(self, directory):  # noqa: ANN001, ANN202
        real(self, directory)
        raise OSError(28, "No space left on device", str(directory))

    monkeypatch.setattr(base.StagedGolden, "write", full)
    lock = (project / "goldens" / "goldens.lock").read_text()
    rc = main(["refresh", "--suite", str(project / "goldens" / "suite.toml"), "-k", "qwen", "--precision",
               "vae=fp32"])
    err = capsys.readouterr().err
    assert rc == 1 and "No space left on device" in err and "unchanged" in err
    assert (project / "goldens" / "goldens.lock").read_text() == lock
    assert not list((project / "goldens" / "store").glob(".regress-publish-*"))


# --------------------------------------------------------------------------- property-based: structured input

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

_scalars = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True), st.booleans(),
                     st.text(max_size=12), st.lists(st.integers(), max_size=3))
_case_tables = st.dictionaries(st.sampled_from(["id", "pipeline", "seed", "height", "width", "steps", "frames",
                                                "fps", "guidance", "max_sequence_length", "precision", "thresholds",
                                                "marks", "args", "prompt", "model"]), _scalars, max_size=8)


def _toml_value(v) -> str:  # noqa: ANN001
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else ("-inf" if v == -float("inf") else repr(v)))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


@hypothesis.settings(max_examples=150, deadline=None, derandomize=True)
@hypothesis.given(_case_tables)
def test_any_case_table_loads_or_is_one_suite_error(table) -> None:
    """Whatever a case table holds, the suite either loads or says what is wrong, in one line."""
    import tempfile

    from regress.errors import SuiteError
    from regress.suite import load_suite

    body = "\n".join(f"{k} = {_toml_value(v)}" for k, v in table.items())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.toml"
        path.write_text(BARE_SUITE + "\n[defaults]\nssim = 0.99\n[[case]]\n" + body + "\n")
        try:
            load_suite(path)
        except SuiteError as exc:
            assert "\n" not in str(exc)


_records = st.fixed_dictionaries({"id": st.text(max_size=10), "platform": st.text(max_size=12),
                                  "status": st.sampled_from(["passed", "failed", "error", "weird"])},
                                 optional={"files": st.dictionaries(st.text(max_size=5), st.text(max_size=20),
                                                                    max_size=2),
                                           "reasons": st.lists(st.text(max_size=20), max_size=2)})


@hypothesis.settings(max_examples=100, deadline=None, derandomize=True)
@hypothesis.given(st.lists(_records, max_size=3))
def test_any_results_document_merges_inside_its_output_or_is_refused(cases) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = root / "w" / "run"
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps({"schema": 1, "cases": cases}))
        (root / "w" / "keep").write_text("x")
        try:
            from regress.report.merge import merge_reports

            merge_reports([run], root / "w" / "out")
        except RegressError as exc:
            assert "\n" not in str(exc)
        assert sorted(p.name for p in (root / "w").iterdir()) in (["keep", "out", "run"], ["keep", "run"])
        assert (root / "w" / "keep").read_text() == "x"


def test_a_credentialed_hub_endpoint_never_shows_its_token(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "suite.toml").write_text('[store]\nkind = "hf"\nrepo = "org/goldens"\n\n[defaults]\nssim = 0.99\n')
    (tmp_path / "goldens.lock").write_text(f'kind = "hf"\nrepo = "org/goldens"\nrepo_type = "dataset"\n'
                                           f'revision = "{"a" * 40}"\n')
    monkeypatch.setenv("HF_ENDPOINT", "http://user:SeCrEtToKeN@127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REGRESS_HUB_RETRIES", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    rc = main(["check", "--suite", str(tmp_path / "suite.toml")])
    err = capsys.readouterr().err
    assert rc == 2 and "SeCrEtToKeN" not in err and "127.0.0.1" in err


def test_compare_of_an_empty_video_is_one_line(tmp_path: Path, capsys) -> None:
    for name in ("a", "b"):
        np.savez(tmp_path / f"{name}.npz", frames=np.zeros((0, 8, 8, 3), np.uint8), fps=np.float64(8.0))
    assert main(["compare", str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]) == 2
    err = capsys.readouterr().err
    assert "holds no frames" in err and err.count("\n") == 1


@hypothesis.settings(max_examples=100, deadline=None, derandomize=True)
@hypothesis.given(st.dictionaries(st.sampled_from(["files", "precision", "perf", "noise_floor", "drift", "identity",
                                                   "platform"]),
                                  st.recursive(_scalars, lambda inner: st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=6),
                                  max_size=5))
def test_any_meta_loads_or_is_one_store_error(fields) -> None:
    import tempfile

    from regress.stores.base import load_meta

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "meta.json").write_text(json.dumps({"schema": 1, **fields}, allow_nan=True))
        try:
            load_meta(Path(tmp))
        except StoreError as exc:
            assert "\n" not in str(exc)


@hypothesis.settings(max_examples=100, deadline=None, derandomize=True)
@hypothesis.given(st.dictionaries(st.sampled_from(["kind", "revision", "repo", "repo_type", "extra"]), _scalars,
                                  max_size=5))
def test_any_lock_reads_or_is_one_suite_error(table) -> None:
    import tempfile

    from regress.errors import SuiteError
    from regress.lock import read_lock

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "goldens.lock"
        path.write_text("\n".join(f"{k} = {_toml_value(v)}" for k, v in table.items()) + "\n")
        try:
            read_lock(path)
        except SuiteError as exc:
            assert "\n" not in str(exc)
