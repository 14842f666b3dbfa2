"""Comparison metrics. Submodules that need numpy or torch import them inside functions."""
