"""How much memory a shape-true build may take on its device *now*, before it allocates.

Why the host too: a released-size model built on the CPU does not swap politely. Under a
container's memory limit it dies in the allocator (the kernel's OOM killer, no message), and
on a bare host it pushes everything else out. So the CPU is checked like a GPU is: from what
the kernel says is available, and, inside a cgroup with a limit, from what that limit leaves.

What counts as free:

- CUDA (and ROCm, which answers to ``torch.cuda``): ``torch.cuda.mem_get_info`` plus what
  torch's caching allocator holds but does not use (free for this build too).
- CPU: ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can give without swapping;
  ``psutil`` where there is no ``/proc``), and, when a cgroup memory limit is set
  (v2 ``memory.max``, v1 ``memory.limit_in_bytes``), the limit minus the group's working set
  (usage less its inactive page cache, which the kernel reclaims first, as the kubelet counts
  it) -- the smaller of the two.
- Any other device, or a host that says nothing: unknown (``None``); the build is not refused.

Importing this module does not import torch; asking about a CUDA device does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Free", "free_memory", "host_free"]

_CGROUP = Path("/sys/fs/cgroup")
_MEMINFO = Path("/proc/meminfo")
_NO_LIMIT = 1 << 60  # cgroup v1 says "no limit" with a number near 2**63


@dataclass(frozen=True, kw_only=True)
class Free:
    """Bytes a build may take now on one device, and what said so (for the refusal's line)."""

    free: int
    total: int | None
    source: str  # e.g. "MemAvailable", "cgroup memory.max", "cuda.mem_get_info"


def free_memory(device: str) -> Free | None:
    """What ``device`` has free for a build now; ``None`` where that cannot be known."""
    kind = device.split(":", 1)[0]
    if kind == "cuda":
        return _cuda_free(device)
    if kind == "cpu":
        return host_free()
    return None


def _cuda_free(device: str) -> Free:
    import torch

    dev = torch.device(device)
    free, total = torch.cuda.mem_get_info(dev)
    free += torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
    return Free(free=int(free), total=int(total), source="cuda.mem_get_info")


def host_free(*, cgroup: Path = _CGROUP, meminfo: Path = _MEMINFO) -> Free | None:
    """The host's available memory, bounded by the cgroup's limit when one is set."""
    host = _meminfo(meminfo) or _psutil()
    limited = _cgroup_free(cgroup)
    if limited is not None and (host is None or limited.free < host.free):
        return limited
    return host


def _meminfo(path: Path) -> Free | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    if "MemAvailable" not in values:
        return None
    return Free(free=values["MemAvailable"], total=values.get("MemTotal"), source="MemAvailable")


def _psutil() -> Free | None:
    try:
        import psutil  # optional: only where /proc/meminfo is not there
    except ImportError:
        return None
    vm = psutil.virtual_memory()
    return Free(free=int(vm.available), total=int(vm.total), source="psutil available")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def _cgroup_free(root: Path) -> Free | None:
    for limit_name, usage_name, stat_key, source in (
            ("memory.max", "memory.current", "inactive_file", "cgroup memory.max"),  # v2
            ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "total_inactive_file",
             "cgroup memory.limit_in_bytes")):  # v1
        limit = _read_int(root / limit_name)
        if limit is None or limit >= _NO_LIMIT:
            continue
        usage = _read_int(root / usage_name) or 0
        stat = root / (limit_name.rpartition("/")[0] + "/memory.stat").lstrip("/")
        working = max(0, usage - _stat(stat, stat_key))
        return Free(free=max(0, limit - working), total=limit, source=source)
    return None
