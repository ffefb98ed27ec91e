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
    table = [(r["kind"], r["name"], r["weights"], r["note"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    if any(r["weights"] == "missing" for r in rows):
        typer.echo("\nMissing weights: see docs/install.md (dpseg never downloads them).")
    typer.echo(
        "\nAlso accepted: any open_clip model as ARCH[:TAG] with --encoder-weights PATH, "
        "any diffusers hub id in your Hugging Face cache, or a local pipeline folder."
    )
