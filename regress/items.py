"""The suite file as a pytest collector, its cases as test items, and the run's selection.

A case becomes an item named ``<case-id>[<platform>]`` with the ``golden`` mark, the marks the
suite declares for it, and an ``xfail`` mark where a platform rule says so (``skip`` rules are
applied when the item runs, where they are recorded). After pytest's own ``-k`` / ``-m``
selection, :func:`select` notes what each suite was asked to run (coverage, the publish rule)
and keeps only this shard's cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .errors import RegressError
from .outcome import GoldenFailure, conclude, judged
from .suite_sessions import choices, session_for


class SuiteFile(pytest.File):
    def collect(self):  # type: ignore[override]
        from .suite import load_suite

        try:
            suite = load_suite(self.path)
            session = session_for(self.config, suite)
            platform = session.platform
            _ = session.store  # open and verify the pin now: a bad store is a collection error
        except RegressError as exc:
            raise self.CollectError(str(exc)) from None
        for case in session.suite.cases:  # --golden-compile: the compiled variants
            item = GoldenItem.from_parent(self, name=f"{case.id}[{platform}]", case=case, golden_session=session)
            item.add_marker(pytest.mark.golden)
            for m in case.marks:
                self.config.addinivalue_line("markers", f"{m}: declared by the regress suite")
                item.add_marker(getattr(pytest.mark, m))
            rule = case.rule_for(platform)
            if rule and rule[0] == "xfail":  # skip rules are applied in runtest, where they are recorded
                item.add_marker(pytest.mark.xfail(reason=f"{platform}: {rule[1]}", strict=False))
            yield item


class GoldenItem(pytest.Item):
    def __init__(self, *, case: Any, golden_session: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.golden_session = golden_session

    def runtest(self) -> None:
        rule = self.case.rule_for(self.golden_session.platform)
        if rule and rule[0] == "skip":
            reason = f"{self.golden_session.platform}: {rule[1]}"
            self.golden_session.record_skip(self.case, reason)
            pytest.skip(reason)
        v = self.golden_session.check(self.case).verdict
        judged(self).append((self.golden_session, v))
        conclude(v)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, (GoldenFailure, RegressError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"golden {self.name}"


def is_suite_file(file_path: Path, config: pytest.Config) -> bool:
    """Whether pytest is looking at this run's suite file (asked for every file collected)."""
    return file_path.name.endswith(".toml") and file_path.resolve() == choices(config).suite


def select(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Note what each suite was asked to run (for coverage), then keep only this shard's cases
    under --golden-shard; ``items`` is changed in place, as pytest expects."""
    by_session: dict[int, tuple[Any, list[GoldenItem]]] = {}
    for item in items:
        if isinstance(item, GoldenItem):
            by_session.setdefault(id(item.golden_session), (item.golden_session, []))[1].append(item)
    shard = choices(config).shard
    deselected: list[pytest.Item] = []
    for gs, golden_items in by_session.values():
        gs.selected = [it.case.id for it in golden_items]
        gs.expected = list(gs.selected)
        if shard:
            from .shard import parse_shard, select_shard

            index, n = parse_shard(shard)
            keep = select_shard(gs.selected, gs.store, index, n)
            deselected += [it for it in golden_items if it.case.id not in keep]
            gs.expected = [cid for cid in gs.selected if cid in keep]
    if deselected:
        dropped = {id(it) for it in deselected}
        config.hook.pytest_deselected(items=deselected)
        items[:] = [it for it in items if id(it) not in dropped]
