"""Store registry: which class opens a suite's ``[store] kind``, found the way runners are.

Lookup order for a kind (as for a case's ``pipeline`` in :mod:`regress.runners`): stores
registered with :func:`register_store` (e.g. from a ``conftest.py``), then the
``regress.stores`` entry-point group (a third-party package), then the built-in kinds. Modules
are imported only when a suite names their kind, so ``import regress`` stays light and a
suite with a file store never imports huggingface_hub.

A store class implements :class:`regress.stores.base.Store` and a classmethod
``from_suite(suite, *, lock, options)`` that opens it at the revision ``lock`` pins
(:class:`OpenOptions` carries the command line's choices).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StoreError

if TYPE_CHECKING:
    from ..suite import Suite
    from .base import Store

ENTRY_POINT_GROUP = "regress.stores"

# kind -> "module:attribute" of the store class
BUILTIN: dict[str, str] = {
    "file": "regress.stores.file:FileStore",
    "hf": "regress.stores.hf:HfStore",
    "git": "regress.stores.hf:HfStore",  # read like hf; publishes with git by default
}

_registered: dict[str, Any] = {}


@dataclass(frozen=True, kw_only=True)
class OpenOptions:
    """How a store is opened, from the command line or the plugin's options.

    ``verify`` checks an embedded store's pin on open; ``strict`` refuses a lock that pins a
    branch instead of a commit; ``publish`` ('hub' or 'git') picks where a Hub store's new
    goldens are committed (default: by store kind); ``api`` stands in for
    ``huggingface_hub.HfApi`` (tests)."""

    verify: bool = True
    strict: bool = False
    publish: str | None = None
    create_pr: bool = False
    api: Any = None


def register_store(kind: str, store_class: Any) -> None:
    """Register a store class for ``[store] kind = "<kind>"`` (it wins over an entry point
    and a built-in kind of the same name)."""
    _registered[kind] = store_class


def unregister_store(kind: str) -> None:
    """Forget a store registered in code (tests, a conftest that cleans up)."""
    _registered.pop(kind, None)


def _entry_points() -> list[Any]:
    """The 'regress.stores' entry points, read afresh (a package installed since is found, as
    for runners); importlib.metadata is imported only here, when a store opens, never by
    ``import regress.stores`` (measured: ~40 ms to import, ~15-20 ms a scan, 2-core machine)."""
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def known_kinds() -> list[str]:
    names = set(BUILTIN) | set(_registered)
    names |= {ep.name for ep in _entry_points()}
    return sorted(names)


def store_class(kind: str, *, suite_path: Any = None) -> Any:
    """The class that opens ``kind``; a one-line :class:`StoreError` naming the suite's
    ``store.kind`` and the known kinds when none does, or when loading it fails."""
    where: dict[str, Any] = dict(file=suite_path, field="store.kind")
    if kind in _registered:
        cls, source = _registered[kind], "register_store"
    else:
        eps = [ep for ep in _entry_points() if ep.name == kind]
        if eps:
            source = f"entry point {eps[0].value}"
            cls = _guarded(eps[0].load, what=f"store kind '{kind}' from {source}", where=where)
        elif kind in BUILTIN:
            source = BUILTIN[kind]
            mod, _, attr = source.partition(":")
            cls = getattr(importlib.import_module(mod), attr)
        else:
            raise StoreError(f"unknown store kind '{kind}' (known: {', '.join(known_kinds())}; a third-party store "
                             f"registers one with regress.stores.register_store or the '{ENTRY_POINT_GROUP}' entry "
                             "point)", **where)
    if not callable(getattr(cls, "from_suite", None)):
        raise StoreError(f"store kind '{kind}' from {source} has no from_suite(suite, *, lock, options) "
                         "(see regress.stores.registry)", **where)
    return cls


def _guarded(load: Any, *, what: str, where: dict[str, Any]) -> Any:
    """``load()`` (a third party's import), with whatever it raises, a ``sys.exit()`` in it
    included, as one :class:`StoreError`: a module that exits while it is imported would
    otherwise end regress with its exit code. KeyboardInterrupt still stops."""
    try:
        return load()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - see the docstring
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise StoreError(f"loading {what}: {type(exc).__name__}{': ' + first if first else ''}", **where) from None


def open_store(suite: Suite, *, verify: bool = True, strict: bool = False, publish: str | None = None,
               create_pr: bool = False, api: Any = None) -> Store:
    """The store the suite names, at the revision its lock pins (see :class:`OpenOptions`)."""
    from ..lock import read_lock

    cls = store_class(suite.store.kind, suite_path=suite.path)
    lock = read_lock(suite.lock_path, suite.store)
    options = OpenOptions(verify=verify, strict=strict, publish=publish, create_pr=create_pr, api=api)
    return cls.from_suite(suite, lock=lock, options=options)
