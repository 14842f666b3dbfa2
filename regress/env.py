"""Environment variables regress reads, named once."""

from __future__ import annotations

import os

CI = "CI"  # set by GitHub Actions and most CI systems: turns --golden-strict on
GITHUB_ACTIONS = "GITHUB_ACTIONS"
GITHUB_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
REGRESS_DEVICE = "REGRESS_DEVICE"  # force 'cpu' or 'cuda:1' for runs
REGRESS_FAIL_AT = "REGRESS_FAIL_AT"  # tests: inject a failure at a named step of a publish

# Hugging Face Hub (real checkpoints). Read at call time, not at import, and passed to
# huggingface_hub explicitly, so that a value set after the library was imported still holds.
HF_ENDPOINT = "HF_ENDPOINT"  # another Hub (a mirror, or the tests' local one)
HF_HUB_OFFLINE = "HF_HUB_OFFLINE"  # load from the HF cache only, never the network
HF_HUB_CACHE = "HF_HUB_CACHE"  # where the HF cache lives
HF_TOKEN = "HF_TOKEN"  # gated/private repos; never logged


def truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def in_ci() -> bool:
    return truthy(CI)
