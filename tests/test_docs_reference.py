"""The API reference pages name objects that exist and cover the main schema types."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from helpers import REPO

from aiohcs import schema

REFERENCE = REPO / "docs" / "reference"
DIRECTIVE = re.compile(r"^::: ([\w.]+)$", re.M)

#: The schema types users pass (configurations, options, requests) or receive (results,
#: event payloads, error documents) most; each needs its own section on the schema page.
MAIN_SCHEMA_TYPES = [
    "ComputeSystem",
    "SystemQuery",
    "ModifySettingRequest",
    "PauseOptions",
    "SaveOptions",
    "ShutdownOptions",
    "ProcessParameters",
    "SignalProcessOptions",
    "ProcessModifyRequest",
    "Properties",
    "SystemExitStatus",
    "CrashReport",
    "ProcessStatus",
    "ProcessDetails",
    "ResultError",
    "ServiceProperties",
]


def directives() -> list[tuple[str, str]]:
    """(page, dotted name) of every mkdocstrings ``:::`` directive in the reference."""
    return [
        (page.name, name)
        for page in sorted(REFERENCE.glob("*.md"))
        for name in DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    ]


def resolve(dotted: str) -> Any:
    """The object a dotted name refers to: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize(("page", "name"), directives(), ids="{0[0]}:{0[1]}".format)
def test_every_directive_names_an_existing_object(page: str, name: str) -> None:
    assert resolve(name) is not None


def test_the_schema_page_documents_the_main_types() -> None:
    documented = {name for page, name in directives() if page == "schema.md"}
    missing = [t for t in MAIN_SCHEMA_TYPES if f"aiohcs.schema.{t}" not in documented]
    assert not missing


@pytest.mark.parametrize("name", MAIN_SCHEMA_TYPES)
def test_main_schema_types_are_models_with_aliased_fields(name: str) -> None:
    model = schema.get_type(name)
    assert issubclass(model, schema.HcsModel)
    assert model.model_fields
    for field_name, field in model.model_fields.items():
        assert field.serialization_alias, field_name  # the JSON name the page shows
