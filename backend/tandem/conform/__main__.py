"""``python3 -m tandem.conform``: see ``cli.py``, the only module this one calls."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
