"""Alias expansion (candidates from WordNet plus user lists) and VIP's image-based distillation.

`expand` proposes, per class, the synonyms of the name's most frequent WordNet sense(s) and a few
hyponyms (for multi-word names WordNet does not know, the last word's synonyms keep the leading
modifiers: "brick wall" -> "brick partition"), plus lines from a user file. `distill` keeps the
candidates that pass VIP's two scores over images of the class (a bank's generated images) or
any folder of images:

- visual-guided consistency (VG, higher is better): IoU of the alias's mask M (locations where
  the alias beats every other class) with M' = M propagated through the backbone's own patch
  affinity (proxy attention) and thresholded at 0.5. An alias that fires on visually coherent
  regions scores near 1; one that never fires scores 0 (an empty mask is not evidence).
- semantic confusion (SC, lower is better): the mean per-pixel entropy of the class distribution
  when the alias stands for its class (other classes by their first name), divided by log(C).

An alias is kept when VG >= vg_min and SC <= sc_max (best VG - SC first, at most max_aliases
per class); a class's first name is always kept.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from promptbank.safety import check_member
from promptbank.vocab import Vocabulary, load_vocabulary
from segmodel.errors import SegmodelError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class AliasError(SegmodelError):
    """Alias files, image sources or settings that cannot be used."""


@dataclass(frozen=True)
class ExpandSettings:
    senses: int = 1  # WordNet senses per name, most frequent first
    hyponyms: int = 5  # hyponyms per sense (their first lemma)
    max_per_class: int = 20  # candidates per class, existing names included
    head_fallback: bool = True  # unknown multi-word names: expand the last word, keep modifiers


@dataclass(frozen=True)
class DistillSettings:
    vg_min: float = 0.5  # keep aliases with visual-guided consistency (mask IoU) >= this
    sc_max: float = 0.9  # ... and semantic confusion (entropy / log C) <= this
    max_aliases: int = 20  # at most this many names per class, first name included
    image_size: int = 224  # images are resized to this square side
    max_images: int = 8  # images per class (bank) or in total (folder)
    templates: str = "single"  # template set for the text queries
    logit_scale: float = 40.0  # cosine -> logit multiplier
    proxy_beta: float = 1.5  # affinity shift (proxy attention)
    proxy_gamma: float = 0.5  # affinity scale (proxy attention)


def _dedup(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for n in names:
        n = n.strip()
        if n:
            seen.setdefault(n.lower(), n)
    return list(seen.values())


def wordnet_candidates(name: str, wordnet, settings: ExpandSettings) -> list[str]:
    """Candidate aliases of one name from a `segmodel.vip.wordnet.WordNet`."""
    prefix, synsets = "", wordnet.synsets(name)
    words = name.split()
    if not synsets and settings.head_fallback and len(words) > 1:
        prefix, synsets = " ".join(words[:-1]) + " ", wordnet.synsets(words[-1])
    out = []
    for synset in synsets[: settings.senses]:
        out += [prefix + lemma for lemma in synset.lemmas]
        out += [prefix + h.lemmas[0] for h in wordnet.hyponyms(synset)[: settings.hyponyms]]
    return out


def read_extra(path: str | Path, vocab: Vocabulary) -> dict[int, list[str]]:
    """A user alias file (lines "class, alias, ...") -> {class index: aliases}."""
    extra = load_vocabulary(Path(path))
    lookup = {c.lower(): i for i, c in enumerate(vocab.classes)}
    out: dict[int, list[str]] = {}
    for cls, names in zip(extra.classes, extra.aliases):
        if cls.lower() not in lookup:
            raise AliasError(
                f"alias file {path}: class {cls!r} is not in vocabulary {vocab.name!r}; start "
                "each line with a class name of the vocabulary"
            )
        out.setdefault(lookup[cls.lower()], []).extend(names[1:])
    return out


def expand(
    vocab: Vocabulary,
    *,
    wordnet=None,
    extra: dict[int, list[str]] | None = None,
    settings: ExpandSettings = ExpandSettings(),
) -> list[list[str]]:
    """Per class: existing names, user aliases, then WordNet candidates (deduplicated, capped)."""
    out = []
    for i, names in enumerate(vocab.aliases):
        pool = list(names) + list((extra or {}).get(i, []))
        if wordnet is not None:
            for name in names:
                pool += wordnet_candidates(name, wordnet, settings)
        out.append(_dedup(pool)[: max(settings.max_per_class, len(names))])
    return out


def write_alias_file(path: str | Path, lines: list[list[str]]) -> Path:
    """SCLIP-style file (one class a line, names after commas), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for names in lines:
        for n in names:
            if "," in n or "\n" in n:
                raise AliasError(f"alias {n!r} contains a comma or newline; rename it")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(", ".join(names) + "\n" for names in lines), encoding="utf-8")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------- image sources
def bank_images(root: str | Path, classes: list[str], per_class: int) -> Iterator[tuple]:
    """(class index, PIL image) from a bank's images/*.tar shards (one sample = PNG + JSON with
    its class), at most `per_class` per class. Read with tarfile only."""
    from PIL import Image

    shards = sorted((Path(root) / "images").glob("*.tar"))
    if not shards:
        raise AliasError(
            f"bank {root} has no images/*.tar shards; build it with `dpseg bank "
            "build` (images are kept by default) or pass --images DIR"
        )
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    taken = [0] * len(classes)
    for shard in shards:
        if shard.is_symlink():
            raise AliasError(f"{shard} is a symbolic link (it could leave the bank); rebuild it")
        with tarfile.open(shard) as tar:
            samples: dict[str, dict[str, bytes]] = {}
            for member in tar.getmembers():
                check_member(member.name, member.isfile(), shard)
                key, _, ext = member.name.partition(".")
                samples.setdefault(key, {})[ext.lower()] = tar.extractfile(member).read()
        for parts in samples.values():
            image = next((parts[e] for e in ("png", "jpg", "jpeg", "webp") if e in parts), None)
            meta = json.loads(parts.get("json", b"{}"))
            c = lookup.get(str(meta.get("class", "")).lower())
            if image is None or c is None or taken[c] >= per_class:
                continue
            taken[c] += 1
            yield c, Image.open(io.BytesIO(image)).convert("RGB")


def folder_images(folder: str | Path, limit: int) -> Iterator[tuple]:
    """(None, PIL image) for the first `limit` images of a folder (sorted names)."""
    from PIL import Image

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise AliasError(f"image folder {folder} has no {'/'.join(IMAGE_SUFFIXES)} files")
    for p in files[:limit]:
        yield None, Image.open(p).convert("RGB")


# ---------------------------------------------------------------------- scores
def alias_scores(dense, proxy, base, alias_q, alias_class, settings: DistillSettings):
    """VG and SC of every candidate alias on one image.

    dense: (1, D, h, w); proxy: (1, Dp, h, w) backbone features for the affinity; base: (C, D)
    first-name queries; alias_q: (A, D) candidates; alias_class: (A,) their class. -> (A,), (A,)
    """
    import math

    import torch
    import torch.nn.functional as F

    from segmodel.vip.backbones import propagate, proxy_affinity

    unit = F.normalize(dense[0].flatten(1).double(), dim=0)  # (D, N)
    lc = settings.logit_scale * base.double() @ unit  # (C, N)
    la = settings.logit_scale * alias_q.double() @ unit  # (A, N)
    top = torch.maximum(lc.max(dim=0).values, la.max(dim=0).values)  # (N,)
    ec, ea = (lc - top).exp(), (la - top).exp()
    total, weighted = ec.sum(dim=0), (ec * (lc - top)).sum(dim=0)  # (N,)
    own = ec[alias_class]  # (A, N) the replaced class's term
    z = total - own + ea  # partition function with alias a standing for its class
    entropy = z.log() - (weighted - own * (lc[alias_class] - top) + ea * (la - top)) / z
    classes = lc.shape[0]
    sc = entropy.mean(dim=1) / math.log(classes) if classes > 1 else entropy.mean(dim=1) * 0
    if classes > 1:  # the alias wins where it beats every other class's first name
        best2 = lc.topk(2, dim=0)
        own_is_top = best2.indices[0][None] == alias_class[:, None]  # (A, N)
        rival = torch.where(own_is_top, best2.values[1][None], best2.values[0][None])
        win = (la > rival).float()  # (A, N)
    else:
        win = torch.ones_like(la, dtype=torch.float32)
    h, w = dense.shape[-2:]
    masks = win.view(1, -1, h, w)
    affinity = proxy_affinity(proxy, settings.proxy_beta, settings.proxy_gamma)
    spread = (propagate(masks, affinity) >= 0.5).float()  # the mask through the affinity
    inter = (masks * spread).flatten(2).sum(-1)[0]
    union = torch.maximum(masks, spread).flatten(2).sum(-1)[0]
    vg = torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))
    return vg.double(), sc


def distill(
    vocab: Vocabulary,
    candidates: list[list[str]],
    backbone,
    images: Iterator[tuple],
    settings: DistillSettings = DistillSettings(),
    total_images: int | None = None,
) -> tuple[list[list[str]], list[dict]]:
    """Keep the candidates that pass VG and SC -> (kept names per class, per-alias score rows).

    images: (class index or None, PIL image); an image with a class scores only that class's
    aliases, an image without one scores all of them.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    from segmodel.vip.settings import template_set

    templates = template_set(settings.templates)

    def embed(names: list[str]) -> torch.Tensor:
        prompts = [t.replace("{}", n) for n in names for t in templates]
        emb = F.normalize(backbone.encode_text(prompts).float(), dim=-1)
        return F.normalize(emb.view(len(names), len(templates), -1).mean(dim=1), dim=-1)

    base = embed([names[0] for names in vocab.aliases])  # (C, D)
    flat = [(c, n) for c, names in enumerate(candidates) for n in names]
    alias_class = torch.tensor([c for c, _ in flat], device=base.device)
    alias_q = embed([n for _, n in flat])
    vg_sum = torch.zeros(len(flat), dtype=torch.float64, device=base.device)
    sc_sum, seen = torch.zeros_like(vg_sum), torch.zeros_like(vg_sum)
    mean = torch.tensor(backbone.mean).view(1, 3, 1, 1)
    std = torch.tensor(backbone.std).view(1, 3, 1, 1)
    start = time.time()
    for count, (cls, image) in enumerate(images, 1):
        side = settings.image_size
        array = np.asarray(image.resize((side, side)), dtype=np.float32) / 255.0
        array = torch.from_numpy(array).permute(2, 0, 1)[None]  # (1, 3, S, S)
        feats = backbone.encode_dense(((array - mean) / std).to(base.device))
        vg, sc = alias_scores(
            feats.dense.float(), feats.proxy.float(), base, alias_q, alias_class, settings
        )
        mask = torch.ones_like(vg) if cls is None else (alias_class == cls).double()
        vg_sum += vg * mask
        sc_sum += sc * mask
        seen += mask
        _progress(count, total_images, start)
    print(file=sys.stderr)
    return _select(vocab, flat, vg_sum, sc_sum, seen, settings)


def _select(vocab, flat, vg_sum, sc_sum, seen, settings):
    rows, kept = [], [[names[0]] for names in vocab.aliases]
    for i, (c, name) in enumerate(flat):
        n = float(seen[i])
        vg = float(vg_sum[i]) / n if n else float("nan")
        sc = float(sc_sum[i]) / n if n else float("nan")
        first = name == vocab.aliases[c][0]
        ok = first or (n > 0 and vg >= settings.vg_min and sc <= settings.sc_max)
        rows.append(
            {
                "class": vocab.classes[c],
                "alias": name,
                "vg": vg,
                "sc": sc,
                "images": int(n),
                "kept": ok,
            }
        )
    by_class: dict[int, list] = {}
    for (c, name), row in zip(flat, rows):
        if row["kept"] and name != vocab.aliases[c][0]:
            by_class.setdefault(c, []).append((row["vg"] - row["sc"], name))
    for c, scored in by_class.items():
        best = [n for _, n in sorted(scored, key=lambda t: -t[0])][: settings.max_aliases - 1]
        kept[c] += best
        dropped = {n for _, n in scored} - set(best)
        for row in rows:
            if row["class"] == vocab.classes[c] and row["alias"] in dropped:
                row["kept"] = False
    return kept, rows


def _progress(done: int, total: int | None, start: float) -> None:
    rate = done / max(time.time() - start, 1e-9)
    eta = f", ETA {(total - done) / rate:.0f}s" if total else ""
    print(
        f"\rdistill: {done}{'/' + str(total) if total else ''} images, {rate:.1f} img/s{eta}",
        end="",
        file=sys.stderr,
        flush=True,
    )
