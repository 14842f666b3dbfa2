"""The report's media and page without a browser: audio tracks, large frames, ordering, escaping."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from regress.outputs import Output
from regress.report import write_report
from regress.report.assets import CaseMedia, envelope, heatmap, write_case_assets
from regress.report.records import case_result
from regress.report.summary import sort_cases, worst_text
from regress.verdict import Verdict, judge_metrics
from regress.thresholds import Threshold


def audio_run(tmp: Path) -> tuple[Verdict, CaseMedia]:
    """A video+audio case (ltx2-like) whose audio got a click: real comparator, real assets."""
    from regress.metrics.compare import compare_outputs

    t = np.arange(8000, dtype=np.float32) / 8000
    tone = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 220 * t)]).astype(np.float32) * 0.5
    clicked = tone.copy()
    clicked[:, 4000:4040] += 0.4
    frames = np.full((3, 16, 16, 3), 120, np.uint8)
    golden = Output(video=frames, fps=8.0, audio=tone, sample_rate=8000)
    actual = Output(video=frames.copy(), fps=8.0, audio=clicked, sample_rate=8000)
    comp = compare_outputs(golden, actual)
    v = Verdict(id="ltx2-tiny", platform="cpu-avx2", status="failed", kind=actual.kind,
                golden={"platform": "cpu-avx2", "match": "exact", "revision": "r"})
    v.metrics = judge_metrics(comp.values, {"audio_snr": Threshold(40.0, "case")})
    v.reasons = [m.line() for m in v.metrics.values() if m.passed is False]
    v.worst_frame, v.per_frame = comp.worst_frame, comp.per_frame
    return v, write_case_assets(tmp, v, actual, golden)


def test_audio_tracks_get_players_and_waveforms(tmp_path: Path) -> None:
    v, m = audio_run(tmp_path)
    assert v.metrics["audio_snr"].passed is False
    for label in ("golden", "actual"):
        with wave.open(str(tmp_path / m.files[f"audio_{label}"])) as w:
            assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 8000, 8000)
    waves = m.media["audio"]["waveform"]
    assert set(waves) == {"golden", "actual", "diff"} and len(waves["golden"]) == 300
    diff_peak = max(hi for _, hi in waves["diff"])
    assert 0.39 < diff_peak < 0.41  # the click, and nothing else
    assert m.media["video"]["frames"] == 3 and (tmp_path / m.files["golden"]).is_file()
    page = write_report(tmp_path, [v], suite=None, platform="cpu-avx2", revision="r",
                        media={(v.id, v.platform): m}).read_text()
    assert page.count("<audio controls") == 2 and "svg class='wave'" in page
    assert "audio_snr" in page and "(needs >= 40" in worst_text(case_result(v.to_json()))


def test_envelope_and_heatmap() -> None:
    env = envelope(np.array([[0.0, 1.0, -1.0, 0.5]], np.float32), points=2)
    assert env == ((0.0, 1.0), (-1.0, 0.5))
    g = np.zeros((2, 2, 3), np.uint8)
    a = g.copy()
    a[0, 0, 1] = 1
    h = heatmap(g, a)
    assert h[0, 0].tolist() == [255, 255, 255] and h[1, 1].tolist() == [0, 0, 0]  # 1/255 is visible


def test_large_frames_are_shrunk_keeping_single_pixel_differences(tmp_path: Path) -> None:
    from PIL import Image

    g = np.full((1024, 1536, 3), 90, np.uint8)
    a = g.copy()
    a[700, 1000] = 100  # one pixel
    v = write_case_assets(tmp_path, Verdict(id="big", platform="cpu-avx2", status="failed"), Output(image=a),
                          Output(image=g))
    with Image.open(tmp_path / v.files["diff"]) as im:
        assert max(im.size) <= 512
        assert np.asarray(im).max() == 255  # the changed pixel survived the shrinking
    assert v.media["image"] == {"height": 1024, "width": 1536, "scale": 3, "identical": False, "diff_peak": 10}


def test_failures_first_and_escaping(tmp_path: Path) -> None:
    vs = [Verdict(id="a-pass", platform="p", status="passed"), Verdict(id="z-fail", platform="p", status="failed",
                                                                      reasons=["<script>alert(1)</script>"]),
          Verdict(id="m-miss", platform="p", status="missing", reasons=["no golden"]),
          Verdict(id="b-err", platform="p", status="error", reasons=["boom"])]
    order = [c.id for c in sort_cases(case_result(v.to_json()) for v in vs)]
    assert order == ["b-err", "m-miss", "z-fail", "a-pass"]
    page = write_report(tmp_path, vs, suite=None, platform="cpu-avx2", revision=None).read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert page.index("id='case-b-err--p'") < page.index("id='case-z-fail--p'") < page.index("id='case-a-pass--p'")


def test_summary_names_the_reason_that_failed_and_gated_rows(tmp_path: Path) -> None:
    """flux-tiny failing on memory must not show a passing metric as its summary; the gated
    memory row that failed is marked and drawn as a failure, the ungated wall time is not."""
    from regress.report.github import job_summary
    from regress.report.summary import cell_text
    from regress.golden_records import PerfRecord
    from dataclasses import replace

    from regress.perf_diff import gate_lines, perf_diff

    mib = 1 << 20
    perf = perf_diff(PerfRecord.from_json({"wall_s": 1.0, "memory_source": "profiler", "peak_memory": {"total": 10 * mib}}),
                     PerfRecord.from_json({"wall_s": 3.0, "memory_source": "profiler",
                                           "peak_memory": {"total": 11 * mib}}))
    perf = replace(perf, gates=perf.check(memory_tolerance=0.02, time_tolerance=None))
    failures, _ = gate_lines(perf.gates)
    v = Verdict(id="flux-tiny", platform="cpu-avx2", status="failed", model="tiny", reasons=failures, perf=perf,
                metrics=judge_metrics({"max_abs": 0.0}, {"max_abs": Threshold(2.0, "suite default")}))
    rec = v.to_json()
    assert cell_text(case_result(rec)).startswith("peak memory total 10.00 MiB -> 11.00 MiB (+10.0%")
    assert "max_abs" not in cell_text(case_result(rec))
    assert "peak memory total" in job_summary({"cases": [rec], "platforms": ["cpu-avx2"], "summary": {}})
    page = write_report(tmp_path, [v], suite=None, platform="cpu-avx2", revision="r").read_text()
    table = page[page.index("<table id='summary'>"):page.index("</table>", page.index("<table id='summary'>"))]
    assert "peak memory total" in table and "max_abs" not in table
    assert "<a href='#case-flux-tiny--cpu-avx2'><b>flux-tiny</b></a>" in table  # the case links to its card
    perf_table = page[page.index("<table class='perf'>"):]
    wall = perf_table[perf_table.index("wall time (s)") - 40:perf_table.index("</tr>", perf_table.index("wall time"))]
    memory = perf_table[perf_table.index("peak memory total") - 40:]
    assert "<tr class=''>" in wall and "not gated" in wall and "bad" not in wall  # ungated: plain
    assert "<tr class='gated bad'>" in memory and "gated: FAIL (tolerance 2%)" in memory
    assert "random-weight test pipeline" in page  # the tiny note


def test_video_labels_count_from_one_and_diffs_have_a_scale(tmp_path: Path) -> None:
    frames = np.full((5, 8, 8, 3), 100, np.uint8)
    moved = frames.copy()
    moved[4, 2, 3, 0] = 101  # 1/255 in the last frame
    v = Verdict(id="v", platform="cpu-avx2", status="failed", worst_frame=4, reasons=["x"])
    m = write_case_assets(tmp_path, v, Output(video=moved, fps=8.0), Output(video=frames, fps=8.0))
    assert m.media["video"]["diff_peak"] == 1
    page = write_report(tmp_path, [v], suite=None, platform="cpu-avx2", revision="r",
                        media={(v.id, v.platform): m}).read_text()
    assert "frame 5 / 5" in page and "worst frame (5)" in page and "frame 4 / 4" not in page
    assert "<span class='peak'>1/255</span>" in page  # a 1/255 change says so beside the heat-map


def test_a_nan_stage_checkpoint_shows_nan_on_the_page(tmp_path: Path) -> None:
    """results.json writes a non-finite cosine as the string "nan" (strict JSON); the page marks
    that stage NaN (it drew nothing: the view only knew a float NaN)."""
    v = Verdict(id="staged", platform="p", status="failed", reasons=["stage text_encode: cos nan"],
                stages=[{"key": "text_encode/call1/out0", "cos": float("nan"), "rel_l2": float("nan"), "note": None},
                        {"key": "denoise/step0/out0", "cos": 0.999, "rel_l2": 0.01, "note": None}])
    page = write_report(tmp_path, [v], suite=None, platform="p", revision=None).read_text()
    assert page.count("<span class='bar nan'>NaN</span>") == 1
    assert "background:#c0392b" in page  # the finite stage that moved still draws its bar
