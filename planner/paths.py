"""Where bundled data lives: the repository's catalogs/, models/ and scenarios/ folders."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("PLANNER_DATA_ROOT", Path(__file__).resolve().parent.parent))
CATALOG_DIR = ROOT / "catalogs"
MODELS_DIR = ROOT / "models"
ZOO_DIR = MODELS_DIR / "zoo"  # Hugging Face config.json files of current open models (models/zoo/README.md)
SCENARIOS_DIR = ROOT / "scenarios"
