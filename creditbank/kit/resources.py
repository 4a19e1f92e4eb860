"""Finding the top-level ``templates/`` and ``schemas/`` folders, in a checkout or an installed wheel.

A checkout or editable install has them beside the package; a wheel installs them under
``<prefix>/share/creditbank/`` (pyproject ``[tool.setuptools.data-files]``).
"""

from __future__ import annotations

import site
import sys
import sysconfig
from pathlib import Path


def shared_dir(name: str, marker: str) -> Path:
    """The first ``name`` folder that holds ``marker``; the checkout's when none does."""
    candidates = [Path(__file__).resolve().parents[2] / name]
    for prefix in dict.fromkeys((sys.prefix, sysconfig.get_path("data"), site.USER_BASE or "")):
        if prefix:
            candidates.append(Path(prefix) / "share" / "creditbank" / name)
    return next((c for c in candidates if (c / marker).is_file()), candidates[0])
