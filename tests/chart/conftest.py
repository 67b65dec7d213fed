"""Makes `tests.chart.render` importable (pytest runs with --import-mode=importlib, which leaves
sys.path alone) and shares the rendered scenarios between the test modules."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
