"""The suite against an hcsim service: one service for the whole test session.

``AIOHCS_TEST_SERVICE=1``: importing this module (conftest.py does it first) starts
``python -m aiohcs hcsim serve`` on a socket in a private temporary folder and sets
``AIOHCS_HCSIM`` to it, so the test process (at its import of the binding) and every child
process it starts are clients of that service. The service stops when the session ends.
Otherwise ``AIOHCS_HCSIM`` is set empty (hcsim in-process; the ``aiohcs`` tool does not
look for a service on the default socket) unless the environment already names a service.
"""

from __future__ import annotations

import atexit
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
from typing import Final

#: The environment variable that runs the suite against a service ("1").
SERVICE_ENV: Final = "AIOHCS_TEST_SERVICE"
#: The start of the skip reason of an ``in_process_only`` test.
IN_PROCESS_ONLY: Final = "in-process hcsim only: "
#: How long the service may take to accept clients.
_READY_S: Final = 60.0


def start_session_service() -> None:
    """Start the session's service if asked (see the module's docstring)."""
    if os.environ.get(SERVICE_ENV) != "1" or sys.platform == "win32":
        os.environ.setdefault("AIOHCS_HCSIM", "")
        return
    folder = tempfile.mkdtemp(prefix="aiohcs-svc-")
    path = os.path.join(folder, "hcsim.sock")
    env = {**os.environ, "AIOHCS_HCSIM": ""}
    env.setdefault("HCSIM_LATENCY", "instant")
    service = subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "hcsim", "serve", "--socket", path],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert service.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(service.stdout, selectors.EVENT_READ)
        ready = selector.select(_READY_S) and service.stdout.readline()
    if not ready:
        service.kill()
        service.wait()
        raise RuntimeError(f"the hcsim service for the test session did not start ({path})")

    def stop() -> None:
        service.terminate()
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    os.environ["AIOHCS_HCSIM"] = path


start_session_service()
