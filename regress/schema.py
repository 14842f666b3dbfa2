"""JSON Schema from the dataclasses that declare regress's files (suite, meta.json, results.json).

Why dataclasses and this small emitter rather than pydantic: the models are imported by the
pytest plugin's session, which loads in every pytest run of an environment, and pydantic's
import and model construction cost several times the dataclasses' (measured in
``benchmarks/bench_schema_import.py``, figures in ``benchmarks/RESULTS.md``). The emitter covers
the annotations the models use: ``str``, ``int``, ``float``, ``bool``, ``None``, unions,
``Literal``, ``str`` enums, ``list`` / ``tuple`` / ``Mapping`` / ``dict`` and nested dataclasses.

A float written by regress may be non-finite, which JSON cannot hold: results.json and meta.json
write those as the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (``json_floats=True`` allows them).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

NON_FINITE = ("nan", "inf", "-inf")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_of(tp: Any, *, json_floats: bool = False, title: str | None = None,
              description: str | None = None) -> dict[str, Any]:
    """A complete JSON Schema document for ``tp`` (usually a dataclass)."""
    out: dict[str, Any] = {"$schema": DIALECT}
    if title:
        out["title"] = title
    if description:
        out["description"] = description
    out.update(_schema(tp, json_floats))
    return out


def _schema(tp: Any, jf: bool) -> dict[str, Any]:
    if tp is Any or tp is object:
        return {}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"anyOf": [{"type": "number"}, {"enum": list(NON_FINITE)}]} if jf else {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return dataclass_schema(tp, jf)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(a, jf) for a in args]}
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "prefixItems": [_schema(a, jf) for a in args], "minItems": len(args),
                    "maxItems": len(args)}
        return {"type": "array", "items": _schema(args[0], jf)} if args else {"type": "array"}
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return {"type": "object", "additionalProperties": _schema(args[1], jf)} if args else {"type": "object"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def dataclass_schema(cls: type, jf: bool = False) -> dict[str, Any]:
    """An object with the dataclass's fields as properties; those without a default are
    required; no other keys (a typo in a file is an error, not a silently ignored key).
    A field's ``metadata["schema"]`` (a dict) refines its schema, e.g. with a pattern."""
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("schema") is False:  # not part of the file
            continue
        s = _schema(hints[f.name], jf)
        extra = f.metadata.get("schema")
        if isinstance(extra, Mapping):
            s = {**s, **extra}
        if f.metadata.get("doc"):
            s = {"description": f.metadata["doc"], **s}
        props[f.name] = s
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    # A record that keeps keys it does not know (regress.golden_records: a newer regress's) is open.
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "additionalProperties": bool(getattr(cls, "open_record", False))}
    if required:
        out["required"] = required
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        out = {"description": " ".join(cls.__doc__.split()), **out}
    return out
