"""Platform keys and the scored fallback to the nearest golden of the same backend."""

from __future__ import annotations

import pytest

from regress.platform import detect, is_valid_key, nearest, parse_key, score


def test_keys() -> None:
    assert parse_key("cuda-sm90") == ("cuda", "sm90")
    assert parse_key("rocm-gfx942") == ("rocm", "gfx942")
    assert is_valid_key("cpu-avx2") and not is_valid_key("gpu-x") and not is_valid_key("cuda")
    with pytest.raises(ValueError):
        parse_key("CUDA_sm90")


def test_exact_beats_everything() -> None:
    assert score("cuda-sm90", "cuda-sm90") == 100
    assert nearest("cuda-sm90", ["cuda-sm80", "cuda-sm90", "cuda-sm89"]) == "cuda-sm90"


def test_same_generation_and_nearest_arch_preferred() -> None:
    assert nearest("cuda-sm89", ["cuda-sm80", "cuda-sm90"]) == "cuda-sm80"  # same major 8
    assert nearest("cuda-sm90", ["cuda-sm75", "cuda-sm86"]) == "cuda-sm86"
    assert nearest("rocm-gfx942", ["rocm-gfx90a", "rocm-gfx941"]) == "rocm-gfx941"
    assert nearest("cpu-avx512", ["cpu-default", "cpu-avx2"]) == "cpu-avx2"


def test_never_across_backends() -> None:
    assert score("rocm-gfx942", "cuda-sm90") == 0
    assert nearest("rocm-gfx942", ["cuda-sm90", "cpu-avx2"]) is None
    assert nearest("cpu-avx2", []) is None


def test_ties_break_the_same_way_everywhere() -> None:
    a = nearest("cuda-sm90", ["cuda-sm100", "cuda-sm80"])
    b = nearest("cuda-sm90", ["cuda-sm80", "cuda-sm100"])
    assert a == b


def test_detect_on_this_machine_is_a_cpu_key() -> None:
    info = detect("cpu")
    assert info.backend == "cpu" and is_valid_key(info.key) and info.key.startswith("cpu-")
    assert "torch" in info.versions
