"""Import cost of the typed models: pydantic against dataclasses + regress's schema emitter.

The pytest plugin loads in every pytest run of an environment, and results.json / meta.json /
suite models are read by the plugin's session. This measures, in fresh interpreters (as pytest
starts), the time to import the model machinery and define one model of the size of a
results.json case record (20 fields), against the same model as a dataclass. Each side runs
``--repeats`` times, alternating, and the medians are compared with a bare interpreter's
start (``python -c pass``) subtracted.

    python benchmarks/bench_schema_import.py --repeats 15
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

FIELDS = "\n".join(f"    f{i}: {t} = None" for i, t in enumerate(
    ["str | None", "int | None", "float | None", "dict | None", "list | None"] * 4))

SIDES = {
    "bare interpreter": "pass",
    "dataclasses + regress.schema": ("from __future__ import annotations\nimport dataclasses\n"
                                     "import regress.schema\n"
                                     f"@dataclasses.dataclass\nclass M:\n{FIELDS}\n"),
    "pydantic BaseModel": ("from __future__ import annotations\nimport pydantic\n"
                           f"class M(pydantic.BaseModel):\n{FIELDS}\nM.model_rebuild()\n"),
}


def once(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    times: dict[str, list[float]] = {k: [] for k in SIDES}
    for code in SIDES.values():  # warm the bytecode caches
        once(code)
    for _ in range(args.repeats):
        for name, code in SIDES.items():
            times[name].append(once(code))
    base = statistics.median(times["bare interpreter"])
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, repeats {args.repeats} (medians, fresh processes)")
    cost = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        cost[name] = med - base
        print(f"{name:32s} {med * 1000:8.1f} ms   (+{cost[name] * 1000:6.1f} ms over a bare start)")
    dc, pd = cost["dataclasses + regress.schema"], cost["pydantic BaseModel"]
    print(f"pydantic / dataclasses import cost: {pd / max(dc, 1e-4):.1f}x ({pd * 1000:.1f} ms vs {dc * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
