"""The browser UI (`planner ui`): a Dash app on 127.0.0.1 that sets up a scenario in a form and shows what
planner.ui.compute returns for it. Every asset (Dash's components, plotly.js) is served by the app itself.

The form: model (preset, a bundled Hugging Face config by its id, or an uploaded config.json), weights dtype (or
the checkpoint's), chips on offer with prices and counts, traffic (rate, prompt and answer lengths, or a demand
profile per period), SLOs, serving modes; or a whole scenario as YAML (traffic classes, several models, pricing,
limits), which Solve plans instead of the form. Solve shows the
cheapest fleet, what each forced architecture costs, the frontiers per architecture with the plan marked, each
chip type alone against the heterogeneous plan, the simulated latency distribution and the error bands; with a
demand profile, the schedule over the periods. The scenario and the plan can be downloaded.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, dcc, html

from planner.errors import PlannerError
from planner.export.launch import LAUNCHERS
from planner.export.write import launch_script
from planner.inputs.chips import load_catalog
from planner.inputs.models import preset_ids, zoo_ids
from planner.optimize.uncertainty import margin_text
from planner.ui import compute

DEFAULT_CHIPS = ["h100-sxm", "h200-sxm", "b200"]
FIELD = {"display": "flex", "flexDirection": "column", "marginBottom": "8px"}
SPINNER_TEXT = "Solving: the cheapest fleet, a frontier per architecture, each chip type alone, a simulation ..."


def _number(id_, value, label, step="any"):
    return html.Label([label, dcc.Input(id=id_, type="number", value=value, step=step, debounce=True,
                                        style={"width": "100%"})], style=FIELD)


def _table(id_, df=None, editable=()):
    """An AG Grid (dash-ag-grid) sized to its rows; `editable`: columns the user may edit."""
    cols = [] if df is None else list(df.columns)
    return dag.AgGrid(id=id_, columnDefs=[{"field": c, "headerName": c, "editable": c in editable} for c in cols],
                      rowData=[] if df is None else df.to_dict("records"),
                      columnSize="responsiveSizeToFit", dashGridOptions={"domLayout": "autoHeight"},
                      defaultColDef={"resizable": True, "wrapText": True, "autoHeight": True}, style={"height": None})


def _form() -> html.Div:
    cat = load_catalog()
    return html.Div([
        html.H3("Scenario"),
        html.Label(["Model", dcc.Dropdown(id="model", options=_model_options(), value="llama-3.1-70b",
                                          clearable=False)], style=FIELD),
        dcc.Upload(id="upload", children=html.Div(["or drop a config.json here"]), multiple=False,
                   style={"border": "1px dashed #999", "padding": "6px", "textAlign": "center", "marginBottom": "8px"}),
        html.Div(id="upload-note", style={"fontSize": 12, "color": "#555"}),
        html.Label(["Weights", dcc.Dropdown(id="weights", options=[{"label": "the checkpoint's", "value": "checkpoint"},
                                                                   "bf16", "fp8", "fp4", "w4a16"],
                                            value="fp8", clearable=False)], style=FIELD),
        html.Label(["Chips on offer", dcc.Dropdown(id="chips", options=cat.ids(), value=DEFAULT_CHIPS, multi=True)],
                   style=FIELD),
        _table("chip-table"),
        html.Div("price $/chip-hour (blank: catalog), max_count (blank: unlimited)", style={"fontSize": 12}),
        html.H4("Traffic"),
        _number("rate", 20, "requests/s"), _number("isl", 2048, "prompt tokens", 1), _number("osl", 256, "output tokens", 1),
        html.Label(["Demand per period, requests/s (optional: plans a day)",
                    dcc.Textarea(id="profile", value="", style={"width": "100%", "height": "50px"})], style=FIELD),
        _number("period-hours", 1, "hours per period"),
        _number("reserved-discount", 35, "reserved chips, % off on-demand (blank: none)"),
        html.H4("SLO"),
        _number("ttft", 1000, "TTFT ms"), _number("ttft-pct", 90, "TTFT percentile"), _number("tpot", 30, "TPOT ms"),
        dcc.Checklist(id="modes", options=[{"label": v, "value": k} for k, v in compute.ARCHITECTURES.items()],
                      value=["aggregated", "disaggregated"]),
        html.Details([
            html.Summary("Scenario YAML (traffic classes, several models, pricing, limits ...)"),
            html.Div("When this box holds a scenario, Solve plans it instead of the form (docs/scenarios.md).",
                     style={"fontSize": 12}),
            html.Button("Copy the form here", id="yaml-from-form", n_clicks=0, style={"margin": "4px 0"}),
            dcc.Textarea(id="scenario-yaml", value="", style={"width": "100%", "height": "220px",
                                                             "fontFamily": "monospace", "fontSize": 12}),
        ], id="yaml-details", style={"marginTop": "8px"}),
        html.Button("Solve", id="solve", n_clicks=0, style={"marginTop": "10px", "fontSize": 16, "padding": "6px 18px"}),
        html.Div([html.Button("Download scenario", id="dl-scenario-btn"),
                  html.Button("Download plan (JSON)", id="dl-plan-btn", style={"marginLeft": "6px"})],
                 style={"marginTop": "8px"}),
        html.Div([html.Button("Export: vLLM launch.sh", id="dl-vllm-btn"),
                  html.Button("Export: SGLang launch.sh", id="dl-sglang-btn", style={"marginLeft": "6px"})],
                 style={"marginTop": "6px"}),
        html.Div(id="export-status", style={"fontSize": 12, "color": "crimson"}),
        dcc.Download(id="dl-scenario"), dcc.Download(id="dl-plan"), dcc.Download(id="dl-launch"),
        dcc.Store(id="uploaded-path"), dcc.Store(id="plan-store"),
    ], style={"width": "330px", "flexShrink": 0, "paddingRight": "16px"})


def _model_options() -> list[dict]:
    """Presets, then every bundled Hugging Face config (models/zoo) by its id."""
    zoo = sorted(p.name[: -len("_config.json")].replace("--", "/", 1) for p in zoo_ids().values())
    return ([{"label": p, "value": p} for p in preset_ids()]
            + [{"label": f"{z} (models/zoo)", "value": z} for z in zoo])


def _results_layout() -> html.Div:
    return html.Div([
        html.Div(id="status", style={"marginBottom": "8px"}),
        dcc.Loading(html.Div(id="results"), type="default", custom_spinner=html.Div(
            [html.Div(className="spin"), html.Span(SPINNER_TEXT, id="progress-text")])),
    ], style={"flexGrow": 1, "minWidth": 0})


def build_app() -> dash.Dash:
    """The app (call .run(host, port)); served locally: no CDN."""
    app = dash.Dash(__name__, title="planner", serve_locally=True, assets_folder=str(Path(__file__).parent / "assets"))
    app.layout = html.Div([
        html.H2("planner: fleets and frontiers"),
        html.Div([_form(), _results_layout()], style={"display": "flex"}),
    ], style={"fontFamily": "system-ui, sans-serif", "margin": "12px 20px", "color": "#222"})
    _callbacks(app)
    return app


def _form_dict(model, uploaded, weights, chip_rows, rate, isl, osl, profile, period_hours, reserved_discount, ttft,
               ttft_pct, tpot, modes):
    return {"model": uploaded or model, "weights": weights, "chips": chip_rows, "rate_rps": rate, "isl": isl,
            "osl": osl, "profile": profile, "period_hours": period_hours, "reserved_discount_pct": reserved_discount,
            "ttft_ms": ttft, "ttft_percentile": ttft_pct, "tpot_ms": tpot, "modes": modes}


YAML_STATE = State("scenario-yaml", "value")
FORM_STATES = [State("model", "value"), State("uploaded-path", "data"), State("weights", "value"),
               State("chip-table", "rowData"), State("rate", "value"), State("isl", "value"), State("osl", "value"),
               State("profile", "value"), State("period-hours", "value"), State("reserved-discount", "value"),
               State("ttft", "value"),
               State("ttft-pct", "value"), State("tpot", "value"), State("modes", "value")]


def _error(exc: Exception) -> html.Div:
    return html.Div(str(exc), className="error", style={"color": "crimson", "whiteSpace": "pre-wrap"})


def _callbacks(app: dash.Dash) -> None:
    cat = load_catalog()

    @app.callback(Output("chip-table", "rowData"), Output("chip-table", "columnDefs"), Input("chips", "value"),
                  State("chip-table", "rowData"))
    def chip_rows(ids, rows):
        old = {r["id"]: r for r in rows or []}
        data = [old.get(i) or {"id": i, "price_usd_per_hr": cat[i].price_usd_per_hr, "max_count": None}
                for i in ids or []]
        cols = [{"field": "id", "headerName": "chip", "editable": False},
                {"field": "price_usd_per_hr", "headerName": "$/h", "editable": True, "cellDataType": "number"},
                {"field": "max_count", "headerName": "max_count", "editable": True, "cellDataType": "number"}]
        return data, cols

    @app.callback(Output("uploaded-path", "data"), Output("upload-note", "children"), Input("upload", "contents"),
                  State("upload", "filename"), prevent_initial_call=True)
    def upload(contents, filename):
        import base64

        raw = base64.b64decode(contents.split(",", 1)[1])
        folder = Path(tempfile.mkdtemp(prefix="planner-ui-"))
        path = folder / "config.json"
        path.write_bytes(raw)
        return str(path), f"using {filename} (uploaded)"

    @app.callback(Output("scenario-yaml", "value"), Input("yaml-from-form", "n_clicks"), *FORM_STATES,
                  prevent_initial_call=True)
    def yaml_from_form(_n, *form):
        try:
            return compute.scenario_yaml(compute.scenario_from_form(_form_dict(*form)))
        except PlannerError as exc:
            return f"# the form does not make a scenario yet: {str(exc).splitlines()[0]}\n"

    def _scenario(text, form):
        return compute.scenario_from_yaml(text) if text and text.strip() else compute.scenario_from_form(_form_dict(*form))

    @app.callback(Output("results", "children"), Output("status", "children"), Output("plan-store", "data"),
                  Input("solve", "n_clicks"), YAML_STATE, *FORM_STATES, prevent_initial_call=True)
    def solve(_n, text, *form):
        try:
            sc = _scenario(text, form)
            if sc.plans_periods:
                summary, fig, _schedule = compute.explore_periods(sc)
                return _periods_view(summary, fig), _status(summary), json.dumps(summary, default=str)
            ex = compute.explore(sc)
        except PlannerError as exc:
            return html.Div(), _error(exc), None
        return _view(ex), _status(ex.summary), json.dumps(ex.summary, default=str)

    @app.callback(Output("dl-scenario", "data"), Input("dl-scenario-btn", "n_clicks"), YAML_STATE, *FORM_STATES,
                  prevent_initial_call=True)
    def download_scenario(_n, text, *form):
        try:
            sc = _scenario(text, form)
        except PlannerError:
            return dash.no_update
        return {"content": compute.scenario_yaml(sc), "filename": "scenario.yaml"}

    @app.callback(Output("dl-plan", "data"), Input("dl-plan-btn", "n_clicks"), State("plan-store", "data"),
                  prevent_initial_call=True)
    def download_plan(_n, plan):
        if not plan:
            return dash.no_update
        return {"content": plan, "filename": "plan.json"}

    @app.callback(Output("dl-launch", "data"), Output("export-status", "children"), Input("dl-vllm-btn", "n_clicks"),
                  Input("dl-sglang-btn", "n_clicks"), State("plan-store", "data"), prevent_initial_call=True)
    def download_launch(_a, _b, plan):
        target = "vllm" if dash.ctx.triggered_id == "dl-vllm-btn" else "sglang"
        if not plan:
            return dash.no_update, "solve first"
        summary = json.loads(plan)
        if "deployment" not in summary:
            return dash.no_update, "plans over periods have no single deployment to export"
        try:
            script = launch_script(LAUNCHERS[target](summary))
        except PlannerError as exc:
            return dash.no_update, str(exc).splitlines()[0]
        return {"content": script, "filename": f"launch-{target}.sh"}, ""


def _status(s: dict) -> html.Div:
    gap = s.get("mip_gap")
    word = {"optimal": "optimal", "within-gap": f"within a {100 * (gap or 0):.2g}% gap"}.get(
        s["status"], f"{s['status']}: NOT proven optimal (gap {100 * (gap or 0):.2g}%)")
    return html.Div(f"status: {word}", id="solve-status")


def _metrics(rows: list[tuple[str, str]]) -> html.Table:
    return html.Table([html.Tr([html.Th(k, style={"textAlign": "left", "paddingRight": "14px"}), html.Td(v)])
                       for k, v in rows], id="summary")


def _view(ex: compute.Exploration) -> html.Div:
    s = ex.summary
    tpot = s.get("tpot_ms")
    rows = [("cost", f"{compute.money(s['cost_usd_per_hr'])}/h"),
            ("$ per million output tokens", compute.money(s.get("cost_usd_per_mtok"))),
            ("chips", f"{s['num_chips']:,}"), ("architecture", s["architecture"]),
            (f"TTFT p{s['ttft_percentile']:g}", f"{s['ttft_ms']:,.0f} ms"),
            ("TPOT", f"{tpot:.1f} ms" if tpot else "-"), ("throughput", f"{s['throughput_rps']:.3g} requests/s"),
            ("why", s.get("why") or "-")]
    parts = [html.H3("Cheapest fleet"), _metrics(rows), html.H4("Pools"), _table("fleet-table", ex.fleet)]
    if len(ex.alternatives):
        parts += [html.H4("Each architecture forced"), _table("alternatives-table", ex.alternatives.round(2))]
    if "frontier_cost" in ex.figures:  # a multi-class scenario has none (the notes say why)
        parts += [html.H3("Frontiers"), dcc.Graph(id="frontier-cost", figure=ex.figures["frontier_cost"]),
                  dcc.Graph(id="frontier-chip", figure=ex.figures["frontier_chip"])]
    if "single_chip" in ex.figures:
        parts += [html.H3("Heterogeneous vs one chip type"), dcc.Graph(id="single-chip", figure=ex.figures["single_chip"])]
    if "latency" in ex.figures:
        parts += [html.H3("Simulated latencies"), dcc.Graph(id="latency", figure=ex.figures["latency"])]
    parts += [html.H4("Error bands (measured/predicted throughput on comparable validated rows)"),
              _table("bands-table", ex.error_bands)]
    parts += [html.P(n, className="note") for n in ex.notes]
    parts += [html.P(f"planning margin: {margin_text(s['margin'])}", style={"fontSize": 12, "color": "#555"}),
              html.P("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in ex.timings_s.items()),
                     style={"fontSize": 12, "color": "#555"})]
    return html.Div(parts)


def _periods_view(s: dict, fig) -> html.Div:
    sav = s.get("savings") or {}
    rows = [("cost per day", compute.money(s["cost_usd_per_day"])), ("cost per month", compute.money(s["cost_usd_per_month"])),
            ("$ per million input / output tokens", f"{compute.money(s['cost_usd_per_mtok_input'])} / "
                                                    f"{compute.money(s['cost_usd_per_mtok_output'])}"),
            ("reserved chips", ", ".join(f"{r['count']} {r['chip']}" for r in s["reserved"]) or "none"),
            ("peak chips", f"{s['peak_chips']:,}"),
            ("static fleet for the peak, per day", compute.money(sav.get("static_peak_usd_per_day"))),
            ("all on-demand, per day", compute.money(sav.get("all_on_demand_usd_per_day")))]
    return html.Div([html.H3("Plan over periods"), _metrics(rows), dcc.Graph(id="schedule", figure=fig)])
