"""What a run resolves once, lazily: its store, platform, device and numerics identity.

Resolved on first use, not at construction: a collection that selects no golden case never
opens the store or probes the machine. Each is a fact of the session, not of a judgement: once
resolved it is a plain attribute (``functools.cached_property``), so judging a case reads it
instead of resolving it again.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .options import Options
from .platform import require_key
from .staging import check_mode
from .stores import Store, open_store
from .suite import Suite


class RunContext:
    """The suite and options of a run, checked at construction (every entry point: plugin,
    refresh, calibrate, API), and what they resolve to."""

    def __init__(self, suite: Suite, options: Options, *, store: Store | None = None) -> None:
        # --golden-compile: every case runs as its compiled variant (its own id and goldens)
        self.suite = suite.compiled(options.compile) if options.compile else suite
        self.options = options
        check_mode(options.update)
        if options.platform is not None:
            require_key(options.platform)
        if store is not None:
            self.__dict__["store"] = store  # (what the cached property below would have opened)

    def eager_golden(self, case: Any, subject: Any, loaded: tuple[Any, str, Any]) -> tuple[Any, Any, str | None]:
        """What a case is judged against: ``loaded``, or for a compiled case without goldens of
        its own, its eager twin's golden in the drift regime (:func:`regress.compiled.eager_golden`)."""
        from .compiled import eager_golden

        return eager_golden(self, case, subject, loaded)

    @cached_property
    def store(self) -> Store:
        o = self.options
        return open_store(self.suite, strict=o.strict, publish=o.publish, create_pr=o.create_pr)

    @cached_property
    def platform_info(self) -> Any:
        from . import kernels
        from .devices import check_device
        from .platform import detect

        if self.options.device is not None:  # the plugin's --golden-device, a library caller's Options
            check_device(self.options.device)
        kernels.apply_env()  # REGRESS_KERNELS: before anything computes
        return detect(self.options.device)

    @cached_property
    def identity(self) -> Any:
        """This machine's numerics identity (:mod:`regress.probe`), first asked for after the first
        case's pipeline ran: on a GPU the cuBLAS / cuDNN start-up is then paid, not charged to it.
        Once per session: what it depends on (:func:`regress.probing.cache_key`: the machine, the
        installed versions, the kernel-choosing environment) does not change within a run."""
        from .probing import identity

        return identity(self.device)

    @cached_property
    def platform(self) -> str:
        return self.options.platform or self.platform_info.key

    @cached_property
    def device(self) -> str:
        return self.platform_info.device
