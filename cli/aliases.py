"""`dpseg aliases`: propose alias candidates for a vocabulary and distill them with images
(VIP's alias expansion and visual-guided distillation). Heavy imports happen inside commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Alias files for VIP mode: propose candidates (WordNet + your list), keep the good ones.",
    no_args_is_help=True,
)

Vocab = Annotated[
    str,
    typer.Argument(
        help="Built-in vocabulary name or class file (one class a line, aliases after commas)."
    ),
]
Out = Annotated[Path, typer.Option("--out", "-o", help="Alias file to write (SCLIP style).")]


@app.command("expand")
def expand(
    vocab: Vocab,
    out: Out,
    extra: Annotated[
        Path | None, typer.Option(help="Your aliases: lines 'class, alias, ...'.")
    ] = None,
    wordnet: Annotated[bool, typer.Option("--wordnet/--no-wordnet", help="Use WordNet.")] = True,
    wordnet_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder with index.noun and data.noun "
            "(default: $DPSEG_WORDNET_DIR, "
            "/usr/share/wordnet)."
        ),
    ] = None,
    senses: Annotated[int, typer.Option(min=1, help="WordNet senses per name.")] = 1,
    hyponyms: Annotated[int, typer.Option(min=0, help="Hyponyms per sense.")] = 5,
    max_per_class: Annotated[int, typer.Option(min=1, help="Candidates per class.")] = 20,
    head_fallback: Annotated[
        bool,
        typer.Option(help="Unknown multi-word names: expand the last word, keep the modifiers."),
    ] = True,
) -> None:
    """Write candidate aliases per class: the vocabulary's names, your list, WordNet's synonyms
    and hyponyms. Filter them with `dpseg aliases distill`.

    Example: dpseg aliases expand voc20 --out voc20_candidates.txt --extra mine.txt
    """
    from promptbank.vocab import load_vocabulary
    from segmodel.vip.aliases import ExpandSettings, read_extra, write_alias_file
    from segmodel.vip.aliases import expand as expand_vocab
    from segmodel.vip.wordnet import WordNet

    vocabulary = load_vocabulary(vocab)
    users = read_extra(extra, vocabulary) if extra else None
    reader = WordNet(wordnet_dir) if wordnet else None
    settings = ExpandSettings(
        senses=senses, hyponyms=hyponyms, max_per_class=max_per_class, head_fallback=head_fallback
    )
    lines = expand_vocab(vocabulary, wordnet=reader, extra=users, settings=settings)
    write_alias_file(out, lines)
    added = sum(len(new) - len(old) for new, old in zip(lines, vocabulary.aliases))
    typer.echo(f"wrote {out}: {len(lines)} classes, {added} new candidate aliases")


@app.command("distill")
def distill(
    vocab: Annotated[
        str,
        typer.Argument(
            help="Candidate alias file (e.g. from `expand`); the "
            "first name of each line is the class."
        ),
    ],
    out: Out,
    images: Annotated[Path | None, typer.Option(help="Folder of images to score on.")] = None,
    bank: Annotated[
        Path | None,
        typer.Option(help="Bank whose generated images (images/*.tar) score each class."),
    ] = None,
    backbone: Annotated[
        str,
        typer.Option(help="Dense backbone (tiny, tiny-vit, ViT-B-16, convnext_base_w_320, ...)."),
    ] = "tiny",
    backbone_weights: Annotated[Path | None, typer.Option(help="Backbone checkpoint.")] = None,
    random_init: Annotated[bool, typer.Option(help="Real architecture, random weights.")] = False,
    vg_min: Annotated[
        float, typer.Option(help="Keep aliases with visual-guided consistency (mask IoU) >= this.")
    ] = 0.5,
    sc_max: Annotated[
        float, typer.Option(help="... and semantic confusion (entropy / log C) <= this.")
    ] = 0.9,
    max_aliases: Annotated[int, typer.Option(min=1, help="Names kept per class.")] = 20,
    image_size: Annotated[
        int, typer.Option(min=32, help="Square side images are resized to.")
    ] = 224,
    max_images: Annotated[
        int, typer.Option(min=1, help="Images per class (bank) or in total (folder).")
    ] = 8,
    templates: Annotated[
        str, typer.Option(help="Template set (single, seg, city, imagenet80) or file.")
    ] = "single",
    scores: Annotated[
        Path | None, typer.Option(help="Also write every alias's scores (JSON).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
) -> None:
    """Keep the candidates that pass VIP's two image-based scores (see docs/vip.md).

    Example: dpseg aliases distill voc20_candidates.txt --bank banks/voc20 --out voc20_aliases.txt
    """
    import json

    from promptbank.vocab import load_vocabulary
    from segmodel.vip.aliases import (
        AliasError,
        DistillSettings,
        bank_images,
        folder_images,
        write_alias_file,
    )
    from segmodel.vip.aliases import distill as distill_vocab

    if (images is None) == (bank is None):
        raise AliasError("distill needs exactly one image source: --images DIR or --bank DIR")
    settings = DistillSettings(
        vg_min=vg_min,
        sc_max=sc_max,
        max_aliases=max_aliases,
        image_size=image_size,
        max_images=max_images,
        templates=templates,
    )
    vocabulary = load_vocabulary(Path(vocab))
    if bank is not None:
        source, total = bank_images(bank, vocabulary.classes, max_images), None
    else:
        if not images.is_dir():
            raise AliasError(f"--images {images} is not a folder of images")
        source, total = folder_images(images, max_images), None
    from segmodel.vip.backbones import load_backbone

    model = load_backbone(backbone, backbone_weights, random_init=random_init, device=device)
    kept, rows = distill_vocab(vocabulary, vocabulary.aliases, model, source, settings, total)
    write_alias_file(out, kept)
    if scores is not None:
        tmp = scores.with_name(scores.name + ".tmp")
        tmp.write_text(json.dumps({"settings": settings.__dict__, "aliases": rows}, indent=1))
        tmp.replace(scores)
    before = sum(len(a) for a in vocabulary.aliases)
    typer.echo(
        f"wrote {out}: kept {sum(len(k) for k in kept)} of {before} names ({len(kept)} classes)"
    )


if __name__ == "__main__":
    app()
