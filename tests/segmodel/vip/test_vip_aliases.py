import io
import json
import math
import os
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from promptbank.vocab import load_vocabulary, vocabulary_from_names
from segmodel.vip.aliases import (
    AliasError,
    DistillSettings,
    ExpandSettings,
    alias_scores,
    bank_images,
    distill,
    expand,
    folder_images,
    read_extra,
    write_alias_file,
)
from segmodel.vip.backbones import load_backbone, propagate, proxy_affinity
from segmodel.vip.wordnet import WordNet, WordNetMissingError

DPSEG = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "dpseg"
SYSTEM_WORDNET = Path("/usr/share/wordnet")
HAS_WORDNET = (SYSTEM_WORDNET / "index.noun").is_file()

# (key, lemmas, hyponym keys) of a toy noun database in WordNet's file format
TOY = [
    ("cat", ["cat", "true_cat"], ["kitten", "wildcat"]),
    ("kitten", ["kitten", "kitty"], []),
    ("wildcat", ["wildcat"], []),
    ("wall", ["wall"], ["brick_wall_x"]),
    ("brick_wall_x", ["partition"], []),
]


def write_toy_wordnet(folder: Path) -> Path:
    header = "  1 licence header line\n  2 another one\n"
    index = {key: i for i, (key, _, _) in enumerate(TOY)}

    def line(i, offsets):
        key, lemmas, hypos = TOY[i]
        words = " ".join(f"{w} 0" for w in lemmas)
        ptrs = " ".join(f"~ {offsets[index[h]]:08d} n 0000" for h in hypos)
        return (
            f"{offsets[i]:08d} 05 n {len(lemmas):02x} {words} {len(hypos):03d} {ptrs} "
            f"| gloss of {key}  \n"
        )

    offsets = [0] * len(TOY)
    pos = len(header)
    for i in range(len(TOY)):  # fixed-width offsets: lengths do not depend on their values
        offsets[i] = pos
        pos += len(line(i, offsets).encode())
    (folder / "data.noun").write_text(header + "".join(line(i, offsets) for i in range(len(TOY))))
    entries = {}
    for i, (_, lemmas, _) in enumerate(TOY):
        for w in lemmas:
            entries.setdefault(w.lower(), []).append(offsets[i])
    rows = [
        f"{w} n {len(o)} 1 ~ {len(o)} 0 {' '.join(f'{x:08d}' for x in o)}  \n"
        for w, o in sorted(entries.items())
    ]
    (folder / "index.noun").write_text(header + "".join(rows))
    (folder / "noun.exc").write_text("kitties kitty\n")
    return folder


def test_toy_wordnet_reader(tmp_path):
    wn = WordNet(write_toy_wordnet(tmp_path))
    (cat,) = wn.synsets("Cat")
    assert cat.lemmas == ("cat", "true cat") and cat.gloss.startswith("gloss of cat")
    assert [h.lemmas[0] for h in wn.hyponyms(cat)] == ["kitten", "wildcat"]
    assert wn.synsets("cats")[0].offset == cat.offset  # morphy suffix rule
    assert wn.synsets("kitties")[0].lemmas == ("kitten", "kitty")  # exception list
    assert wn.synsets("dog") == []
    vocab = vocabulary_from_names(["cat, feline", "brick wall"])
    lines = expand(vocab, wordnet=wn, settings=ExpandSettings(hyponyms=1))
    assert lines[0] == ["cat", "feline", "true cat", "kitten"]
    assert lines[1] == ["brick wall", "brick partition"]  # head fallback keeps the modifier


def test_missing_wordnet_is_one_clear_line(tmp_path):
    with pytest.raises(WordNetMissingError, match="wordnet-base"):
        WordNet(tmp_path)


@pytest.mark.skipif(not HAS_WORDNET, reason="Debian wordnet-base is not installed")
def test_system_wordnet():
    wn = WordNet(SYSTEM_WORDNET)
    assert "domestic dog" in wn.synsets("dog")[0].lemmas
    assert wn.synsets("trees")[0].lemmas[0] == "tree"
    assert "couch" in expand(vocabulary_from_names(["sofa"]), wordnet=wn)[0]


def test_extra_aliases_and_file_roundtrip(tmp_path):
    vocab = vocabulary_from_names(["sky", "grass"])
    (tmp_path / "mine.txt").write_text("Grass, lawn, meadow\n")
    extra = read_extra(tmp_path / "mine.txt", vocab)
    lines = expand(vocab, extra=extra)
    assert lines == [["sky"], ["grass", "lawn", "meadow"]]
    back = load_vocabulary(write_alias_file(tmp_path / "out.txt", lines))
    assert back.aliases == lines
    (tmp_path / "bad.txt").write_text("tree, oak\n")
    with pytest.raises(AliasError, match="'tree' is not in vocabulary"):
        read_extra(tmp_path / "bad.txt", vocab)


def test_alias_scores_match_brute_force():
    torch.manual_seed(0)
    dense, proxy = torch.randn(1, 8, 3, 4), torch.randn(1, 5, 3, 4)
    base = F.normalize(torch.randn(3, 8), dim=-1)
    alias_q = F.normalize(torch.randn(4, 8), dim=-1)
    alias_class = torch.tensor([0, 1, 1, 2])
    s = DistillSettings(logit_scale=10.0)
    vg, sc = alias_scores(dense, proxy, base, alias_q, alias_class, s)
    unit = F.normalize(dense[0].flatten(1), dim=0)
    aff = proxy_affinity(proxy, s.proxy_beta, s.proxy_gamma)
    for a in range(4):
        q = base.clone()
        q[alias_class[a]] = alias_q[a]
        p = (10.0 * q @ unit).softmax(dim=0)  # (C, N)
        ent = -(p * p.log()).sum(dim=0).mean() / math.log(3)
        m = (p.argmax(dim=0) == alias_class[a]).float().view(1, 1, 3, 4)
        m2 = (propagate(m, aff) >= 0.5).float()
        union = torch.maximum(m, m2).sum()
        iou = (m * m2).sum() / union if union > 0 else torch.tensor(0.0)
        assert abs(float(sc[a]) - float(ent)) < 1e-5
        assert abs(float(vg[a]) - float(iou)) < 1e-5


def _image(seed):
    return Image.fromarray((np.random.default_rng(seed).random((48, 48, 3)) * 255).astype(np.uint8))


def write_bank_images(root: Path, classes: list[str], per_class: int) -> None:
    (root / "images").mkdir(parents=True)
    with tarfile.open(root / "images" / "00000.tar", "w") as tar:
        for c, name in enumerate(classes):
            for k in range(per_class):
                key = f"{c:04d}_{k:03d}"
                buf = io.BytesIO()
                _image(c * 10 + k).save(buf, format="PNG")
                meta = json.dumps({"class": name, "template": "a photo of a {}.", "seed": k})
                for ext, data in (("png", buf.getvalue()), ("json", meta.encode())):
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def test_image_sources(tmp_path):
    write_bank_images(tmp_path / "bank", ["sky", "grass"], 3)
    got = list(bank_images(tmp_path / "bank", ["grass", "sky"], per_class=2))
    assert sorted(c for c, _ in got) == [0, 0, 1, 1]
    assert all(im.size == (48, 48) for _, im in got)
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        _image(i).save(tmp_path / "imgs" / f"{i}.png")
    assert len(list(folder_images(tmp_path / "imgs", 2))) == 2
    with pytest.raises(AliasError, match="no images"):
        list(bank_images(tmp_path / "imgs", ["sky"], 1))


def test_distill_thresholds():
    vocab = vocabulary_from_names(["sky, blue sky, heaven", "grass, lawn"])
    backbone = load_backbone("tiny")
    images = [(None, _image(i)) for i in range(2)]
    everything = DistillSettings(vg_min=0.0, sc_max=1.0, image_size=64)
    kept, rows = distill(vocab, vocab.aliases, backbone, iter(images), everything)
    assert sorted(map(sorted, kept)) == sorted(map(sorted, vocab.aliases))
    assert all(0 <= r["vg"] <= 1 and 0 <= r["sc"] <= 1 and r["images"] == 2 for r in rows)
    nothing = DistillSettings(vg_min=1.01, image_size=64)
    kept, _ = distill(vocab, vocab.aliases, backbone, iter(images), nothing)
    assert kept == [["sky"], ["grass"]]  # first names always stay
    capped = DistillSettings(vg_min=0.0, sc_max=1.0, max_aliases=2, image_size=64)
    kept, _ = distill(vocab, vocab.aliases, backbone, iter(images), capped)
    assert [len(k) for k in kept] == [2, 2]


def test_cli_expand_and_distill(tmp_path):
    write_bank_images(tmp_path / "bank", ["sky", "grass"], 2)
    (tmp_path / "vocab.txt").write_text("sky\ngrass\n")
    (tmp_path / "mine.txt").write_text("grass, lawn\nsky, heaven\n")
    env = {**os.environ, "DPSEG_WORDNET_DIR": str(write_toy_wordnet(tmp_path))}
    run = subprocess.run(
        [
            DPSEG,
            "aliases",
            "expand",
            tmp_path / "vocab.txt",
            "--out",
            tmp_path / "cand.txt",
            "--extra",
            tmp_path / "mine.txt",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "cand.txt").read_text() == "sky, heaven\ngrass, lawn\n"
    run = subprocess.run(
        [
            DPSEG,
            "aliases",
            "distill",
            tmp_path / "cand.txt",
            "--bank",
            tmp_path / "bank",
            "--out",
            tmp_path / "kept.txt",
            "--image-size",
            "64",
            "--vg-min",
            "0",
            "--sc-max",
            "1",
            "--scores",
            tmp_path / "scores.json",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "kept.txt").read_text() == "sky, heaven\ngrass, lawn\n"
    rows = json.loads((tmp_path / "scores.json").read_text())["aliases"]
    assert {r["alias"] for r in rows} == {"sky", "heaven", "grass", "lawn"}
    run = subprocess.run(
        [DPSEG, "aliases", "distill", tmp_path / "cand.txt", "--out", tmp_path / "x.txt"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "--images" in run.stderr
