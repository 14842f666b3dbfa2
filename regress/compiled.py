"""A compiled case judged against the eager golden of the same case, while it has none of its own.

Why: a compiled case's own goldens are the exact check of a compiled engine (compiled kernels
compute other bits, so they cannot share the eager goldens), but a matrix gains a compiled run
before anyone has made goldens for it, and a compiled run that moved far from eager is news even
then. So a compiled case with no golden of its own is judged against its eager twin's golden
(:meth:`regress.suite.Suite.eager_twin`) in the drift regime, with that golden's measured drift
bounds (``regress calibrate --drift --compile`` runs a compiled path among its variants, so
the bounds include what compiling moves), and its line says so. Where the twin's golden has no
measured bounds, the drift regime's rule for unmeasured bounds applies (named in the line; a
failure under --golden-strict unless the suite opts in).

A parallel case (``parallel = {...}``, :mod:`regress.parallel`) is judged the same way against its
one-process twin (:meth:`regress.suite.Suite.one_process_twin`): a run over several ranks is one
more legal path (``regress calibrate --drift --parallel LAYOUT`` measures it into the twin's bounds).

Not while goldens are being written (``--golden-update``) or references adopted: the compiled
case then is what it is, a case whose golden is missing, and gets one of its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .evidence import load_golden
from .suite import Case


def eager_golden(session: Any, case: Any, subject: Any, loaded: tuple[Any, str, Any]) -> tuple[Any, Any, str | None]:
    """(what to judge against, the subject to judge, the legal path judged across) for a
    compiled ``case`` whose own golden is missing (``loaded``): the eager twin's golden, the
    subject with the twin's spec hash (the inputs are the twin's: no "spec changed" warning),
    and a path line; everything unchanged otherwise (an eager case, a golden of its own, a
    test's output, no twin golden to judge against)."""
    o = session.options
    if loaded[0] is not None or not isinstance(case, Case) or (case.compile is None and not case.parallel):
        return loaded, subject, None
    if case.parallel:
        return _one_process_golden(session, case, subject, loaded)
    twin = session.suite.eager_twin(case)
    if twin is None or o.update != "none" or o.adopt:
        return loaded, subject, None
    found = load_golden(session.store, twin.id, session.platform)
    if found[0] is None:
        return loaded, subject, None
    mode = case.compile
    path = (f"compiled run (torch.compile mode {mode}, {dict(subject.settings).get('compile', mode)}) judged against "
            f"the eager golden of '{twin.id}' (no compiled golden yet: `pytest -m golden --golden-compile={mode} "
            "--golden-update=missing` makes one)")
    return found, dataclasses.replace(subject, spec_hash=twin.spec_hash()), path


def _one_process_golden(session: Any, case: Case, subject: Any,
                        loaded: tuple[Any, str, Any]) -> tuple[Any, Any, str | None]:
    """:func:`eager_golden` for a parallel case: its one-process twin's golden, across the layout."""
    twin = session.suite.one_process_twin(case)
    if twin is None or session.options.update != "none" or session.options.adopt:
        return loaded, subject, None
    found = load_golden(session.store, twin.id, session.platform)
    if found[0] is None:
        return loaded, subject, None
    layout = dict(subject.settings).get("parallel") or case.layout.label()
    path = (f"parallel run ({layout}) judged against the one-process golden of '{twin.id}' (no golden of this "
            "layout yet: `pytest -m golden --golden-update=missing` makes one)")
    return found, dataclasses.replace(subject, spec_hash=twin.spec_hash()), path
