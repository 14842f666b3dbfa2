"""A JSON object of a file regress reads, as a frozen dataclass that writes back what it read.

Why a base of its own: the golden's records (:mod:`regress.golden_records`) are read from
files other regress versions wrote. A record keeps the keys it was read with (``present``) and
those it does not know (``extra``), so that :meth:`Record.to_json` gives back the same JSON,
key for key (a golden rewritten through the types is byte-identical; a newer regress's field
survives an older one's rewrite). Non-finite numbers are ``"inf"``/``"-inf"``/``"nan"`` strings
in JSON and floats in the record. Plain dataclasses: no import cost beyond the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

__all__ = ["HIDDEN", "Record"]

HIDDEN = {"schema": False}  # a field that is not a key of the file

_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _number(v: Any) -> Any:
    """A JSON number as read: a non-finite one written as a string becomes a float."""
    return _NON_FINITE[v] if isinstance(v, str) and v in _NON_FINITE else v


def _table(v: Any) -> Any:
    """metric -> number, with non-finite strings read as floats."""
    return {k: _number(x) for k, x in v.items()} if isinstance(v, Mapping) else v


def _to_json(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_json()
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, Mapping):
        return {k: _to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_json(x) for x in v]
    return v


@dataclass(frozen=True)
class Record:
    """A JSON object read into a dataclass: the fields it declares, plus what it does not know.

    Subclasses name the fields that hold nested records (``_nested``: field -> record class;
    a list field holds a list of them), tables of them (``_tables``: name -> record) and those
    that hold numbers or metric tables that may be non-finite (``_numbers``)."""

    _nested: ClassVar[Mapping[str, type[Record]]] = {}
    _tables: ClassVar[Mapping[str, type[Record]]] = {}  # field -> record class of each value of its table
    _numbers: ClassVar[frozenset[str]] = frozenset()
    empty_is_none: ClassVar[bool] = False  # an empty nested object reads as None (results.json's blocks)
    open_record: ClassVar[bool] = True  # the schema lets unknown keys through (a newer regress)
    # Bookkeeping of every record, not keys of its file (metadata "schema": False): what it did
    # not know, and the keys it was read with (None: built in code). Keyword-only, so that each
    # subclass declares its own fields first, in the file's order.
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, kw_only=True,
                                  metadata=HIDDEN)
    present: tuple[str, ...] | None = field(default=None, repr=False, compare=False, kw_only=True,
                                            metadata=HIDDEN)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.metadata.get("schema") is not False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]):  # -> Self
        """The record of ``data`` (a JSON object already held to the schema)."""
        known = cls.keys()
        kwargs: dict[str, Any] = {}
        for k in known:
            if k in data:
                kwargs[k] = cls._read(k, data[k])
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**kwargs, extra=extra, present=tuple(data))

    @classmethod
    def _read(cls, name: str, value: Any) -> Any:
        sub = cls._nested.get(name)
        if sub is not None and isinstance(value, Mapping):
            return None if cls.empty_is_none and not value else sub.from_json(value)
        table = cls._tables.get(name)
        if table is not None and isinstance(value, Mapping):
            return {k: table.from_json(v) if isinstance(v, Mapping) else v for k, v in value.items()}
        if sub is not None and isinstance(value, list):
            return [sub.from_json(x) if isinstance(x, Mapping) else x for x in value]
        if name in cls._numbers:
            return _table(value) if isinstance(value, Mapping) else _number(value)
        return value

    def to_json(self) -> dict[str, Any]:
        """The JSON object this record was read from (same keys, same order, same values). A
        field it was read without is written only once it is set (``dataclasses.replace``: a
        staged golden keeps its old drift bounds); a record built in code writes every field."""
        present, extra = self.present, self.extra
        known = self.keys()
        names = list(present) if present is not None else list(known)
        out: dict[str, Any] = {}
        for k in names:
            out[k] = _to_json(getattr(self, k) if k in known else extra.get(k))
        for f in fields(self):
            if f.name in known and f.name not in out and getattr(self, f.name) != _default(f):
                out[f.name] = _to_json(getattr(self, f.name))
        for k, v in extra.items():
            out.setdefault(k, _to_json(v))
        return out


def _default(f: Any) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else (None if f.default is MISSING else f.default)

