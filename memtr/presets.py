"""Where the presets live: ``workflow/presets/<name>.yaml``, one params.yaml per experiment.

A module of its own, light to import, so that ``use_preset.py`` can name the folder without
loading the tables code (pandas) that :mod:`memtr.replication` needs.
"""

from pathlib import Path

PRESETS = Path(__file__).resolve().parents[1] / "workflow" / "presets"
