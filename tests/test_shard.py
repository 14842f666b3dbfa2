"""Sharding: every case in exactly one shard, balanced by recorded durations, the same split in
every process; `--golden-shard I/N` in pytest and `regress shard N`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from regress.cli import main
from regress.errors import RegressError
from regress.shard import case_costs, parse_shard, plan
from regress.stores import open_store
from regress.suite import load_suite

COSTS = {"flux": 9.0, "qwen": 4.0, "wan": 7.0, "ltx2": 12.0, "sd": 1.0, "z-image": 4.0, "audio": 2.5,
         "a": 0.5, "b": 0.5, "c": 0.5}


@pytest.mark.parametrize("n", range(1, 12))
def test_every_case_in_exactly_one_shard(n: int) -> None:
    shards = plan(COSTS, n)
    assert [s.index for s in shards] == list(range(1, n + 1))
    placed = [cid for s in shards for cid in s.cases]
    assert sorted(placed) == sorted(COSTS) and len(placed) == len(set(placed))
    loads = [s.seconds for s in shards]
    assert max(loads) - min(loads) <= max(COSTS.values())  # greedy LPT bound
    assert shards[0].cases[:1] == ["ltx2"][: min(1, n)]  # longest first, to the least-loaded shard


def test_ties_break_by_case_id() -> None:
    shards = plan({"b": 1.0, "a": 1.0, "c": 1.0, "d": 1.0}, 2)
    assert [s.cases for s in shards] == [["a", "c"], ["b", "d"]]


class _Meta:
    def __init__(self, meta: dict) -> None:
        self.meta = meta


class _Store:
    """Goldens on two platforms with different recorded times."""

    data = {"slow": {"cuda-sm90": {"wall_s": 3.0, "build_s": 2.0}, "rocm-gfx942": {"wall_s": 6.0}},
            "fast": {"cuda-sm90": {"wall_s": 0.5}}, "odd": {"cuda-sm90": {"wall_s": "junk"}}}

    def platforms(self, cid: str) -> list[str]:
        return sorted(self.data.get(cid, {}))

    def get(self, cid: str, platform: str) -> _Meta:
        return _Meta({"perf": self.data[cid][platform]})


def test_costs_are_the_largest_recorded_over_platforms_and_median_when_unknown() -> None:
    costs = case_costs(["slow", "fast", "new", "odd"], _Store())
    assert costs["slow"] == 6.0  # max(3 + 2, 6): the same on a CUDA and on a ROCm machine
    assert costs["fast"] == 0.5
    assert costs["new"] == costs["odd"] == 3.25  # median of the known ones


def test_parse_shard_rejects_bad_input() -> None:
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "1", "a/b", ""):
        with pytest.raises(RegressError, match="expected I/N"):
            parse_shard(bad)


def collected(pytester: pytest.Pytester, suite: Path, *args: str) -> list[str]:
    r = pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", "--collect-only",
                                     "-q", "-p", "no:cacheprovider", *args)
    return sorted(line.split("::")[1].split("[")[0] for line in r.stdout.lines if "::" in line)


def test_golden_shard_over_1_to_n_covers_every_case_once(pytester: pytest.Pytester, report_project: Path) -> None:
    suite = report_project / "goldens" / "suite.toml"
    everything = collected(pytester, suite)
    assert everything == ["qwen", "qwen-b", "wan"]
    for n in (2, 3):
        parts = [collected(pytester, suite, f"--golden-shard={i}/{n}") for i in range(1, n + 1)]
        flat = [cid for p in parts for cid in p]
        assert sorted(flat) == everything, (n, parts)
    # shards split what -k selected, not the whole suite
    assert sorted(collected(pytester, suite, "-k", "qwen", "--golden-shard=1/2")
                  + collected(pytester, suite, "-k", "qwen", "--golden-shard=2/2")) == ["qwen", "qwen-b"]


def test_bad_shard_option_is_a_usage_error(pytester: pytest.Pytester, project: Path) -> None:
    suite = project / "goldens" / "suite.toml"
    r = pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "--golden-shard=3/2")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "--golden-shard: expected I/N" in r.stderr.str()


def test_shard_plan_is_stable_across_processes(report_project: Path) -> None:
    suite = report_project / "goldens" / "suite.toml"
    outs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        r = subprocess.run([sys.executable, "-m", "regress.cli", "shard", "2", "--json", "--suite", str(suite)],
                           capture_output=True, text=True, env=env, check=True)
        outs.append(json.loads(r.stdout))
    assert outs[0] == outs[1]
    loaded = load_suite(suite)
    here = plan(case_costs([c.id for c in loaded.cases], open_store(loaded)), 2)
    assert [s["cases"] for s in outs[0]] == [s.cases for s in here]
    assert sorted(c for s in outs[0] for c in s["cases"]) == ["qwen", "qwen-b", "wan"]


def test_shard_command_prints_the_plan(report_project: Path, capsys) -> None:
    assert main(["shard", "2", "--suite", str(report_project / "goldens" / "suite.toml")]) == 0
    out = capsys.readouterr().out
    assert "shard 1/2:" in out and "shard 2/2:" in out and "wan (" in out
    assert main(["shard", "0", "--suite", str(report_project / "goldens" / "suite.toml")]) == 2
