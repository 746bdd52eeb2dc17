"""The browser UI: `planner ui` (app.py) over the same Python API as the CLI (compute.py)."""
