"""Install this checkout of aiohcs into the Wine suite's Windows CPython, as ``pip install -e``.

The suite imports aiohcs from the repository root; what an installation adds is its
metadata: the ``.dist-info`` (name, version, the ``aiohcs`` console script's entry point,
which ``importlib.metadata`` and the tests read) and a ``.pth`` that puts the checkout on
``sys.path`` of every interpreter, as an editable install does. Written from
pyproject.toml by the host's Python (nothing runs under Wine); the Windows interpreter has
no pip.

Usage (tools/wine/run_suite.sh runs it)::

    python tools/wine/editable.py SITE_PACKAGES WINDOWS_PATH_OF_THE_CHECKOUT
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from base64 import urlsafe_b64encode
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def project() -> dict[str, Any]:
    """The ``[project]`` table of pyproject.toml."""
    if sys.version_info >= (3, 11):
        import tomllib

        with (ROOT / "pyproject.toml").open("rb") as file:
            table: dict[str, Any] = tomllib.load(file)["project"]
        return table
    sys.exit("tools/wine/editable.py needs Python 3.11 or later (tomllib)")


def files(meta: dict[str, Any], checkout: str) -> dict[str, str]:
    """The installed files, by path relative to site-packages, and their text."""
    name, version = meta["name"], meta["version"]
    info = f"{name}-{version}.dist-info"
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Summary: {meta['description']}", f"Requires-Python: {meta['requires-python']}"]
    lines += [f"Requires-Dist: {dependency}" for dependency in meta.get("dependencies", [])]
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items()) + "\n"
        for group, entries in (
            ("console_scripts", meta.get("scripts", {})),
            ("gui_scripts", meta.get("gui-scripts", {})),
        )
        if entries
    )
    url = "file:///" + checkout.replace("\\", "/")
    return {
        f"__editable__.{name}-{version}.pth": checkout + "\n",
        f"{info}/METADATA": "\n".join(lines) + "\n",
        f"{info}/entry_points.txt": entry_points,
        f"{info}/top_level.txt": name + "\n",
        f"{info}/INSTALLER": "tools/wine/editable.py\n",
        f"{info}/direct_url.json": json.dumps({"url": url, "dir_info": {"editable": True}}),
    }


def record(written: dict[str, str], info: str) -> str:
    """The RECORD of ``written`` (and of itself, without hash), as a wheel installer writes it."""
    rows = []
    for path, text in written.items():
        data = text.encode()
        digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{info}/RECORD,,")
    return "\n".join(rows) + "\n"


def install(site: Path, checkout: str) -> None:
    """Write the files into ``site``, replacing an earlier installation of the project."""
    meta = project()
    name = meta["name"]
    for old in [*site.glob(f"{name}-*.dist-info"), *site.glob(f"__editable__.{name}-*.pth")]:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    written = files(meta, checkout)
    info = f"{name}-{meta['version']}.dist-info"
    for path, text in {**written, f"{info}/RECORD": record(written, info)}.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    install(Path(sys.argv[1]), sys.argv[2])
