"""Property tests: models and HCS JSON documents round-trip through aiohcs.schema.

The strategies are derived from the models themselves (their fields' annotations), so every
generated type is covered without a hand-written strategy per type:

* ``model_instances(M)`` builds instances of ``M`` through the snake_case keywords;
  instance -> JSON -> instance must be stable.
* ``json_documents(M)`` builds JSON documents of ``M``'s shape (JSON names, in-range numbers,
  listed and unlisted enum values, arbitrary JSON in ``Any`` members, unknown extension
  members at every level); document -> model -> document must give the document back.
"""

import json
import types
import typing
from typing import Annotated, Any, Union

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic.fields import FieldInfo

import aiohcs.schema as schema
from aiohcs.schema import HcsModel, OpenEnum, _names
from aiohcs.schema._base import HResult32

MAX_DEPTH = 3
MODELS: list[type[HcsModel]] = [schema.get_type(n) for n in _names.MODELS]
TOP_LEVEL = [
    "ComputeSystem",
    "Properties",
    "ProcessParameters",
    "ProcessStatus",
    "SystemExitStatus",
    "CrashReport",
    "ResultError",
    "ServiceProperties",
    "ModifySettingRequest",
    "SignalProcessOptions",
    "ProcessModifyRequest",
    "System_PropertyQuery",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Extension member names; the ones that happen to equal a field's name are filtered out.
EXTENSION_KEYS = st.sampled_from(["OciProcess", "VendorData", "x-extension", "Zeta"])


def _bounds(metadata: list[Any]) -> tuple[int | None, int | None]:
    lo: int | None = None
    hi: int | None = None
    for item in metadata:
        if isinstance(item, FieldInfo):
            sub_lo, sub_hi = _bounds(item.metadata)
            lo = sub_lo if sub_lo is not None else lo
            hi = sub_hi if sub_hi is not None else hi
        else:  # annotated_types.Ge / Le
            ge, le = getattr(item, "ge", None), getattr(item, "le", None)
            lo = int(ge) if ge is not None else lo
            hi = int(le) if le is not None else hi
    return lo, hi


def _pattern(metadata: list[Any]) -> str | None:
    for item in metadata:
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    return None


def _enum_values(cls: type[OpenEnum]) -> st.SearchStrategy[str]:
    listed = st.sampled_from([m.value for m in cls])
    unlisted = st.text(min_size=1, max_size=10).filter(
        lambda s: s not in ("Unknown", "Unspecified")
    )
    return listed | unlisted


def value_strategy(annotation: Any, depth: int, *, as_json: bool) -> st.SearchStrategy[Any]:
    """Values of *annotation*: Python objects for the keyword API, or JSON data."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return st.one_of([value_strategy(a, depth, as_json=as_json) for a in options])
    if as_json and annotation == HResult32:
        # Documents spell an HRESULT signed, as HCS writes it (the unsigned spelling is read
        # too and written back signed: tests/test_schema.py checks that normalisation).
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    if origin is Annotated:
        base, *metadata = args
        if base is int:
            lo, hi = _bounds(metadata)
            return st.integers(min_value=lo, max_value=hi)
        if base is str:
            pattern = _pattern(metadata)
            if pattern is not None:
                return st.from_regex(pattern, fullmatch=True)
        return value_strategy(base, depth, as_json=as_json)
    if origin is list:
        return st.lists(value_strategy(args[0], depth + 1, as_json=as_json), max_size=2)
    if origin is dict:
        return st.dictionaries(
            st.text(max_size=4), value_strategy(args[1], depth + 1, as_json=as_json), max_size=2
        )
    if annotation is Any:
        return json_values.filter(lambda v: v is not None)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers()
    if annotation is str:
        return st.text(max_size=12)
    if isinstance(annotation, type) and issubclass(annotation, OpenEnum):
        values = _enum_values(annotation)
        return values if as_json else values.map(annotation)
    if isinstance(annotation, type) and issubclass(annotation, HcsModel):
        return json_documents(annotation, depth) if as_json else model_instances(annotation, depth)
    raise AssertionError(f"no strategy for {annotation!r}")


def _field_strategies(
    model: type[HcsModel], depth: int, *, as_json: bool
) -> dict[str, st.SearchStrategy[Any]]:
    if depth >= MAX_DEPTH:
        return {}
    out = {}
    for name, f in model.model_fields.items():
        key = f.serialization_alias if as_json and f.serialization_alias else name
        out[key] = value_strategy(f.annotation, depth + 1, as_json=as_json)
    return out


def _extensions(model: type[HcsModel]) -> st.SearchStrategy[dict[str, Any]]:
    taken = set(model.model_fields) | {f.serialization_alias for f in model.model_fields.values()}
    return st.dictionaries(
        EXTENSION_KEYS.filter(lambda k: k not in taken),
        json_values.filter(lambda v: v is not None),
        max_size=1,
    )


def model_instances(model: type[HcsModel], depth: int = 0) -> st.SearchStrategy[HcsModel]:
    """Instances of *model* built with snake_case keywords (and maybe an extension member)."""
    fields = st.fixed_dictionaries({}, optional=_field_strategies(model, depth, as_json=False))
    return st.builds(lambda kw, ext: model(**kw, **ext), fields, _extensions(model))


def json_documents(model: type[HcsModel], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """JSON documents of *model*'s shape, with unknown extension members mixed in."""
    fields = st.fixed_dictionaries({}, optional=_field_strategies(model, depth, as_json=True))
    return st.builds(lambda doc, ext: {**doc, **ext}, fields, _extensions(model))


def _check_instance_round_trip(instance: HcsModel) -> None:
    model = type(instance)
    text = instance.to_json()
    again = model.from_json(text)
    assert again.to_json() == text
    assert again.to_dict() == instance.to_dict() == json.loads(text)
    assert model.model_validate(instance.to_dict()).to_dict() == instance.to_dict()


def _check_document_round_trip(model: type[HcsModel], doc: dict[str, Any]) -> None:
    assert model.model_validate(doc).to_dict() == doc
    assert json.loads(model.from_json(json.dumps(doc)).to_json()) == doc


_any_model = st.sampled_from(MODELS)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_any_model.flatmap(lambda m: model_instances(m)))
def test_any_model_instance_round_trips(instance: HcsModel) -> None:
    _check_instance_round_trip(instance)


@_SETTINGS
@given(_any_model.flatmap(lambda m: st.tuples(st.just(m), json_documents(m))))
def test_any_document_round_trips_without_losing_members(
    case: tuple[type[HcsModel], dict[str, Any]],
) -> None:
    model, doc = case
    _check_document_round_trip(model, doc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(TOP_LEVEL)
    .map(schema.get_type)
    .flatmap(lambda m: st.tuples(model_instances(m), json_documents(m)))
)
def test_top_level_documents_round_trip(case: tuple[HcsModel, dict[str, Any]]) -> None:
    instance, doc = case
    _check_instance_round_trip(instance)
    _check_document_round_trip(type(instance), doc)


def test_strategies_cover_every_model() -> None:
    # Every field annotation of every model has a strategy (value_strategy raises otherwise).
    for model in MODELS:
        for f in model.model_fields.values():
            value_strategy(f.annotation, 0, as_json=True)
            value_strategy(f.annotation, 0, as_json=False)
