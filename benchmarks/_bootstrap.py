"""Make the repository importable when a benchmark runs as ``python benchmarks/X.py``: Python
puts ``benchmarks/`` on ``sys.path``, not the repository root (``workflow/scripts/_bootstrap.py``
does the same for the stage scripts). A benchmark that is also imported as ``benchmarks.X``
(by the tests) imports it only when run as a script::

    if not __package__:  # `python benchmarks/X.py`
        import _bootstrap  # noqa: F401
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
