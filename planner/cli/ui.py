"""`planner ui`: the browser UI on 127.0.0.1 (planner/ui/app.py)."""

from __future__ import annotations

import click


@click.command("ui")
@click.option("--port", type=click.IntRange(1, 65535), default=8050, show_default=True, help="Port on 127.0.0.1.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; only print the address.")
def ui_cmd(port, no_browser):
    """Explore fleets and frontiers in a browser: a local web app (offline; every asset served by it)."""
    import webbrowser

    from planner.ui.app import build_app  # dash and plotly only for this command

    url = f"http://127.0.0.1:{port}/"
    click.echo(f"planner UI at {url} (Ctrl+C to stop)")
    if not no_browser:
        webbrowser.open(url)
    build_app().run(host="127.0.0.1", port=port, debug=False)


commands = [ui_cmd]
