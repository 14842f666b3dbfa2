"""Keep native library noise off the user's terminal.

torch's profiler (Kineto) writes straight to file descriptor 2 from C++, past Python's
``sys.stderr`` and any logging setting: ``USDT: ... profiler_start`` / ``profiler_stop`` on
every start and stop, and on a machine without a GPU ``ERROR: ... gpuGetDeviceCount failed
with code 35``. ``KINETO_LOG_LEVEL`` silences the second only, and only when set before
torch loads. So the calls that emit them run with fd 2 pointed at a temporary file; what
they wrote is then passed on, less the lines known to be noise (anything else, a real
error included, still reaches stderr).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(r"^(USDT:.*\] profiler_(start|stop)"
                   r"|(ERROR|WARNING):.*gpuGetDeviceCount failed with code \d+)\s*$")


@contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Run the body with fd 2 captured; re-emit what it wrote, minus :data:`NOISE` lines."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            kept = "".join(line for line in text.splitlines(keepends=True) if not NOISE.match(line))
            if kept:
                os.write(2, kept.encode("utf-8"))
