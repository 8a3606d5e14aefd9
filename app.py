"""Atelier's chat UI: `python app.py [--host ...]` (same as `atelier ui`). The UI lives in
`agent/surfaces/ui/` (a package); this file only launches it."""
from agent.surfaces.ui import cli

if __name__ == "__main__":
    cli()
