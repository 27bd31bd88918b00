"""The observed state as JSON: what one read of the deployed state saw, saved and read back.

Used to keep a real read (of a Terraform-built sandbox) as a test fixture, and to judge
a saved read again without the cloud. Records are the ports' dataclasses; datetimes are
RFC 3339 strings; a facet that was not read stays `null`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from functools import cache
from typing import Any, Union, get_args, get_origin

from keyplane.postapply import ports
from keyplane.postapply.collect import Observed, ObservedAwsKey, ObservedGcpKey
from keyplane.postapply.report import Unknown


def dump(value: Any) -> Any:
    """`value` (an Observed, a record, or anything inside one) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [dump(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(dump(v) for v in value)
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(ports) | {"Observed": Observed,
                                                     "ObservedAwsKey": ObservedAwsKey,
                                                     "ObservedGcpKey": ObservedGcpKey,
                                                     "Unknown": Unknown})


def _build(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _build(inner[0], data) if len(inner) == 1 else data
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(data)
    if tp is dt.date:
        return dt.date.fromisoformat(data)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        if not isinstance(data, dict):
            raise ValueError(f"{tp.__name__} must be an object, got {type(data).__name__}")
        return tp(**{k: _build(hints[k], v) for k, v in data.items() if k in known})
    if origin in (list, tuple, set, frozenset):
        args = get_args(tp)
        item = args[0] if args else Any
        items = [_build(item, v) for v in data]
        return origin(items) if origin is not list else items
    if origin is dict:
        _, val = get_args(tp)
        return {k: _build(val, v) for k, v in data.items()}
    return data


def load(data: dict[str, Any]) -> Observed:
    """An Observed from `dump`'s output; ValueError/TypeError/KeyError when it is not one."""
    observed = _build(Observed, data)
    assert isinstance(observed, Observed)
    return observed
