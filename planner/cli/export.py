"""`planner export`: a plan as a deployment (server commands, a Dynamo manifest or llm-d Helm values, README,
benchmark command) for vLLM, SGLang, TensorRT-LLM, Dynamo or llm-d."""

from __future__ import annotations

import click

from .common import catalog_option


@click.command("export")
@click.argument("plan_path", metavar="PLAN.json|SCENARIO.yaml", type=click.Path(dir_okay=False))
@click.option("--to", "target", type=click.Choice(["vllm", "sglang", "trtllm", "dynamo", "llm-d"]), required=True,
              help="Serving framework (dynamo: a DynamoGraphDeployment of the plan's vLLM or SGLang workers; llm-d: "
                   "Helm values of llm-d's modelservice chart per pool, vLLM workers).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="deployment", show_default=True,
              help="Folder to write launch.sh (or dynamo.yaml, or llm-d values and install.sh), README.md and plan.json to.")
@catalog_option
def export_cmd(plan_path, target, out_dir, catalogs):
    """Write the launch commands for every pool of a plan (a `planner solve --format json` file, or a scenario,
    solved first): parallelism, batch limits, token budget, KV-cache dtype, quantization, speculative decoding and
    P/D disaggregation settings, with a README on routing and the benchmark that reproduces the planned load."""
    from planner.errors import PlannerError
    from planner.export.write import write_export
    from planner.inputs.reader import load_json

    if str(plan_path).endswith((".yaml", ".yml")):
        from planner.inputs.scenario import load_scenario
        from planner.optimize.solve import solve_scenario

        plan = solve_scenario(load_scenario(plan_path, catalogs), catalogs=catalogs).summary
    else:
        plan = load_json(plan_path, field="plan")
        if not isinstance(plan, dict):
            raise PlannerError(f"{plan_path}: not a plan (a JSON object from planner solve --format json)", field="plan")
    files = write_export(plan, target, out_dir)
    for f in files:
        click.echo(f"wrote {f}")


commands = [export_cmd]
