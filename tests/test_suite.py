"""Suite validation: every bad input is one line naming file, case and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from regress.errors import SuiteError
from regress.select import select
from regress.suite import load_suite

HEAD = """
[store]
kind = "file"
path = "store"
[defaults]
ssim = 0.99
"""

CASE = """
[[case]]
id = "a"
pipeline = "flux"
"""


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "suite.toml"
    p.write_text(textwrap.dedent(body))
    return p


def error_of(tmp_path: Path, body: str) -> str:
    with pytest.raises(SuiteError) as ei:
        load_suite(write(tmp_path, body))
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


def test_valid_suite_parses_into_cases(tmp_path: Path) -> None:
    s = load_suite(write(tmp_path, HEAD + CASE + """
precision = { vae = "float32" }
thresholds = { psnr = 40 }
xfail = [{ platform = "rocm-*", reason = "HIP compile error in attention" }]
marks = ["video"]
"""))
    (c,) = s.cases
    assert c.id == "a" and c.model == "tiny" and c.steps == 2
    assert c.precision == {"vae": "fp32"}
    assert c.thresholds == {"psnr": 40.0}
    assert c.rule_for("rocm-gfx942") == ("xfail", "HIP compile error in attention")
    assert c.rule_for("cuda-sm90") is None
    assert s.store.kind == "file" and s.store.path == (tmp_path / "store").resolve()
    assert s.lock_path == tmp_path / "goldens.lock"


def test_unknown_case_key_names_file_case_and_field(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD + CASE + 'colour = "red"\n')
    assert str(tmp_path / "suite.toml") in msg and "case 'a'" in msg and "field 'colour'" in msg


def test_wrong_type(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD + CASE + 'steps = "two"\n')
    assert "case 'a'" in msg and "field 'steps'" in msg and "integer" in msg


def test_bool_is_not_an_integer(tmp_path: Path) -> None:
    assert "field 'seed'" in error_of(tmp_path, HEAD + CASE + "seed = true\n")


def test_duplicate_ids(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD + CASE + CASE)
    assert "duplicate case id" in msg and "case 'a'" in msg and "field 'id'" in msg


def test_missing_required_field(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD + '[[case]]\nid = "b"\n')
    assert "case 'b'" in msg and "field 'pipeline'" in msg and "required" in msg


def test_missing_id_is_named_by_position(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD + CASE + '[[case]]\npipeline = "wan"\n')
    assert "case '#2'" in msg and "field 'id'" in msg


def test_bad_dtype_name(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD + CASE + 'precision = { vae = "bf17" }\n')
    assert "field 'precision.vae'" in msg and "bf17" in msg


@pytest.mark.parametrize("body,fld", [
    ("thresholds = { ssim = 1.5 }\n", "thresholds.ssim"),
    ("thresholds = { max_abs = -1 }\n", "thresholds.max_abs"),
    ("thresholds = { sharpness = 3 }\n", "thresholds.sharpness"),
])
def test_thresholds_out_of_range_or_unknown(tmp_path: Path, body: str, fld: str) -> None:
    assert f"field '{fld}'" in error_of(tmp_path, HEAD + CASE + body)


def test_default_threshold_out_of_range(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD.replace("ssim = 0.99", "ssim = 2") + CASE)
    assert "field 'defaults.ssim'" in msg


def test_platform_rule_needs_reason(tmp_path: Path) -> None:
    msg = error_of(tmp_path, HEAD + CASE + 'skip = [{ platform = "rocm-*" }]\n')
    assert "field 'skip[0].reason'" in msg


def test_store_kinds(tmp_path: Path) -> None:
    s = load_suite(write(tmp_path, '[store]\nkind = "hf"\nrepo = "org/goldens"\n' + CASE))
    assert s.store.kind == "hf" and s.store.repo == "org/goldens" and s.store.repo_type == "dataset"
    assert "field 'store.repo'" in error_of(tmp_path, '[store]\nkind = "hf"\n' + CASE)
    assert "field 'store.kind'" in error_of(tmp_path, '[store]\nkind = "S3 bucket"\n' + CASE)
    # a well-formed kind the parser does not know is resolved when the store opens
    # (tests/test_store_registry.py: an unknown one is refused there, listing the known kinds)
    assert load_suite(write(tmp_path, '[store]\nkind = "s3"\n' + CASE)).store.kind == "s3"
    assert "field 'store.path'" in error_of(tmp_path, '[store]\nkind = "file"\n' + CASE)


def test_not_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in error_of(tmp_path, "[[case]\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path / "nope.toml")


def test_case_id_must_be_a_directory_name(tmp_path: Path) -> None:
    assert "field 'id'" in error_of(tmp_path, HEAD + '[[case]]\nid = "../x"\npipeline = "flux"\n')


def test_spec_hash_ignores_thresholds_but_not_inputs(tmp_path: Path) -> None:
    a = load_suite(write(tmp_path, HEAD + CASE)).cases[0]
    b = load_suite(write(tmp_path, HEAD + CASE + "thresholds = { ssim = 0.5 }\n")).cases[0]
    c = load_suite(write(tmp_path, HEAD + CASE + "seed = 3\n")).cases[0]
    assert a.spec_hash() == b.spec_hash() != c.spec_hash()


def test_k_expressions(tmp_path: Path) -> None:
    """pytest's -k over each case's item keywords (tests/test_select.py compares with pytest)."""
    s = load_suite(write(tmp_path, HEAD + CASE + 'marks = ["video"]\n[[case]]\nid = "b-tiny"\npipeline = "wan"\n'))
    pick = lambda expr: [c.id for c in select(s, expr, platform="cpu-avx2")]  # noqa: E731
    assert pick("video") == ["a"] and pick("not video") == ["b-tiny"]
    assert pick("tiny or video") == ["a", "b-tiny"]
    assert pick("(tiny or video) and not b") == ["a"]
    assert pick("avx2") == ["a", "b-tiny"] and pick("wan") == []  # the platform key is named; pipeline not
    with pytest.raises(SuiteError):
        select(s, "a and (b", platform="cpu-avx2")


def test_embedded_suite_is_valid() -> None:
    s = load_suite(Path(__file__).parent.parent / "goldens" / "suite.toml")
    assert {c.pipeline for c in s.cases} >= {"flux", "qwen-image", "wan"}
