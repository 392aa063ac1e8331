"""What the plain and the tracked lifecycle calls of a compute system share."""

from __future__ import annotations

import os
from typing import Any

from aiohcs._args import check_path
from aiohcs.errors import InvalidArgumentTypeError

__all__ = ["save_options"]


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
