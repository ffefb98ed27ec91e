"""The fault cases, shared by tests/faults and bench/faults.py.

Each family function takes what it needs (a finished bank, a checkpoint, a scratch folder) and
returns `Case`s; `Case.run()` returns '' when dpseg survived (refused cleanly, nothing lost or
read outside the bank) and the reason otherwise. Every case works on real files with the real
CLI or library; nothing of dpseg is patched.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.faults.harness import Watch, dpseg, flip, offsets, truncate


@dataclass
class Case:
    name: str  # family/what, e.g. "untrusted/features ../"
    run: Callable[[], str]  # '' = survived, else why not


def tally(cases: list[Case]) -> tuple[int, list[str]]:
    """(cases tried, 'name: reason' of every failure)."""
    failures = []
    for case in cases:
        try:
            reason = case.run()
        except Exception as err:  # noqa: BLE001 - an unexpected exception is a failure to report
            reason = f"{type(err).__name__}: {err}"
        if reason:
            failures.append(f"{case.name}: {reason}")
    return len(cases), failures


def fresh_copy(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    for f in dst.rglob("*"):
        if f.is_file() and not f.is_symlink():
            f.chmod(0o644)
    return dst


def edit_manifest(bank: Path, change: Callable[[dict], None], reseal: bool = True) -> None:
    """Change manifest.json as a hostile author would, resealing its checksum and bank id."""
    from promptbank.format import bank_id
    from promptbank.safety import CHECKSUM_KEY, manifest_checksum

    path = bank / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    if reseal:
        if isinstance(manifest.get("recipe"), dict):
            manifest["bank_id"] = bank_id(manifest["recipe"])
        manifest[CHECKSUM_KEY] = manifest_checksum(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


# ------------------------------------------------------------------------- untrusted banks
def _shard(m: dict, i: int = 0) -> dict:
    return m["shards"][i]


def _set(key: str, value) -> Callable[[dict], None]:
    return lambda m: _shard(m).__setitem__(key, value)


def _dataset(field: str, value, name: str = "visual") -> Callable[[dict], None]:
    return lambda m: _shard(m)["datasets"][name].__setitem__(field, value)


def _tar_with(member: tarfile.TarInfo, data: bytes | None) -> Callable[[Path, Path], None]:
    """A hostile image shard: the real samples plus `member`, with the manifest resealed."""

    def make(bank: Path, outside: Path) -> None:
        from promptbank.format import sha256_file

        tar = bank / "images/00000.tar"
        with tarfile.open(tar, "a") as t:
            t.addfile(member, io.BytesIO(data) if data is not None else None)
        digest, size = sha256_file(tar), tar.stat().st_size
        edit_manifest(bank, lambda m: _shard(m).update(images_sha256=digest, images_bytes=size))

    return make


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 5 if kind == tarfile.REGTYPE else 0
    return info


def _symlink(rel: str, target_of: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    def make(bank: Path, outside: Path) -> None:
        path = bank / rel
        target = target_of(bank, outside)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        path.symlink_to(target)

    return make


def hostile_banks() -> dict[str, Callable[[Path, Path], None]]:
    """name -> make(bank, outside): turn a good bank copy into a hostile one. `outside` holds a
    copy of the bank's files (features/, images/, manifest.json) that must never be opened."""
    out_h5 = "../outside/features/00000.h5"
    m = {
        "features ../": lambda b, o: edit_manifest(b, _set("features", out_h5)),
        "features features/../..": lambda b, o: edit_manifest(
            b, _set("features", "features/../../outside/features/00000.h5")
        ),
        "features absolute": lambda b, o: edit_manifest(
            b, _set("features", str(o / "features/00000.h5"))
        ),
        "features NUL": lambda b, o: edit_manifest(b, _set("features", "features/00000.h5\0.x")),
        "features backslash": lambda b, o: edit_manifest(
            b, _set("features", "features\\..\\..\\outside\\features\\00000.h5")
        ),
        "images ../": lambda b, o: edit_manifest(b, _set("images", "../outside/images/00000.tar")),
        "images absolute": lambda b, o: edit_manifest(
            b, _set("images", str(o / "images/00000.tar"))
        ),
        "images NUL": lambda b, o: edit_manifest(b, _set("images", "images/\0")),
        "features symlink": _symlink("features/00000.h5", lambda b, o: o / "features/00000.h5"),
        "images symlink": _symlink("images/00000.tar", lambda b, o: o / "images/00000.tar"),
        "features folder symlink": _symlink("features", lambda b, o: o / "features"),
        "images folder symlink": _symlink("images", lambda b, o: o / "images"),
        "manifest symlink": _symlink("manifest.json", lambda b, o: o / "manifest.json"),
        "dtype unknown": lambda b, o: edit_manifest(b, _dataset("dtype", "<x9")),
        "dtype object": lambda b, o: edit_manifest(b, _dataset("dtype", "|O")),
        "shape huge": lambda b, o: edit_manifest(b, _dataset("shape", [3, 2, 10**15])),
        "shape 2**63": lambda b, o: edit_manifest(b, _dataset("shape", [3, 2, 2**62, 4])),
        "shape negative": lambda b, o: edit_manifest(b, _dataset("shape", [3, 2, -64])),
        "shape not a list": lambda b, o: edit_manifest(b, _dataset("shape", "3,2,64")),
        "offset past end": lambda b, o: edit_manifest(b, _dataset("offset", 10**9)),
        "offset negative": lambda b, o: edit_manifest(b, _dataset("offset", -8)),
        "dataset unknown name": lambda b, o: edit_manifest(
            b, lambda m: _shard(m)["datasets"].__setitem__("../x", {})
        ),
        "class row out of range": lambda b, o: edit_manifest(
            b, lambda m: m["classes"][0].__setitem__("row", 99)
        ),
        "class shard unknown": lambda b, o: edit_manifest(
            b, lambda m: m["classes"][0].__setitem__("shard", "../outside")
        ),
        "shard id ../": lambda b, o: edit_manifest(b, _set("id", "../x")),
        "another encoder, stale bank id": lambda b, o: edit_manifest(
            b, lambda m: m["recipe"]["encoder"].__setitem__("name", "x"), reseal=False
        ),
        "another encoder, checksum resealed": lambda b, o: _claim_encoder(b),
        "unknown manifest field": lambda b, o: edit_manifest(
            b, lambda m: m.__setitem__("exec", "rm -rf /")
        ),
        "manifest deeply nested": lambda b, o: (b / "manifest.json").write_text(
            '{"format": "dpseg-bank", "x": ' + "[" * 100000 + "]" * 100000 + "}"
        ),
        "tar member ../": _tar_with(_member("../evil.png"), b"hello"),
        "tar member absolute": _tar_with(_member("/tmp/evil.png"), b"hello"),
        "tar member in a folder": _tar_with(_member("sub/c00000_t000_k00.png"), b"hello"),
        "tar member symlink": _tar_with(
            _member("c00099_t000_k00.png", tarfile.SYMTYPE, "/etc/passwd"), None
        ),
        "tar member hard link": _tar_with(
            _member("c00099_t000_k00.png", tarfile.LNKTYPE, "../outside/x"), None
        ),
        "tar member device": _tar_with(_member("c00099_t000_k00.png", tarfile.CHRTYPE), None),
    }
    return m


def _claim_encoder(bank: Path) -> None:
    """The manifest says another encoder with a consistent id and checksum, but its datasets
    keep the tiny encoder's widths: only the model's encoder check can refuse it."""
    from promptbank.format import bank_id
    from promptbank.safety import CHECKSUM_KEY, manifest_checksum

    path = bank / "manifest.json"
    m = json.loads(path.read_text())
    m["recipe"]["encoder"]["name"] = "convnext_large_d_320"
    m["recipe"]["encoder"]["weights"] = "laion2b_s29b_b131k_ft_soup"
    m["bank_id"] = bank_id(m["recipe"])
    m[CHECKSUM_KEY] = manifest_checksum(m)
    path.write_text(json.dumps(m))


def untrusted_cases(bank: Path, scratch: Path) -> list[Case]:
    """Each hostile bank must be refused by the reader, verify_bank and `dpseg bank verify`/
    `info`, in one line, while nothing in the outside folder is opened."""
    outside = scratch / "outside"
    if not outside.exists():
        outside.mkdir(parents=True)
        for part in ("features", "images"):
            shutil.copytree(bank / part, outside / part)
        shutil.copy(bank / "manifest.json", outside / "manifest.json")

    def case(name: str, make) -> Case:
        def run() -> str:
            hostile = fresh_copy(bank, scratch / "hostile")
            make(hostile, outside)
            folders = [outside, outside / "features", outside / "images"]
            with Watch(folders) as watch:
                reason = _refused_everywhere(hostile, name)
            if watch.events and not reason:
                reason = f"opened outside the bank: {sorted(set(watch.events))[:3]}"
            return reason

        return Case(f"untrusted/{name}", run)

    return [case(n, make) for n, make in hostile_banks().items()]


def _refused_everywhere(bank: Path, name: str) -> str:
    from promptbank.errors import BankError
    from promptbank.reader import open_bank
    from promptbank.verify import verify_bank

    if name == "another encoder, checksum resealed":
        return _model_refuses_encoder(bank)
    if name.startswith("tar "):  # the features are sound: whatever reads the images refuses
        return _images_refused(bank)
    try:
        b = open_bank(bank)
        b.select(b.classes)
        return "the reader opened and read it"
    except BankError:
        pass
    try:
        report = verify_bank(bank)
        if report.ok:
            return "verify_bank reported it healthy"
    except BankError:
        pass
    why = dpseg("bank", "verify", bank).verify_failed()
    if why:
        return f"dpseg bank verify: {why}"
    why = dpseg("bank", "info", bank).refused(1)
    return f"dpseg bank info: {why}" if why else ""


def _images_refused(bank: Path) -> str:
    from promptbank.errors import BankError
    from promptbank.shards import read_samples
    from segmodel.vip.aliases import bank_images

    for read in (lambda: list(read_samples(bank / "images/00000.tar")),
                 lambda: list(bank_images(bank, ["red circle"], 99))):  # fmt: skip
        try:
            read()
            return "its images were read"
        except BankError:
            pass
    why = dpseg("bank", "verify", bank).verify_failed("images/00000.tar")
    return f"dpseg bank verify: {why}" if why else ""


def _model_refuses_encoder(bank: Path) -> str:
    from promptbank.encoder import load_encoder
    from promptbank.reader import open_bank
    from segmodel.errors import EncoderMismatchError
    from segmodel.prompts import check_encoder

    try:
        check_encoder(load_encoder("tiny").identity(), open_bank(bank).encoder)
    except EncoderMismatchError as err:
        return "" if "convnext_large_d_320" in str(err) and "tiny" in str(err) else str(err)
    return "a model accepted a bank of another encoder"


# ------------------------------------------------------------------------------ corruption
DAMAGES = {  # name -> damage(path, offset)
    "flip": lambda p, at: flip(p, at, 0xFF),
    "bitflip": lambda p, at: flip(p, at, 0x01),
    "truncate": truncate,
}


def bank_corruption_cases(bank: Path, scratch: Path, per_file: int, seed: int = 0) -> list[Case]:
    """One damage at `per_file` offsets of each file kind of a bank (features, images,
    manifest): `dpseg bank verify` names the file and the reader refuses it, unless the damage
    left the content equal (a dropped trailing newline of manifest.json)."""
    cases = []
    for rel in ("features/00001.h5", "images/00001.tar", "manifest.json"):
        size = (bank / rel).stat().st_size
        for i, at in enumerate(offsets(size, per_file, seed)):
            damage = list(DAMAGES)[i % len(DAMAGES)]
            cases.append(Case(f"corruption/{rel} {damage}@{at}", _bank_damage(bank, scratch, rel,
                                                                               damage, at)))  # fmt: skip
    return cases


def _bank_damage(bank: Path, scratch: Path, rel: str, damage: str, at: int):
    def run() -> str:
        from promptbank.errors import BankError
        from promptbank.reader import open_bank

        damaged = fresh_copy(bank, scratch / "damaged")
        before = (damaged / rel).read_bytes()
        DAMAGES[damage](damaged / rel, at)
        if rel == "manifest.json" and _same_json(before, (damaged / rel).read_bytes()):
            ok = dpseg("bank", "verify", damaged)
            return "" if ok.code == 0 else f"equal content refused: {ok.stderr.strip()[:200]}"
        why = dpseg("bank", "verify", damaged).verify_failed(rel)
        if why:
            return f"dpseg bank verify: {why}"
        if rel.startswith("images/"):
            return ""  # the features are sound; verify (above) and read_samples refuse the tar
        try:
            b = open_bank(damaged)
            b.select(b.classes)
        except BankError as err:
            return "" if rel.split("/")[-1] in str(err) else f"reader refused without naming: {err}"
        return "the reader read the damaged bank"

    return run


def _same_json(a: bytes, b: bytes) -> bool:
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def checkpoint_corruption_cases(checkpoint: Path, scratch: Path, count: int,
                                seed: int = 0) -> list[Case]:  # fmt: skip
    """One damage at `count` offsets of a saved model: load_model (what segment, eval and a
    resumed training read) refuses it with CheckpointError naming the file."""
    size = checkpoint.stat().st_size
    cases = []
    for i, at in enumerate(offsets(size, count, seed)):
        damage = list(DAMAGES)[i % len(DAMAGES)]

        def run(damage=damage, at=at) -> str:
            from segmodel.checkpoint import load_model
            from segmodel.errors import CheckpointError

            damaged = scratch / "damaged.safetensors"
            shutil.copy(checkpoint, damaged)
            DAMAGES[damage](damaged, at)
            try:
                load_model(damaged)
            except CheckpointError as err:
                return "" if str(damaged) in str(err) and "\n" not in str(err) else str(err)
            return "the damaged checkpoint loaded"

        cases.append(Case(f"corruption/checkpoint {damage}@{at}", run))
    return cases


# --------------------------------------------------------------------------- bad user input
def _files(scratch: Path) -> dict[str, Path]:
    """Input files a careless or hostile user could pass."""
    scratch.mkdir(parents=True, exist_ok=True)
    texts = {
        "nul.txt": "cat\x00dog\n",
        "crlf.json": json.dumps(["cat\r\ndog"]),
        "lf.json": json.dumps(["cat", "sea\nsky"]),
        "long.txt": "x" * 5000 + "\n",
        "spaces.json": json.dumps(["   "]),
        "spaces.txt": "   \n \t \n",
        "dup.txt": "cat\ncat\n",
        "dupcase.txt": "cat\nCAT\n",
        "dupfold.txt": "straße\nSTRASSE\n",
        "empty.txt": "",
        "comments.txt": "# one\n   # two\n",
        "object.json": '{"cat": 1}',
        "paths.txt": "a/b\n..\n../../etc/passwd\n/abs/name\n",
        "nobrace.txt": "a photo of a thing.\n",
        "tdup.txt": "a {}.\na {}.\n",
        "bad.toml": "[optim\nlr = 1\n",
        "ok.toml": "[data]\nworkers = 0\n",
        "section.toml": "[nonsense]\nx = 1\n",
    }
    for name, text in texts.items():
        (scratch / name).write_text(text, encoding="utf-8")
    (scratch / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (scratch / "latin1.toml").write_bytes("[run]\nout = 'caf\xe9'\n".encode("latin-1"))
    return {name: scratch / name for name in [*texts, "latin1.txt", "latin1.toml"]}


def _checkpoints(scratch: Path, checkpoint: Path) -> dict[str, Path]:
    """Files that are not the checkpoint they claim to be."""
    import pickle

    import torch
    from safetensors.torch import save_file

    from segmodel.checkpoint import content_sha256, load_state, read_header

    out = {"pickle": scratch / "pickle.safetensors", "torch": scratch / "torch.safetensors",
           "empty": scratch / "empty.safetensors", "folder": scratch / "folder.safetensors",
           "foreign": scratch / "foreign.safetensors", "preset": scratch / "preset.safetensors"}  # fmt: skip
    out["pickle"].write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    torch.save({"w": torch.zeros(2)}, out["torch"])
    out["empty"].write_bytes(b"")
    out["folder"].mkdir(exist_ok=True)
    save_file({"w": torch.zeros(2)}, str(out["foreign"]))
    header, state = read_header(checkpoint), load_state(checkpoint)
    header["config"] = {**header["config"], "cost_embed_dim": 48}  # another size, resealed
    header["sha256"] = content_sha256(header, state)
    save_file(state, str(out["preset"]), metadata={"dpseg": json.dumps(header, sort_keys=True)})
    return out


def bad_input_cases(scratch: Path, checkpoint: Path, image: Path, bank: Path) -> list[Case]:
    """Each input: exit 2, one line naming the thing (and the fix), no traceback, no output."""
    f = _files(scratch / "in")
    ck = _checkpoints(scratch / "in", checkpoint)
    build = ["bank", "build"]
    small = ["--generator", "procedural", "--encoder", "tiny", "--templates", "1", "--quiet"]
    table: list[tuple[str, list, list[str]]] = [
        ("vocab NUL", [*build, f["nul.txt"], *small], ["control characters"]),
        ("vocab CR/LF", [*build, f["crlf.json"], *small], ["control characters"]),
        ("vocab LF", [*build, f["lf.json"], *small], ["control characters"]),
        ("vocab 5000 chars", [*build, f["long.txt"], *small], ["over 200"]),
        ("vocab only spaces (json)", [*build, f["spaces.json"], *small], ["no class name"]),
        ("vocab only spaces", [*build, f["spaces.txt"], *small], ["empty"]),
        ("vocab duplicate", [*build, f["dup.txt"], *small], ["duplicates entry 1"]),
        ("vocab duplicate case", [*build, f["dupcase.txt"], *small], ["duplicates entry 1"]),
        ("vocab duplicate casefold", [*build, f["dupfold.txt"], *small], ["duplicates entry 1"]),
        ("vocab empty", [*build, f["empty.txt"], *small], ["empty"]),
        ("vocab comments only", [*build, f["comments.txt"], *small], ["empty"]),
        ("vocab not UTF-8", [*build, f["latin1.txt"], *small], ["not UTF-8"]),
        ("vocab JSON object", [*build, f["object.json"], *small], ["JSON list"]),
        ("vocab missing", [*build, scratch / "none.txt", *small], ["does not exist"]),
        ("templates without {}", [*build, "shapes", "--templates", f["nobrace.txt"]], ["{}"]),
        ("templates empty", [*build, "shapes", "--templates", f["empty.txt"]], ["empty"]),
        ("templates duplicate", [*build, "shapes", "--templates", f["tdup.txt"]], ["duplicate"]),
        ("templates not UTF-8", [*build, "shapes", "--templates", f["latin1.txt"]], ["UTF-8"]),
        ("templates 0", [*build, "shapes", "--templates", "0"], ["--templates 0"]),
        ("templates 81", [*build, "shapes", "--templates", "81"], ["--templates 81"]),
        ("build batch 0", [*build, "shapes", *small, "--batch-size", "0"], ["--batch-size 0"]),
        ("build k 0", [*build, "shapes", *small, "-k", "0"], ["--images-per-template 0"]),
        ("build seed -1", [*build, "shapes", *small, "--seed", "-1"], ["--seed -1"]),
        ("build resolution 1", [*build, "shapes", *small, "--resolution", "1"], ["--resolution"]),
        ("toml malformed", ["train", f["bad.toml"]], ["bad.toml", "not valid TOML"]),
        ("toml not UTF-8", ["train", f["latin1.toml"]], ["latin1.toml", "not valid TOML"]),
        ("toml unknown section", ["train", f["section.toml"]], ["nonsense"]),
        ("toml missing", ["train", scratch / "none.toml"], ["does not exist"]),
        ("--set lr=abc", ["train", f["ok.toml"], "--set", "optim.lr=abc"], ["optim.lr", "number"]),
        ("--set steps=1.5", ["train", f["ok.toml"], "--set", "run.steps=1.5"], ["run.steps"]),
        ("--set steps=true", ["train", f["ok.toml"], "--set", "run.steps=true"], ["run.steps"]),
        ("--set flip=3", ["train", f["ok.toml"], "--set", "data.flip=3"], ["data.flip", "true"]),
        ("--set betas=x", ["train", f["ok.toml"], "--set", "optim.betas=x"], ["optim.betas"]),
        ("--set no =", ["train", f["ok.toml"], "--set", "optim.lr"], ["section.key=value"]),
        ("--set unknown section", ["train", f["ok.toml"], "--set", "x.y=1"], ["section"]),
        ("--set unknown key", ["train", f["ok.toml"], "--set", "run.nope=1"], ["nope"]),
        ("--set crop=33", ["train", f["ok.toml"], "--set", "data.crop=33"], ["data.crop", "32"]),
    ]
    seg = ["segment", image, "--classes", "red circle", "--device", "cpu", "--bank", bank]
    for name, words in [("pickle", ["not a readable safetensors"]),
                        ("torch", ["not a readable safetensors"]),
                        ("empty", ["not a readable safetensors"]),
                        ("folder", ["folder.safetensors"]),
                        ("foreign", ["not a dpseg model checkpoint"]),
                        ("preset", ["another model"])]:  # fmt: skip
        table.append((f"checkpoint {name}", [*seg, "--checkpoint", ck[name]], words))
    if not _has_cuda():
        cuda = ["no CUDA device", "--device cpu"]
        table += [
            ("--device cuda build", [*build, "shapes", *small, "--device", "cuda"], cuda),
            ("--device cuda:3 build", [*build, "shapes", *small, "--device", "cuda:3"], cuda),
            (
                "--device cuda segment",
                ["segment", image, "--method", "vip", "--classes", "sky", "--device", "cuda"],
                cuda,
            ),  # fmt: skip
            (
                "--device cuda eval",
                [
                    "eval",
                    "--checkpoint",
                    checkpoint,
                    "--dataset",
                    "shapes",
                    "--bank",
                    bank,
                    "--device",
                    "cuda",
                ],
                cuda,
            ),  # fmt: skip
            ("--device cuda train", ["train", f["ok.toml"], "--set", "run.device=cuda"], cuda),
        ]
    table.append(("--device tpu", [*build, "shapes", *small, "--device", "tpu"], ["tpu"]))
    return [_refusal_case(name, argv, words, scratch) for name, argv, words in table] + [
        Case("input/class names with / and .. stay data", lambda: _names_stay_data(f, scratch))
    ]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _refusal_case(name: str, argv: list, words: list[str], scratch: Path) -> Case:
    def run() -> str:
        work = scratch / "work"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        out = work / "out"
        args = [*argv]
        if args[:2] == ["bank", "build"] or args[0] in ("segment", "eval"):
            args += ["--out", out]
        elif args[0] == "train":
            args += ["--set", f"run.out={json.dumps(str(out))}"]
        why = dpseg(*args, cwd=work).refused(2, *words)
        if not why and out.exists():
            why = f"left output behind: {sorted(p.name for p in out.rglob('*'))[:5]}"
        if not why and [p.name for p in work.iterdir()] != []:
            why = f"left files in the working folder: {[p.name for p in work.iterdir()]}"
        return why

    return Case(f"input/{name}", run)


def _names_stay_data(f: dict[str, Path], scratch: Path) -> str:
    """Names holding '/', '..' and absolute paths are accepted as data and never become paths."""
    work = scratch / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    out = work / "out"
    plan = dpseg("bank", "build", f["paths.txt"], "--out", out, "--generator", "procedural",
                 "--encoder", "tiny", "--templates", "1", "--dry-run", cwd=work)  # fmt: skip
    if plan.code != 0 or "4 classes" not in plan.stdout:
        return f"dry run failed: {plan.stderr.strip()[:200]}"
    from promptbank.vocab import load_vocabulary

    vocab = load_vocabulary(f["paths.txt"])
    if vocab.classes != ["a/b", "..", "../../etc/passwd", "/abs/name"]:
        return f"names changed: {vocab.classes}"
    leftovers = [p.name for p in work.iterdir()]
    return f"created {leftovers}" if leftovers else ""
