"""`dpseg models`: what encoders and generators dpseg knows, and whether their weights are here."""

from __future__ import annotations

import json

import typer

app = typer.Typer(
    help="Known encoders and generators, and whether their weights are on disk.",
    no_args_is_help=True,
)


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List known encoders and generators with the state of their weights (offline).

    Example: dpseg models list --json
    """
    from promptbank import catalog

    rows = [
        {
            "kind": "encoder",
            "name": e.name,
            "source": e.hf_repo or "built-in",
            "weights": catalog.weights_status("encoder", e.name),
            "note": e.note,
        }
        for e in catalog.ENCODERS.values()
    ] + [
        {
            "kind": "generator",
            "name": g.name,
            "source": g.hf_repo or "built-in",
            "weights": catalog.weights_status("generator", g.name),
            "note": g.note,
        }
        for g in catalog.GENERATORS.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    widths = [max(len(r[k]) for r in rows) for k in ("kind", "name", "weights")]
    for r in rows:
        weights = r["weights"] if r["weights"] != "missing" else "missing (see docs/install.md)"
        typer.echo(
            f"{r['kind']:<{widths[0]}}  {r['name']:<{widths[1]}}  {weights:<{widths[2]}}  {r['note']}"
        )
    typer.echo(
        "\nAlso accepted: any open_clip model as ARCH[:TAG] with --encoder-weights PATH, "
        "any diffusers hub id in your Hugging Face cache, or a local pipeline folder."
    )
