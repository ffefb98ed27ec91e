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

    known = [("encoder", e.name, e.hf_repo, e.note) for e in catalog.ENCODERS.values()]
    known += [("generator", g.name, g.hf_repo, g.note) for g in catalog.GENERATORS.values()]
    rows = [
        {"kind": kind, "name": name, "source": repo or "built-in",
         "weights": catalog.weights_status(kind, name), "note": note}
        for kind, name, repo, note in known
    ]  # fmt: skip
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
