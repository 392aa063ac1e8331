"""Shared helpers of the async-core benchmarks (hcsim build): tables, stats, raw HCS calls."""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from typing import Any

from _configs import CONTAINER
from _report import table

from aiohcs._native import ffi, hcsim, lib, new_document_ptr, take_document, to_wide

__all__ = [
    "CONTAINER",
    "RawSystem",
    "check",
    "median",
    "parse_args",
    "percentile",
    "require_emulator",
    "table",
]

INFINITE = 0xFFFFFFFF


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    return parser.parse_args()


def require_emulator() -> None:
    if hcsim is None:
        raise SystemExit(
            "these benchmarks drive hcsim's control API: run them on the emulator build"
        )
    check(hcsim.HcsimReset())


def check(hr: int) -> None:
    if hr < 0:
        raise RuntimeError(f"HCS call failed: 0x{hr & 0xFFFFFFFF:08X}")


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------- raw HCS (no aiohcs)


class RawSystem:
    """A compute system driven by plain cffi calls and blocking waits (the baseline)."""

    def __init__(self, system_id: str) -> None:
        self.id = system_id
        out = ffi.new("HCS_SYSTEM *")
        op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
        w_id, w_cfg = to_wide(system_id), to_wide(_json(CONTAINER))
        check(lib.HcsCreateComputeSystem(w_id, w_cfg, op, ffi.NULL, out))
        check(lib.HcsWaitForOperationResult(op, INFINITE, ffi.NULL))
        lib.HcsCloseOperation(op)
        self.handle = out[0]

    def blocking_properties(self) -> Any:
        """HcsGetComputeSystemProperties + HcsWaitForOperationResult, as a sync program would.

        Returns the document parsed into the same model as ``await system.properties()``
        (``aiohcs.schema.Properties``), so that both sides pay for the same parsing.
        """
        op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
        try:
            check(lib.HcsGetComputeSystemProperties(self.handle, op, ffi.NULL))
            pp = new_document_ptr()
            check(lib.HcsWaitForOperationResult(op, INFINITE, pp))
            return _parse_properties(take_document(pp))
        finally:
            lib.HcsCloseOperation(op)

    def start_properties(self) -> Any:
        """Start a properties operation without waiting; returns the operation."""
        op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
        check(lib.HcsGetComputeSystemProperties(self.handle, op, ffi.NULL))
        return op

    @staticmethod
    def finish(op: Any) -> Any:
        pp = new_document_ptr()
        try:
            check(lib.HcsWaitForOperationResult(op, INFINITE, pp))
            return _parse_properties(take_document(pp))
        finally:
            lib.HcsCloseOperation(op)

    def close(self) -> None:
        op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
        if lib.HcsTerminateComputeSystem(self.handle, op, ffi.NULL) >= 0:
            lib.HcsWaitForOperationResult(op, INFINITE, ffi.NULL)
        lib.HcsCloseOperation(op)
        lib.HcsCloseComputeSystem(self.handle)


def _json(value: Any) -> str:
    return json.dumps(value)


def _parse_properties(document: str | None) -> Any:
    """The returned document as ``aiohcs.schema.Properties`` (what properties() returns)."""
    from aiohcs.schema import Properties

    return Properties.model_validate_json(document or "{}")
