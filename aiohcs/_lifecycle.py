"""What the plain and the tracked lifecycle calls of a compute system share."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from aiohcs._args import check_path
from aiohcs._documents import document_text, object_text
from aiohcs.errors import InvalidArgumentTypeError

__all__ = ["LIFECYCLE_CALLS", "options_text", "save_options"]

#: The lifecycle calls: operation → (its computecore function, the schema type of its
#: options; None: any JSON object, rarely used).
LIFECYCLE_CALLS: Final[Mapping[str, tuple[str, str | None]]] = MappingProxyType(
    {
        "Start": ("HcsStartComputeSystem", None),
        "Pause": ("HcsPauseComputeSystem", "PauseOptions"),
        "Resume": ("HcsResumeComputeSystem", None),
        "Save": ("HcsSaveComputeSystem", "SaveOptions"),
        "Shutdown": ("HcsShutDownComputeSystem", "ShutdownOptions"),
        "Terminate": ("HcsTerminateComputeSystem", None),
        "Crash": ("HcsCrashComputeSystem", "CrashOptions"),
    }
)


def _is_path(value: Any) -> bool:
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and not value.lstrip().startswith("{")


def save_options(path_or_options: Any) -> Any:
    """The SaveOptions of a save: a path means ``{"SaveType": "ToFile", ...}``.

    Anything else is returned as it is (SaveOptions as a model, mapping or JSON text).
    """
    if path_or_options is None:
        raise InvalidArgumentTypeError("save needs a path or SaveOptions, not None")
    if _is_path(path_or_options):
        path = check_path(path_or_options, "path")
        return {"SaveType": "ToFile", "SaveStateFilePath": path}
    return path_or_options


def options_text(operation: str, options: Any) -> str | None:
    """The checked options document of lifecycle call ``operation`` (a save's path too)."""
    type_name = LIFECYCLE_CALLS[operation][1]
    if operation == "Save":
        options = save_options(options)
    if type_name is None:
        return object_text(options, argument="options")
    return document_text(options, type_name, argument="options")
