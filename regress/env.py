"""Environment variables regress reads, named once."""

from __future__ import annotations

import os

CI = "CI"  # set by GitHub Actions and most CI systems: turns --golden-strict on
GITHUB_ACTIONS = "GITHUB_ACTIONS"
GITHUB_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
REGRESS_DEVICE = "REGRESS_DEVICE"  # force 'cpu' or 'cuda:1' for runs
REGRESS_LPIPS_WEIGHTS = "REGRESS_LPIPS_WEIGHTS"  # LPIPS backbone weights file (beats every other source)
REGRESS_H2D = "REGRESS_H2D"  # host->device copy mode of the GPU metrics: stage | direct | register
REGRESS_FAIL_AT = "REGRESS_FAIL_AT"  # tests: inject a failure at a named step of a publish


def truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def in_ci() -> bool:
    return truthy(CI)
