"""The judging walk (issue 25): one ``result`` through ``GoldenSession.judge``, traced.

A synthetic 32x32 image case on the CPU: its golden is written, a changed image is judged once
to load modules and caches, then once more under ``sys.setprofile`` (tests/layers.py). The
golden is read as ``GoldenSession.check`` reads it, on the I/O thread while the case runs, and
that read is traced on its own (second line). Every call of a regress function counts; a
*stay* is a maximal run of consecutive calls in one module, a *room* a module, a *climb back
up* a call from a module of a lower layer (the layers are declared in tests/layers.py) into one
of a higher layer. tests/test_structure.py asserts the target (at most 25 stays, at most 2
climbs).

    PYTHONPATH=. python3 benchmarks/bench_walk.py [-v]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main(argv: list[str]) -> None:
    from layers import walks

    with tempfile.TemporaryDirectory() as tmp:
        traced = walks(Path(tmp))
    for name, walk in zip(("judging walk", "golden read (I/O thread)"), traced, strict=True):
        print(f"{name}: {walk.summary()}")
        print("  climbs: " + (", ".join(f"{a} -> {b}" for a, b in walk.climbs) or "none"))
        if "-v" in argv:
            print("  stays: " + " > ".join(m.removeprefix("regress.") for m in walk.stays))


if __name__ == "__main__":
    main(sys.argv[1:])
