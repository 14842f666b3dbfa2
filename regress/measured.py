"""The one lock between measured pipeline calls and this process's background GPU work.

The meter (:class:`regress.runners.measurement.StageMeter`) holds it for the whole of a measured
call; background work that launches kernels or allocates device memory in this process (loading
the fused SSIM kernel: :mod:`regress.metrics.fused_compile`) holds it while it runs. So neither
shows in the other's time or in the allocator peak the meter reads. Reentrant: a measured call may
hold it on its own thread. A module of its own (regress.quiet is something else: native stderr noise) so that both sides import it without importing
each other.
"""

from __future__ import annotations

import threading

QUIET = threading.RLock()
