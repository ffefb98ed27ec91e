"""Build a bank: plan -> generate -> image shards -> encode -> feature shards -> manifest.

    from promptbank.build import build_bank
    build_bank("ade150", "banks/ade150")   # the paper's recipe: SD 1.5 + convnext_base_w_320
    build_bank("shapes", "banks/shapes", generator="procedural", encoder="tiny", templates=8,
               resolution=64, steps=1)   # the shapes world, no weights needed

Each shard (a group of classes) is built, written and marked done on its own, so a killed build
resumes at the first unfinished shard. Process i of n builds the shards j with j % n == i (from
`shard_index/num_shards`, else torchrun's or accelerate's RANK/WORLD_SIZE, else srun's
SLURM_PROCID/SLURM_STEP_NUM_TASKS); the process that completes the last shard writes the manifest.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path

from promptbank.encode import FeatureEncoder
from promptbank.errors import BankError
from promptbank.format import STRIDES
from promptbank.lock import ShardLocks
from promptbank.plan import (
    Plan,
    check_settings,
    estimate_bytes,
    make_plan,
    make_recipe,
    owned_shards,
    process_device,
    process_slot,
)
from promptbank.preflight import check_weights
from promptbank.progress import Progress, say
from promptbank.shards import sample_key
from promptbank.store import StoreIndex, stored_rows, stored_samples
from promptbank.vocab import Vocabulary, load_templates, load_vocabulary
from promptbank.writer import BuildDir, ShardWriter


@dataclass(frozen=True)
class BuildReport:
    """What one process of a build did."""

    path: Path  # the bank directory
    bank_id: str  # recipe hash
    complete: bool  # the manifest is written (this or another process finished the bank)
    shards_built: int  # shards this process wrote
    shards_skipped: int  # shards of this process already done by an earlier run
    images_generated: int  # images this process generated
    classes_reused: int  # classes this process copied from the store
    seconds: float  # wall time of the build loop (models already loaded)
    generate_seconds: float  # time inside generator calls
    encode_seconds: float  # time inside encoder forwards


@dataclass
class _Setup:
    vocab: Vocabulary
    plan: Plan
    generator: object
    features: FeatureEncoder
    dims: dict


def _setup(
    vocab,
    *,
    generator,
    encoder,
    encoder_weights,
    templates,
    images_per_template,
    resolution,
    steps,
    guidance,
    batch_size,
    seed,
    device,
    classes_per_shard,
    stage_maps,
    encode_size,
) -> _Setup:
    check_settings(images_per_template, resolution, steps, batch_size, seed, guidance)
    vocab = load_vocabulary(vocab)
    templates = load_templates(templates)
    check_weights(generator, encoder, encoder_weights)  # before loading either
    device = process_device(device)  # auto -> cuda or cpu; cuda -> this process's GPU
    if isinstance(generator, str):
        from promptbank.generator import load_generator

        generator = load_generator(generator, device=device)
    if isinstance(encoder, str):
        from promptbank.encoder import load_encoder

        encoder = load_encoder(encoder, encoder_weights, device=device)
    size = encode_size or encoder.image_size
    features = FeatureEncoder(encoder, size=size, stage_maps=stage_maps)
    recipe = make_recipe(
        generator=generator.identity(),
        encoder=encoder.identity(),
        templates=templates,
        images_per_template=images_per_template,
        resolution=resolution,
        steps=steps,
        guidance=guidance,
        seed=seed,
        stage_maps=stage_maps,
        encode_size=size,
    )
    plan = make_plan(recipe, vocab, classes_per_shard=classes_per_shard)
    return _Setup(vocab, plan, generator, features, features.dims())


def build_bank(vocab: str | Path | Vocabulary, out: str | Path, **options) -> Path:
    """Build (or resume) the bank of `vocab` in `out`; options as in `run_build`. Returns `out`."""
    return run_build(vocab, out, **options).path


def run_build(
    vocab: str | Path | Vocabulary,
    out: str | Path,
    *,
    generator="sd15",
    encoder="convnext_base_w_320",
    encoder_weights: str | Path | None = None,
    templates: int | str | Path | list[str] | None = None,
    images_per_template: int = 1,
    resolution: int = 512,
    steps: int = 50,
    guidance: float = 7.5,
    batch_size: int = 8,
    seed: int = 0,
    store: str | Path | None = None,
    device: str = "auto",
    shard_index: int | None = None,
    num_shards: int | None = None,
    classes_per_shard: int | None = None,
    stage_maps: bool = False,
    encode_size: int | None = None,
    progress: bool = True,
) -> BuildReport:
    """Build this process's part of the bank. `generator`/`encoder` are names or loaded objects.

    The defaults are the paper's recipe (DPSeg-B): Stable Diffusion 1.5 at 512 px and 50 steps,
    the convnext_base_w_320 CLIP, all 80 templates, one image each, on a GPU when present. Their
    weights must be on this disk (checked before anything loads); try the pipeline without
    weights with generator="procedural" (or "tiny-sd"), encoder="tiny", resolution=64."""
    index, count = process_slot(shard_index, num_shards)
    s = _setup(
        vocab,
        generator=generator,
        encoder=encoder,
        encoder_weights=encoder_weights,
        templates=templates,
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
    build = BuildDir(out, s.plan.state())
    build.prepare()
    if build.complete():
        say(f"bank {out} is already complete (id {s.plan.bank_id})", progress)
        return BuildReport(Path(out), s.plan.bank_id, True, 0, 0, 0, 0, 0.0, 0.0, 0.0)
    owned = owned_shards(len(s.plan.shards), index, count)
    with ShardLocks(build.lock_path, owned, out) as locks:
        builder = _Builder(
            s,
            build,
            store=store,
            batch_size=batch_size,
            resolution=resolution,
            steps=steps,
            guidance=guidance,
            progress=progress,
        )
        todo = [j for j in owned if not build.is_done(j)]
        builder.run(todo, index, count, skipped=len(owned) - len(todo))
        complete = _finalise(build, locks, s)
    return builder.report(Path(out), complete, len(todo), len(owned) - len(todo))


def _finalise(build: BuildDir, locks: ShardLocks, s: _Setup) -> bool:
    if build.complete():
        return True
    if not build.all_done():
        return False  # another process still builds its shards; the last one finalises
    if locks.finalise_lock() and not build.complete():
        build.finalise(s.plan.recipe, s.dims)
    return build.complete()


class _Builder:
    """Runs the shards of one process: generation batches across classes, encoding per class."""

    def __init__(
        self,
        s: _Setup,
        build: BuildDir,
        *,
        store,
        batch_size,
        resolution,
        steps,
        guidance,
        progress,
    ):
        self.s, self.build, self.batch_size = s, build, batch_size
        self.gen_args = {"resolution": resolution, "steps": steps, "guidance": guidance}
        self.store = StoreIndex(store, s.plan.bank_id, exclude=build.root)
        self.progress_on = progress
        self.generated = self.reused = 0
        self.gen_seconds = 0.0
        self.seconds = 0.0

    def _reusable(self, ci: int):
        vocab = self.s.vocab
        return self.store.find(vocab.classes[ci], vocab.aliases[ci][0])

    def run(self, todo: list[int], index: int, count: int, skipped: int) -> None:
        plan = self.s.plan
        classes = [ci for j in todo for ci in plan.shards[j]]
        reuse = sum(1 for ci in classes if self._reusable(ci) is not None)
        per_class = len(plan.templates) * plan.images_per_template
        to_make = (len(classes) - reuse) * per_class
        where = f" (process {index} of {count})" if count > 1 else ""
        say(
            f"bank build {plan.bank_id}: {len(plan.vocab)} classes x {len(plan.templates)} "
            f"templates x {plan.images_per_template} = {plan.num_images} images in "
            f"{len(plan.shards)} shards; {len(todo)} shards to build{where}, {skipped} already done",
            self.progress_on,
        )
        if self.store.banks:
            say(
                f"store: reusing {reuse} of {len(classes)} classes from "
                f"{len(self.store.banks)} bank(s) with the same recipe",
                self.progress_on,
            )
        self.progress = Progress(to_make, "images", prefix="bank build", enabled=self.progress_on)
        writer = ShardWriter(self.build)
        start = time.perf_counter()
        try:
            for j in todo:
                self.build.clean(j)
                self._shard(j, writer)
            writer.wait()
        finally:
            writer.close()
            self.progress.close()
        self.seconds = time.perf_counter() - start

    def _shard(self, j: int, writer: ShardWriter) -> None:
        plan = self.s.plan
        T, K = len(plan.templates), plan.images_per_template
        order = plan.shards[j]
        stored = {ci: self._reusable(ci) for ci in order}
        items = [it for ci in order if stored[ci] is None for it in plan.items(ci)]
        images: dict[int, list] = {ci: [] for ci in order}
        rows: dict[str, list] = {}
        names: list[str] = []
        writer.begin(j)
        pos = 0  # next class of `order` to emit

        def emit_ready() -> None:
            nonlocal pos
            while pos < len(order):
                ci = order[pos]
                if stored[ci] is None and len(images[ci]) < T * K:
                    return
                self._emit(ci, stored[ci], images.pop(ci), writer, rows)
                names.append(plan.vocab.classes[ci])
                pos += 1

        emit_ready()
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            t0 = time.perf_counter()
            out = self.s.generator.generate(
                [it.prompt for it in batch], [it.seed for it in batch], **self.gen_args
            )
            self.gen_seconds += time.perf_counter() - t0
            if len(out) != len(batch):
                raise BankError(
                    f"generator {self.s.generator.name!r} returned {len(out)} images for "
                    f"{len(batch)} prompts; it must return one image per prompt"
                )
            for it, image in zip(batch, out):
                images[it.class_index].append((it, image))
            self.generated += len(batch)
            self.progress.advance(len(batch))
            emit_ready()
        emit_ready()
        writer.finish(j, names, rows, reused=sum(1 for ci in order if stored[ci] is not None))

    def _emit(self, ci: int, entry, generated: list, writer: ShardWriter, rows: dict) -> None:
        plan, fenc = self.s.plan, self.s.features
        T, K = len(plan.templates), plan.images_per_template
        name = plan.vocab.classes[ci]
        if entry is None:
            samples = []
            for it, image in generated:
                meta = {
                    "class": name,
                    "template": plan.templates[it.template_index],
                    "template_index": it.template_index,
                    "k": it.k,
                    "prompt": it.prompt,
                    "seed": it.seed,
                }
                samples.append((sample_key(ci, it.template_index, it.k), image, meta))
            feats = fenc.visual([image for _, image in generated], T, K)
        else:
            names = [n for n in fenc.dims() if n != "text"]
            if fenc.stage_maps:
                names += [f"maps_s{s}" for s in STRIDES]
            feats = stored_rows(entry, names)
            samples = [
                (sample_key(ci, sm.meta["template_index"], sm.meta["k"]), sm.png, sm.meta)
                for sm in stored_samples(entry, name)
            ]
            self.reused += 1
        writer.images(samples)
        feats["text"] = fenc.text(plan.vocab.aliases[ci], plan.templates)
        for key, value in feats.items():
            rows.setdefault(key, []).append(value)

    def report(self, path: Path, complete: bool, built: int, skipped: int) -> BuildReport:
        return BuildReport(
            path,
            self.s.plan.bank_id,
            complete,
            built,
            skipped,
            self.generated,
            self.reused,
            self.seconds,
            self.gen_seconds,
            self.s.features.seconds,
        )


_NOT_RECIPE = ("store", "shard_index", "num_shards", "progress")  # where and how, not what
BUILD_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(run_build).parameters.items()
    if param.kind is inspect.Parameter.KEYWORD_ONLY and name not in _NOT_RECIPE
}  # the recipe options of run_build and their defaults, read from its signature


def plan_build(vocab, out=None, *, store=None, **options) -> dict:
    """The dry-run plan (nothing generated): counts, reuse from the store, disk estimate."""
    for key in ("progress", "shard_index", "num_shards"):
        options.pop(key, None)
    unknown = set(options) - set(BUILD_DEFAULTS)
    if unknown:
        raise TypeError(f"plan_build() got unexpected options {sorted(unknown)}")
    options = {**BUILD_DEFAULTS, **options}
    s = _setup(vocab, **options)
    plan = s.plan
    reusable = StoreIndex(store, plan.bank_id, exclude=out)
    reuse = sum(
        1
        for ci in range(len(plan.vocab))
        if reusable.find(plan.vocab.classes[ci], plan.vocab.aliases[ci][0])
    )
    per_class = len(plan.templates) * plan.images_per_template
    return {
        "out": _out_state(out, plan),
        "bank_id": plan.bank_id,
        "classes": len(plan.vocab),
        "templates": len(plan.templates),
        "images_per_template": plan.images_per_template,
        "images": plan.num_images,
        "shards": len(plan.shards),
        "classes_reused": reuse,
        "images_to_generate": (len(plan.vocab) - reuse) * per_class,
        "bytes": estimate_bytes(plan, s.dims, options["stage_maps"]),
        "generator": plan.recipe["generator"],
        "encoder": plan.recipe["encoder"],
    }


def _out_state(out, plan: Plan) -> str:
    """What a build into `out` would find there (for --dry-run)."""
    if out is None or not Path(out).exists():
        return "new"
    build = BuildDir(out, plan.state())
    try:
        build.prepare_check()
    except BankError as e:
        return f"refused: {e}"
    if build.complete():
        return "complete"
    done = sum(build.is_done(j) for j in range(len(plan.shards)))
    return f"resumable: {done} of {len(plan.shards)} shards done"
