"""Registers the toy engine's runner for ``pytest -m golden`` in this directory."""

import regress
from regress_toy import ToyEulerRunner

regress.register_runner("toy-euler", ToyEulerRunner)
