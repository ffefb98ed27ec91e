"""`dpseg bank`: build, inspect, verify, list, show and re-encode visual-prompt banks.

Thin commands over `promptbank`; heavy imports happen inside the command functions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Build, inspect, verify and share visual-prompt banks.\n\n"
    "Example: dpseg bank build ade150 --out banks/ade150 (the paper's recipe; try it without "
    "weights: --generator procedural --encoder tiny --resolution 64 --steps 1)",
    no_args_is_help=True,
)

DEFAULT_STORE = os.environ.get("DPSEG_BANK_STORE", "banks")

BankDir = Annotated[Path, typer.Argument(help="A bank directory (holds manifest.json).")]
Encoder = Annotated[
    str, typer.Option("--encoder", help="Encoder name (see `dpseg models list`), e.g. tiny.")
]
EncoderWeights = Annotated[
    Path | None, typer.Option("--encoder-weights", help="Local weights file for the encoder.")
]
Device = Annotated[
    str, typer.Option("--device", help="auto (a GPU when present), cpu, cuda or cuda:N.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Store = Annotated[
    Path | None,
    typer.Option(
        "--store", help="A directory of banks; classes built with the same recipe are reused."
    ),
]


def _templates(value: str | None):
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else Path(value)


@app.command("build")
def build(
    vocab: Annotated[
        str,
        typer.Argument(
            help="Built-in vocabulary (voc20, voc21, pc59, pc459, ade150, "
            "ade847, coco-stuff171, shapes) or a text file, one class per line."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Bank directory to create or resume.")],
    generator: Annotated[
        str,
        typer.Option(
            "--generator",
            help="sd15 (Stable Diffusion 1.5 from the HF cache), sd21, sd3, a hub id in the "
            "cache, a diffusers folder, or the weightless procedural / tiny-sd.",
        ),
    ] = "sd15",
    encoder: Encoder = "convnext_base_w_320",
    encoder_weights: EncoderWeights = None,
    templates: Annotated[
        str | None,
        typer.Option("--templates", help="N (first N of the 80; default all 80) or a file."),
    ] = None,
    images_per_template: Annotated[
        int, typer.Option("--images-per-template", "-k", help="Images per class and template.")
    ] = 1,
    resolution: Annotated[int, typer.Option("--resolution", help="Generated side, px.")] = 512,
    steps: Annotated[int, typer.Option("--steps", help="Denoising steps.")] = 50,
    guidance: Annotated[float, typer.Option("--guidance", help="Classifier-free guidance.")] = 7.5,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per generator call.")] = 8,
    seed: Annotated[
        int, typer.Option("--seed", help="Recipe seed (each image derives its own).")
    ] = 0,
    store: Store = None,
    device: Device = "auto",
    shard_index: Annotated[
        int | None,
        typer.Option(
            "--shard-index", help="This process's part (default: from RANK / SLURM_PROCID)."
        ),
    ] = None,
    num_shards: Annotated[
        int | None,
        typer.Option(
            "--num-shards",
            help="Number of parts (default: WORLD_SIZE / SLURM_STEP_NUM_TASKS, else 1).",
        ),
    ] = None,
    classes_per_shard: Annotated[
        int | None,
        typer.Option(
            "--classes-per-shard",
            help="Classes per shard file (default: about 256 images per shard; 1 with --stage-maps).",
        ),
    ] = None,
    stage_maps: Annotated[
        bool, typer.Option("--stage-maps", help="Also store full trunk maps (large).")
    ] = False,
    encode_size: Annotated[
        int | None, typer.Option("--encode-size", help="Encoder input side (default: native).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and disk estimate; generate nothing.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Generate images for every class x template, encode them, and write a bank.

    The defaults are the paper's recipe: Stable Diffusion 1.5 at 512 px and 50 steps, the
    DPSeg-B encoder convnext_base_w_320, all 80 templates, one image each, on a GPU when present;
    their weights must be in your Hugging Face cache (or pass folders). Resumable (rerun the same
    command after a crash); spread it over processes with torchrun, accelerate launch, srun, or
    --shard-index/--num-shards.

    Example: dpseg bank build ade150 --out banks/ade150 --store banks

    Without weights: dpseg bank build shapes --out banks/shapes --generator procedural --encoder tiny --resolution 64 --steps 1
    """
    options = dict(
        generator=generator,
        encoder=encoder,
        encoder_weights=encoder_weights,
        templates=_templates(templates),
        images_per_template=images_per_template,
        resolution=resolution,
        steps=steps,
        guidance=guidance,
        batch_size=batch_size,
        seed=seed,
        device=device,
        classes_per_shard=classes_per_shard,
        stage_maps=stage_maps,
        encode_size=encode_size,
    )
    if dry_run:
        from promptbank.build import plan_build
        from promptbank.summary import human_bytes

        plan = plan_build(vocab, out, store=store, **options)
        b = plan["bytes"]
        typer.echo(
            f"plan {plan['bank_id']}: {plan['classes']} classes x {plan['templates']} templates x "
            f"{plan['images_per_template']} = {plan['images']} images in {plan['shards']} shards\n"
            f"reuse {plan['classes_reused']} classes from the store; generate "
            f"{plan['images_to_generate']} images\n"
            f"disk  about {human_bytes(b['total'])} (images ~{human_bytes(b['images'])}, "
            f"features {human_bytes(b['features'])})\n"
            f"out   {out}: {plan['out']}"
        )
        return
    from promptbank.build import run_build

    report = run_build(
        vocab,
        out,
        store=store,
        shard_index=shard_index,
        num_shards=num_shards,
        progress=not quiet,
        **options,
    )
    state = "complete" if report.complete else "this part done; other processes still running"
    typer.echo(
        f"{out}: bank {report.bank_id} {state} ({report.shards_built} shards built, "
        f"{report.shards_skipped} already done, {report.images_generated} images generated, "
        f"{report.classes_reused} classes reused)"
    )


@app.command("info")
def info(path: BankDir, as_json: AsJson = False) -> None:
    """Show a bank's recipe, classes and size.

    Example: dpseg bank info banks/shapes --json
    """
    from promptbank.summary import bank_info, format_info

    data = bank_info(path)
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else format_info(data))


@app.command("verify")
def verify(path: BankDir) -> None:
    """Recheck every shard's checksum, size and shapes; exit 1 naming any damaged shard.

    Example: dpseg bank verify banks/shapes
    """
    from promptbank.errors import BankError
    from promptbank.summary import human_bytes
    from promptbank.verify import verify_bank

    report = verify_bank(path)
    for problem in report.problems:
        typer.echo(f"{path}/{problem}", err=True)
    if not report.ok:
        raise BankError(
            f"bank {path} failed verification ({len(report.problems)} problem(s) "
            "listed above); rerun `dpseg bank build` into a new directory"
        )
    typer.echo(f"{path}: OK ({report.shards} shards, {human_bytes(report.bytes)} checked)")


@app.command("ls")
def ls(
    store: Annotated[
        Path, typer.Option("--store", help="Directory of banks ($DPSEG_BANK_STORE or ./banks).")
    ] = Path(DEFAULT_STORE),
    as_json: AsJson = False,
) -> None:
    """List the banks in a store.

    Example: dpseg bank ls --store banks
    """
    from promptbank.summary import human_bytes, list_banks

    banks = list_banks(store)
    if as_json:
        typer.echo(json.dumps(banks, indent=2, ensure_ascii=False))
        return
    if not banks:
        typer.echo(f"no banks in {store}")
    for b in banks:
        if "error" in b:
            typer.echo(f"{b['path']}  unreadable: {b['error']}")
            continue
        typer.echo(
            f"{b['path']}  id {b['bank_id']}  {b['num_classes']} classes x {b['num_templates']} "
            f"templates x {b['images_per_template']}  generator {b['generator'].get('name')}  "
            f"encoder {b['encoder'].get('name')}  {human_bytes(b['bytes'])}"
        )


@app.command("show")
def show(
    path: BankDir,
    class_name: Annotated[str, typer.Option("--class", help="Class name (as in the bank).")],
    out: Annotated[Path, typer.Option("--out", help="Output image, e.g. grid.png.")],
) -> None:
    """Write a contact sheet of one class's generated images.

    Example: dpseg bank show banks/shapes --class "red circle" --out grid.png
    """
    from promptbank.summary import contact_sheet

    typer.echo(str(contact_sheet(path, class_name, out)))


@app.command("encode")
def encode(
    src: BankDir,
    encoder: Encoder,
    out: Annotated[Path, typer.Option("--out", help="New bank directory.")],
    encoder_weights: EncoderWeights = None,
    encode_size: Annotated[
        int | None, typer.Option("--encode-size", help="Encoder input side (default: native).")
    ] = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Re-encode a bank's stored images with another encoder (no generation).

    Example: dpseg bank encode banks/ade150 --encoder convnext_large_d_320 --out banks/ade150-L
    """
    from promptbank.encode import encode_bank

    path = encode_bank(
        src,
        out,
        encoder=encoder,
        encoder_weights=encoder_weights,
        encode_size=encode_size,
        device=device,
        progress=not quiet,
    )
    typer.echo(f"{path}: bank re-encoded with {encoder}")
