"""``tandem._speedups``, the backend's C accelerator, when it is in use.

``module`` is the extension (``backend/ext/_speedups.c``, built by ``make
build``), or None when it is not built or ``TANDEM_NO_SPEEDUPS=1`` is set in
the environment (the Python code alone, as part of the test suite runs).
Each function in it takes a subset of what the Python code it stands in for
takes, returns the same for it, and None for the rest.

Calls nothing else of tandem.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Optional

module: Optional[ModuleType] = None

if not os.environ.get("TANDEM_NO_SPEEDUPS"):
    try:
        from . import _speedups as module  # type: ignore[attr-defined, no-redef]
    except ImportError:
        module = None
