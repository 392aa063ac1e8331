"""The first call of a program may be a call on the service itself (no compute system).

Like every other entry point it loads pydantic and the schema models it needs in a worker
thread, never on the event loop (checked in a fresh interpreter, where nothing is loaded).
"""

from __future__ import annotations

import pytest
from helpers import heavy_modules, run_import_watch

from aiohcs import testing

pytestmark = pytest.mark.skipif(not testing.is_available(), reason="needs hcsim")

SERVICE_CALL = """
async def main():
    props = await aiohcs.service_properties(*sys.argv[2:])
    assert props.properties, props
    return type(props).__name__

report = {"type": anyio.run(main, backend=sys.argv[1])}
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("types", [(), ("Basic",)])
def test_the_first_service_call_loads_pydantic_and_the_models_off_the_loop(
    backend: str, types: tuple[str, ...]
) -> None:
    result = run_import_watch(SERVICE_CALL, backend, *types)
    assert result["type"] == "ServiceProperties"
    assert "pydantic" in result["all"]  # (loaded, in a worker thread)
    assert heavy_modules(result["on_loop"]) == []
