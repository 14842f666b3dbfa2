"""A bit-identical pair is written once: the actual's entries point at the golden's files, no
diff is written, the page says "identical" where the diff would be and every src it names
exists; a pair that differs by one pixel keeps golden, actual and diff as before."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from regress.outputs import Output
from regress.report import write_report
from regress.report.assets import CaseMedia, write_case_assets
from regress.verdict import Verdict


def assets(tmp: Path, golden: Output, actual: Output, status: str = "passed") -> CaseMedia:
    """Write a case's media (as a run does) and return their records."""
    v = Verdict(id="case", platform="cpu-avx2", status=status)
    return write_case_assets(tmp, v, actual, golden)


def page_of(tmp: Path, media: CaseMedia) -> str:
    v = Verdict(id="case", platform="cpu-avx2", status="passed")
    return write_report(tmp, [v], suite=None, platform="cpu-avx2", revision="r",
                        media={("case", "cpu-avx2"): media}).read_text()


def written(tmp: Path) -> list[str]:
    return sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())


def srcs(page: str) -> list[str]:
    return re.findall(r"src='([^']*)'", page)


def picture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 20, 3), dtype=np.uint8)


def test_identical_image_is_one_png_and_no_diff(tmp_path: Path) -> None:
    g = picture()
    v = assets(tmp_path, Output(image=g), Output(image=g.copy()))
    assert written(tmp_path) == ["cases/case/cpu-avx2/golden.png"]
    assert v.files == {"golden": "cases/case/cpu-avx2/golden.png", "actual": "cases/case/cpu-avx2/golden.png"}
    assert v.media["image"]["identical"] is True


def test_identical_video_writes_each_frame_once(tmp_path: Path) -> None:
    frames = np.stack([picture(i) for i in range(9)])
    v = assets(tmp_path, Output(video=frames, fps=8.0), Output(video=frames.copy(), fps=8.0))
    video = v.media["video"]
    assert written(tmp_path) == [f"cases/case/cpu-avx2/golden/{i:03d}.png" for i in range(9)]
    assert video["identical"] is True and video["dirs"] == {"golden": "cases/case/cpu-avx2/golden",
                                                            "actual": "cases/case/cpu-avx2/golden"}
    assert video["counts"] == {"golden": 9, "actual": 9} and v.files["actual"] == v.files["golden"]
    assert "diff" not in v.files


def test_one_pixel_apart_keeps_golden_actual_and_diff(tmp_path: Path) -> None:
    g = picture()
    a = g.copy()
    a[3, 4, 0] ^= 1
    v = assets(tmp_path, Output(image=g), Output(image=a), status="failed")
    assert written(tmp_path) == [f"cases/case/cpu-avx2/{n}.png" for n in ("actual", "diff", "golden")]
    assert v.files["actual"] != v.files["golden"] and v.media["image"]["identical"] is False
    frames = np.stack([g, g, g])
    moved = frames.copy()
    moved[1, 3, 4, 0] ^= 1
    v = assets(tmp_path / "video", Output(video=frames, fps=8.0), Output(video=moved, fps=8.0), status="failed")
    assert len(written(tmp_path / "video")) == 9 and set(v.media["video"]["dirs"]) == {"golden", "actual", "diff"}
    assert v.media["video"]["identical"] is False


def test_identical_audio_is_one_wav_and_a_flat_diff(tmp_path: Path) -> None:
    tone = (np.sin(np.arange(4000, dtype=np.float32) / 7) * 0.5)[None].astype(np.float32)
    v = assets(tmp_path, Output(audio=tone, sample_rate=8000), Output(audio=tone.copy(), sample_rate=8000))
    assert written(tmp_path) == ["cases/case/cpu-avx2/golden.wav"]
    assert v.files["audio_actual"] == v.files["audio_golden"]
    audio = v.media["audio"]
    assert audio["identical"] is True and list(audio["waveform"]) == ["golden"]  # the others follow from it
    page = page_of(tmp_path, v)
    assert "no sample differs" in page and "peak 0" in page and page.count("<audio controls") == 2
    assert page.count("<polygon") == 2 and page.count("<polyline points='0,35.0 600.0,35.0'") == 1


def test_nan_audio_is_never_identical(tmp_path: Path) -> None:
    """NaN != NaN: an output with NaN is never taken for the golden, even when the bits match."""
    x = np.zeros((1, 100), np.float32)
    x[0, 10] = np.nan
    v = assets(tmp_path, Output(audio=x, sample_rate=8000), Output(audio=x.copy(), sample_rate=8000))
    assert v.media["audio"]["identical"] is False and v.files["audio_actual"] != v.files["audio_golden"]


@pytest.mark.parametrize("track", ["image", "video"])
def test_page_of_identical_case_says_so_and_every_src_exists(tmp_path: Path, track: str) -> None:
    g = picture()
    out = Output(image=g) if track == "image" else Output(video=np.stack([g, g]), fps=8.0)
    v = assets(tmp_path, out, Output(image=out.image, video=out.video, fps=out.fps))
    page = page_of(tmp_path, v)
    assert "identical to the golden: no pixel differs" in page
    assert "class='compare'" not in page and "alt='diff'" not in page
    assert srcs(page) and all((tmp_path / s).is_file() for s in srcs(page))


def test_real_run_writes_the_passing_case_once(failing_report: Path) -> None:
    """On a real run the passing image case (bit-identical on one machine) has one PNG, the
    failing ones keep their diffs, and every src of the page exists."""
    doc = json.loads((failing_report / "results.json").read_text())
    cases = {c["id"]: c for c in doc["cases"]}
    qwen = cases["qwen"]
    assert qwen["media"]["image"]["identical"] is True and qwen["files"]["actual"] == qwen["files"]["golden"]
    assert [p.name for p in (failing_report / qwen["files"]["golden"]).parent.iterdir()] == ["golden.png"]
    assert cases["qwen-b"]["media"]["image"]["identical"] is False and "diff" in cases["qwen-b"]["files"]
    assert cases["wan"]["media"]["video"]["identical"] is False and "diff" in cases["wan"]["media"]["video"]["dirs"]
    page = (failing_report / "index.html").read_text()
    assert page.count("identical to the golden") == 1
    assert all((failing_report / s).is_file() for s in srcs(page))
