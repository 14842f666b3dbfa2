"""Injected sharding faults: the bugs a parallel engine can have that a parallel verdict must catch.

Why: a parallel run is judged against its one-process golden within drift bounds, and a real
sharding bug (a wrong all-to-all, a dropped shard, positions off by one rank) could hide inside
that envelope unless it is measured. Each fault here patches diffusers' context-parallel
machinery in one rank process (``REGRESS_PARALLEL_FAULT=NAME``, read by
:mod:`regress.parallel_rank`); ``benchmarks/bench_parallel_faults.py`` and tests/test_parallel.py
measure what each does to the output and whether the judgement fails it. Test harness only:
nothing in a real run sets the variable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import RunnerError


def _gather_order() -> None:
    """The all-gather of the output returns the ranks' shards in reverse order."""
    from diffusers.hooks import context_parallel as cp

    unshard = cp.EquipartitionSharder.unshard.__func__

    def reversed_unshard(cls: Any, tensor: Any, dim: int, mesh: Any) -> Any:
        import torch

        out = unshard(cls, tensor, dim, mesh)
        return torch.cat(list(reversed(out.chunk(mesh.size(), dim=dim))), dim=dim)

    cp.EquipartitionSharder.unshard = classmethod(reversed_unshard)


def _gather_order_on_rank1() -> None:
    """Only rank 1 gathers in reverse order: the ranks' outputs disagree (what the merge catches)."""
    import torch

    if torch.distributed.get_rank() == 1:
        _gather_order()


def _dropped_shard() -> None:
    """The last rank's shard never arrives: zeros in its place after the all-gather."""
    from diffusers.hooks import context_parallel as cp

    unshard = cp.EquipartitionSharder.unshard.__func__

    def dropping_unshard(cls: Any, tensor: Any, dim: int, mesh: Any) -> Any:
        import torch

        chunks = list(unshard(cls, tensor, dim, mesh).chunk(mesh.size(), dim=dim))
        chunks[-1] = torch.zeros_like(chunks[-1])
        return torch.cat(chunks, dim=dim)

    cp.EquipartitionSharder.unshard = classmethod(dropping_unshard)


def _positions_offset() -> None:
    """Each rank takes the next rank's slice of the position ids (the rotary offsets): its
    tokens are right, their positions are off by one rank."""
    from diffusers.hooks import context_parallel as cp

    shard = cp.EquipartitionSharder.shard.__func__

    def offset_shard(cls: Any, tensor: Any, dim: int, mesh: Any) -> Any:
        import torch

        if tensor.dim() != 2:  # hidden states are 3-d; position ids (img_ids, txt_ids) 2-d
            return shard(cls, tensor, dim, mesh)
        rank = (torch.distributed.get_rank(mesh.get_group()) + 1) % mesh.size()
        return tensor.chunk(mesh.size(), dim=dim)[rank]

    cp.EquipartitionSharder.shard = classmethod(offset_shard)


def _all_to_all_order() -> None:
    """Ulysses' all-to-all returns the peers' blocks in reverse order (heads or sequence swapped)."""
    from diffusers.models import attention_dispatch as ad

    all_to_all = ad._all_to_all_single

    def reversed_all_to_all(x: Any, group: Any) -> Any:
        import torch

        out = all_to_all(x, group)
        return torch.cat(list(reversed(out.chunk(torch.distributed.get_world_size(group), dim=0))), dim=0)

    ad._all_to_all_single = reversed_all_to_all


FAULTS: dict[str, Callable[[], None]] = {
    "gather-order": _gather_order,
    "gather-order-rank1": _gather_order_on_rank1,
    "dropped-shard": _dropped_shard,
    "positions-offset": _positions_offset,
    "all-to-all-order": _all_to_all_order,
}


def inject(name: str) -> None:
    """Patch this process's diffusers with the fault ``name`` (one of :data:`FAULTS`)."""
    fault = FAULTS.get(name)
    if fault is None:
        raise RunnerError(f"unknown sharding fault {name!r} (one of {', '.join(FAULTS)})")
    fault()
