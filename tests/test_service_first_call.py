"""The first call of a program may be a call on the service itself (no compute system).

Like every other entry point it loads pydantic and the schema models it needs in a worker
thread, never on the event loop (checked in a fresh interpreter, where nothing is loaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aiohcs import testing

pytestmark = pytest.mark.skipif(not testing.is_available(), reason="needs hcsim")

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import json, sys, threading
    import anyio
    import aiohcs

    # Every import of a module not loaded yet, with the importing thread.
    imported = {}

    class Watch:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name not in sys.modules:
                imported.setdefault(name, threading.get_ident())
            return None

    sys.meta_path.insert(0, Watch)
    loop_thread = threading.get_ident()

    async def main():
        props = await aiohcs.service_properties(*sys.argv[2:])
        assert props.properties, props
        return type(props).__name__

    name = anyio.run(main, backend=sys.argv[1])
    on_loop = sorted(m for m, thread in imported.items() if thread == loop_thread)
    print(json.dumps({"type": name, "on_loop": on_loop, "all": sorted(imported)}))
    """
)


def _heavy(modules: list[str]) -> list[str]:
    return [
        name
        for name in modules
        if name.split(".")[0] in ("pydantic", "pydantic_core") or name.startswith("aiohcs.schema")
    ]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("types", [(), ("Basic",)])
def test_the_first_service_call_loads_pydantic_and_the_models_off_the_loop(
    backend: str, types: tuple[str, ...]
) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, backend, *types],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["type"] == "ServiceProperties"
    assert "pydantic" in result["all"]  # (loaded, in a worker thread)
    assert _heavy(result["on_loop"]) == []
