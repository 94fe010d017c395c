"""Hypothesis strategies derived from the wire Structs' own msgspec schemas.

Deriving them from msgspec.inspect means every field of every event, with its
constraints, is exercised without a hand-written strategy per class.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from provledger._events import AUTHORITY_EVENTS, ITEM_EVENTS

_TEXT = st.characters(codec="utf-8", exclude_categories=("Cs",))


def for_type(t: mi.Type) -> st.SearchStrategy[Any]:
    """A strategy producing valid values of a msgspec type description."""
    if isinstance(t, mi.StrType):
        if t.pattern:
            s = st.from_regex(t.pattern, fullmatch=True)
        else:
            s = st.text(_TEXT, min_size=t.min_length or 0, max_size=min(t.max_length or 40, 40))
        return s.filter(lambda v: (t.min_length or 0) <= len(v) <= (t.max_length or 10**9))
    if isinstance(t, mi.IntType):
        return st.integers(min_value=t.ge if t.ge is not None else -(2**63),
                           max_value=t.le if t.le is not None else 2**63 - 1)
    if isinstance(t, mi.BytesType):
        lo = t.min_length or 0
        return st.binary(min_size=lo, max_size=t.max_length if t.max_length is not None else 64)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.ListType):
        return st.lists(for_type(t.item_type), max_size=min(t.max_length or 3, 3))
    if isinstance(t, mi.StructType):
        return struct(t.cls)
    if isinstance(t, mi.UnionType):
        return st.one_of([for_type(x) for x in t.types])
    if isinstance(t, mi.NoneType):
        return st.none()
    raise NotImplementedError(t)


def struct(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    """Instances of ``cls``; optional fields are sometimes left at their default."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    # Text an event needs (in clear unless committed) is generated as required,
    # and commitments are distinct and ascending, as the schema checks.
    needs = set(getattr(cls, "REQUIRED_TEXT", ()))
    required = {f.name: for_type(f.type) for f in info.fields if f.required or f.name in needs}
    optional = {f.name: for_type(f.type) for f in info.fields
                if not f.required and f.name not in needs}
    if "sd" in optional:
        optional["sd"] = st.lists(st.binary(min_size=32, max_size=32), max_size=3,
                                  unique=True).map(sorted)
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: cls(**kw))


EVENT_CLASSES = ITEM_EVENTS + AUTHORITY_EVENTS
any_event = st.one_of([struct(c) for c in EVENT_CLASSES])
