import subprocess
import sys

import numpy as np
import pytest

from promptbank.build import plan_build, run_build
from promptbank.encode import encode_bank
from promptbank.errors import BankError, DpsegError
from promptbank.lock import BuildLockedError
from promptbank.plan import owned_shards, process_slot
from promptbank.reader import open_bank
from promptbank.shards import read_samples
from promptbank.verify import verify_bank
from tests.promptbank.bank_helpers import BANK_RECIPE, bank_digest, one_thread


def test_same_bank_whatever_the_batch_size(shapes_bank, tmp_path):
    one_thread()
    report = run_build("shapes", tmp_path / "b1", batch_size=1, **BANK_RECIPE)
    assert report.complete and report.images_generated == 13 * 2 * 2
    assert bank_digest(tmp_path / "b1") == bank_digest(shapes_bank)
    again = run_build("shapes", tmp_path / "b1", batch_size=3, **BANK_RECIPE)
    assert again.complete and again.shards_built == 0 and again.images_generated == 0


def test_images_carry_their_own_seeds(shapes_bank):
    samples = list(read_samples(shapes_bank / "images/00000.tar"))
    assert len(samples) == 3 * 2 * 2
    assert {s.meta["class"] for s in samples} == {"red circle", "green triangle", "blue square"}
    assert len({s.meta["seed"] for s in samples}) == len(samples)
    first = samples[0]
    assert first.key == "c00000_t000_k00" and first.meta["prompt"] == "a bad photo of a red circle."
    assert first.image().size == (64, 64)


def test_store_reuses_classes_and_recomputes_text(shapes_bank, tmp_path):
    vocab = tmp_path / "mine.txt"
    vocab.write_text("sky\ngrass, lawn\nred circle\n")
    report = run_build(
        vocab, tmp_path / "mine", store=shapes_bank.parent, batch_size=4, **BANK_RECIPE
    )
    assert report.complete and report.classes_reused == 3 and report.images_generated == 0
    src, mine = open_bank(shapes_bank), open_bank(tmp_path / "mine")
    a, b = src.select(["sky", "grass", "red circle"]), mine.select(["sky", "grass", "red circle"])
    for name in ("visual", "visual_s4", "visual_s8", "visual_s16"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.text[[0, 2]], b.text[[0, 2]])
    assert not np.array_equal(a.text[1], b.text[1])  # "lawn" joins the average
    pngs = {s.meta["seed"]: s.png for s in read_samples(shapes_bank / "images/00003.tar")}
    for s in read_samples(tmp_path / "mine/images/00000.tar"):
        if s.meta["class"] == "sky":
            assert s.png == pngs[s.meta["seed"]]
    assert verify_bank(tmp_path / "mine").ok
    other = plan_build(vocab, store=shapes_bank.parent, **{**BANK_RECIPE, "seed": 1})
    assert other["classes_reused"] == 0 and other["images_to_generate"] == 3 * 2 * 2


def test_reencode_with_another_encoder_keeps_images(shapes_bank, tmp_path):
    from promptbank.encoder import load_encoder

    one_thread()
    same = encode_bank(shapes_bank, tmp_path / "same", encoder="tiny", progress=False)
    assert bank_digest(same) == bank_digest(shapes_bank)
    other_encoder = load_encoder("tiny", seed=1)
    other = open_bank(
        encode_bank(shapes_bank, tmp_path / "other", encoder=other_encoder, progress=False)
    )
    src = open_bank(shapes_bank)
    assert other.bank_id != src.bank_id and other.encoder == other_encoder.identity()
    assert not np.array_equal(other.select(["sky"]).visual, src.select(["sky"]).visual)
    for shard in src.manifest["shards"]:
        assert (tmp_path / "other" / shard["images"]).read_bytes() == (
            shapes_bank / shard["images"]
        ).read_bytes()


def test_verify_names_a_flipped_byte_and_a_truncated_shard(bank_copy):
    assert verify_bank(bank_copy).ok
    h5 = bank_copy / "features/00002.h5"
    data = bytearray(h5.read_bytes())
    data[len(data) // 2] ^= 0x01
    h5.write_bytes(bytes(data))
    tar = bank_copy / "images/00001.tar"
    tar.write_bytes(tar.read_bytes()[:3000])
    problems = verify_bank(bank_copy).problems
    assert any(p.startswith("features/00002.h5: sha256") for p in problems), problems
    assert any(p.startswith("images/00001.tar:") and "truncated" in p for p in problems), problems
    assert len(problems) == 2


def test_second_builder_is_refused_but_a_partition_runs_beside(tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    code = (
        "import sys, time; from promptbank.lock import ShardLocks; "
        "l = ShardLocks(sys.argv[1] + '/.build/locks', [1, 3], sys.argv[1]); "
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        one_thread()
        with pytest.raises(
            BuildLockedError, match=r"another `dpseg bank build` is writing .* by pid"
        ):
            run_build("shapes", out, **BANK_RECIPE)  # would own every shard
        part = run_build("shapes", out, shard_index=0, num_shards=2, **BANK_RECIPE)
        assert part.shards_built == 3 and not part.complete  # shards 0, 2, 4
    finally:
        holder.kill()
        holder.wait()
    rest = run_build("shapes", out, shard_index=1, num_shards=2, **BANK_RECIPE)
    assert rest.shards_built == 2 and rest.complete
    assert verify_bank(out).ok


def test_partition_is_a_function_of_shard_ids(monkeypatch):
    assert owned_shards(7, 1, 3) == [1, 4]
    parts = [owned_shards(10, i, 4) for i in range(4)]
    assert sorted(j for p in parts for j in p) == list(range(10))
    for var in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(var, raising=False)
    assert process_slot() == (0, 1)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert process_slot() == (0, 1)  # an sbatch script itself is one process
    monkeypatch.setenv("SLURM_PROCID", "2")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "3")
    assert process_slot() == (2, 3)  # a task of `srun -n 3`
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert process_slot() == (1, 2)  # torchrun / accelerate win over SLURM
    assert process_slot(0, 5) == (0, 5)  # explicit arguments win over both
    with pytest.raises(BankError, match="give both or neither"):
        process_slot(1, None)
    with pytest.raises(BankError, match="0 <= shard-index < num-shards"):
        process_slot(3, 3)


def test_class_names_never_become_paths(tmp_path):
    one_thread()
    vocab = tmp_path / "odd.txt"
    vocab.write_text("../../escape\na/b\n\"quoted\" 'x'\ncafé\n", encoding="utf-8")
    out = tmp_path / "odd"
    run_build(vocab, out, generator="tiny-sd", encoder="tiny", templates=1, resolution=64,
              steps=2, device="cpu", progress=False)  # fmt: skip
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert all(
        p.split("/")[-1][:5].isdigit() or p.startswith(".build/") or p == "manifest.json"
        for p in files
    ), files
    assert not (tmp_path / "escape").exists()
    bank = open_bank(out)
    assert bank.select(["a/b", "café"]).text.shape == (2, 1, 64)


def test_bad_inputs(shapes_bank, tmp_path):
    with pytest.raises(BankError, match="holds a bank with another recipe"):
        run_build("shapes", shapes_bank, **{**BANK_RECIPE, "seed": 7})
    with pytest.raises(BankError, match="holds a bank of other classes"):
        run_build("voc20", shapes_bank, **BANK_RECIPE)
    (tmp_path / "full").mkdir()
    (tmp_path / "full/notes.txt").write_text("mine")
    with pytest.raises(BankError, match="is not empty and holds no bank"):
        run_build("shapes", tmp_path / "full", **BANK_RECIPE)
    with pytest.raises(DpsegError, match="unknown generator 'nope'"):
        run_build("shapes", tmp_path / "g", **{**BANK_RECIPE, "generator": "nope"})
    with pytest.raises(DpsegError, match="nope"):
        run_build("shapes", tmp_path / "e", **{**BANK_RECIPE, "encoder": "nope"})
    with pytest.raises(BankError, match="--images-per-template 0"):
        run_build("shapes", tmp_path / "k", **{**BANK_RECIPE, "images_per_template": 0})
    assert not (tmp_path / "g").exists() and not (tmp_path / "k").exists()


def test_stage_maps_on_request(shapes_bank, tmp_path):
    one_thread()
    vocab = tmp_path / "two.txt"
    vocab.write_text("sky\nred circle\n")
    options = {**BANK_RECIPE, "stage_maps": True, "encode_size": 64}
    plan = plan_build(vocab, **options)
    bank = open_bank(run_build(vocab, tmp_path / "maps", **options).path)
    maps = bank.maps(["red circle"], 8)
    assert maps.shape == (1, 2, 2, 64, 8, 8)  # (C, T, K, D8, 64/8, 64/8)
    np.testing.assert_allclose(
        maps.mean(axis=(2, 4, 5)), bank.select(["red circle"]).visual_s8, atol=2e-3
    )
    stored = sum(
        int(np.prod(d["shape"])) * 2
        for s in bank.manifest["shards"]
        for d in s["datasets"].values()
    )
    assert plan["bytes"]["features"] == stored  # the dry-run estimate is exact for features
    assert verify_bank(bank.root).ok
    with pytest.raises(BankError, match="no dataset 'maps_s4'.*--stage-maps"):
        open_bank(shapes_bank).maps(["sky"], 4)


@pytest.mark.slow
def test_real_encoder_architecture_bank(tmp_path):
    """convnext_base_w_320 at its real size (random weights): the dims DPSeg reads."""
    from promptbank.encoder import load_encoder

    one_thread()
    vocab = tmp_path / "two.txt"
    vocab.write_text("sky\nred circle\n")
    encoder = load_encoder("convnext_base_w_320", random_init=True)
    options = {**BANK_RECIPE, "encoder": encoder, "images_per_template": 1}
    bank = open_bank(run_build(vocab, tmp_path / "base", **options).path)
    assert bank.manifest["dims"] == {
        "text": 640,
        "visual": 640,
        "visual_s4": 128,
        "visual_s8": 256,
        "visual_s16": 512,
    }
    sel = bank.select(["sky", "red circle"])
    assert sel.visual.shape == (2, 2, 640) and np.isfinite(sel.visual_s16).all()
    assert bank.encoder == encoder.identity() and verify_bank(bank.root).ok
