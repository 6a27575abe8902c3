"""Make the repository importable when a stage script runs as ``python workflow/scripts/X.py``."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
