"""``python -m aiohcs``: the command line tool."""

from aiohcs.cli import main

raise SystemExit(main())
