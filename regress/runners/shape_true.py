"""A family's pipeline at the released size with seeded random weights (``weights = "random"``).

The family's tiny build supplies everything that is not a network (tokenizer, scheduler, the
pipeline class and its fix-ups); every network component is then replaced by its released
architecture from :mod:`regress.shapes`, built directly on the device in the case's dtype.
The pipeline is constructed again around the new components, because diffusers pipelines read
sizes (e.g. ``vae_scale_factor``) from their components in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..suite import Case

# One seed per component, fixed: the weights of a shape-true case depend on nothing but the
# family, the dtype table and the device type, so goldens can be made and compared.
_SEED_BASE = 20_000


def build_shape_true(family: Any, case: Case, table: Mapping[str, str], device: str) -> Any:
    """``family``'s pipeline with released-size random components on ``device``.

    Refuses, before anything is allocated, when the weights alone cannot fit the device.
    """
    from ..shapes import specs
    from ..shapes.build import check_fits, materialize, memory_plan

    family_specs = specs(family.name)
    check_fits(memory_plan(family_specs, table), device=device, family=family.name, case=case.id)
    scaffold = family.build_tiny(case)
    modules = {spec.component: materialize(spec, device=device, dtype=table[spec.component],
                                           seed=_SEED_BASE + i)
               for i, spec in enumerate(family_specs)}
    cls, components = type(scaffold), {**scaffold.components, **modules}
    del scaffold  # the tiny networks are dropped with their pipeline
    pipe = cls(**components)
    family.adapt(pipe)
    return pipe
