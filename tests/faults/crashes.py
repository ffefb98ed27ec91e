"""Crashes: a real `dpseg bank build` process killed with SIGKILL at a chosen moment, then
resumed (same batch size, another batch size, or two processes), must end with the bank of a
clean build, byte for byte.

Moments are observed from outside, never hooked: the build's thread states in
/proc/PID/task/*/syscall (fsync, rename, write) and the temporary files it leaves while it
writes a tar, an HDF5 shard or the manifest. x86-64 Linux syscall numbers.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.faults.cases import Case
from tests.promptbank.bank_helpers import SUBPROCESS_ENV, bank_digest

RECIPE = ["--generator", "procedural", "--encoder", "tiny", "--templates", "2", "-k", "2",
          "--classes-per-shard", "1", "--resolution", "64", "--quiet"]  # fmt: skip
SHARDS, IMAGES_PER_SHARD = 13, 4  # the shapes vocabulary, one class per shard, 2 x 2 images
SYSCALLS = {"fsync": {74, 75}}
TMP = {"tar": "images/.*.tar.tmp", "hdf5": "features/.*.h5.tmp",
       "manifest": ".manifest.json.*.tmp", "marker": ".build/done/.*.tmp"}  # fmt: skip
MOMENTS = ("random", "fsync", "tar", "hdf5", "renamed", "manifest", "marker", "generation")
RESUMES = ("same batch", "batch 3", "two processes")


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", "bank", "build", "shapes", "--out", str(out),
            *RECIPE, *extra]  # fmt: skip


def env() -> dict:
    return {**os.environ, **SUBPROCESS_ENV}


def reference(folder: Path) -> dict[str, str]:
    """Digest of a clean build with the CLI (one process, batch 8)."""
    subprocess.run(command(folder), env=env(), check=True, capture_output=True, timeout=600)
    return bank_digest(folder)


def _in_syscall(pid: int, numbers: set[int]) -> bool:
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            first = (task / "syscall").read_text().split(" ", 1)[0]
        except OSError:
            continue
        if first.isdigit() and int(first) in numbers:
            return True
    return False


def kill_at(out: Path, moment: str, rng: random.Random, seconds: float) -> str:
    """Start a build into `out`, SIGKILL it at `moment`; returns what was observed ('' when
    the build finished first)."""
    proc = subprocess.Popen(command(out), env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    start = time.monotonic()
    at = start + rng.uniform(0.3, seconds)  # 'random', and the earliest time for the others
    skip = 0 if moment in ("fsync", "manifest") else rng.randrange(4)  # not always the 1st
    seen, pending = "", set()
    while proc.poll() is None and time.monotonic() - start < 300:
        now = time.monotonic()
        if moment == "random":
            if now >= at:
                seen = f"random at {now - start:.2f}s"
        elif moment == "generation":  # images being drawn: the shard's tar is open, no h5 yet
            if any(out.glob(TMP["tar"])) and now >= at:
                seen = f"generating at {now - start:.2f}s"
        elif moment == "renamed":  # a temporary tar or h5 has just been renamed into place
            tmps = {str(p.relative_to(out)) for p in out.glob("*/.[0-9]*.tmp")}
            if pending - tmps:
                seen = f"just after a rename at {now - start:.2f}s"
            pending = tmps
        elif moment in SYSCALLS:
            if _in_syscall(proc.pid, SYSCALLS[moment]):
                seen = f"in {moment}() at {now - start:.2f}s"
        elif moment == "manifest":  # every shard marked done, the manifest not yet published
            done = len(list(out.glob(".build/done/[0-9]*.json")))
            if done == SHARDS and not (out / "manifest.json").exists():
                seen = f"finalising the manifest at {now - start:.2f}s"
        elif any(out.glob(TMP[moment])):
            seen = f"{moment} half-written at {now - start:.2f}s"
        if seen and skip:
            skip, seen = skip - 1, ""
            time.sleep(0.003)
        if seen:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return seen
        time.sleep(0.0005)
    proc.wait()
    return ""


def visible_files_complete(out: Path) -> str:
    """'' when every published file of a killed build is whole."""
    import h5py

    from promptbank.errors import BankError
    from promptbank.shards import read_samples
    from promptbank.verify import verify_bank

    if (out / "manifest.json").exists():
        report = verify_bank(out)
        return "" if report.ok else f"published manifest but {report.problems[:2]}"
    for tar in out.glob("images/[0-9]*.tar"):
        try:
            if len(list(read_samples(tar))) != IMAGES_PER_SHARD:
                return f"{tar.name} is partial"
        except BankError as err:
            return str(err)
    for h5 in out.glob("features/[0-9]*.h5"):
        try:
            with h5py.File(h5, "r", locking=False) as f:
                if f["visual"].shape[0] != 1:
                    return f"{h5.name} is partial"
        except (OSError, KeyError) as err:
            return f"{h5.name}: {err}"
    return ""


def resume(out: Path, how: str) -> None:
    if how == "two processes":
        procs = [subprocess.Popen(command(out, "--shard-index", str(i), "--num-shards", "2"),
                                  env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for i in range(2)]  # fmt: skip
        errors = [p.communicate(timeout=600)[1] for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError(f"resume failed: {errors}")
        if not (out / "manifest.json").exists():  # both ended before the other's last shard
            subprocess.run(command(out), env=env(), check=True, capture_output=True, timeout=600)
        return
    extra = ["--batch-size", "3"] if how == "batch 3" else []
    subprocess.run(command(out, *extra), env=env(), check=True, capture_output=True, timeout=600)


def crash_cases(scratch: Path, ref: dict[str, str], count: int, seed: int = 0,
                seconds: float = 8.0) -> list[Case]:  # fmt: skip
    """`count` kill-and-resume cases cycling over the moments and the ways to resume."""
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        moment, how = MOMENTS[i % len(MOMENTS)], RESUMES[i % len(RESUMES)]

        def run(i=i, moment=moment, how=how) -> str:
            out = scratch / f"crash-{i}"
            for _attempt in range(3):  # a short moment (an fsync) can pass between two polls
                seen = kill_at(out, moment, rng, seconds)
                if seen:
                    break
                shutil.rmtree(out)
            if not seen:
                return f"the build ended before the moment {moment!r} was seen"
            why = visible_files_complete(out)
            if why:
                return f"killed {seen}: {why}"
            resume(out, how)
            got = bank_digest(out)
            if got != ref:
                differ = sorted(k for k in set(got) | set(ref) if got.get(k) != ref.get(k))
                return f"killed {seen}, resumed ({how}): differs in {differ[:3]}"
            leftovers = [p.name for p in out.rglob("*.tmp")]
            return f"temporary files left: {leftovers[:3]}" if leftovers else ""

        cases.append(Case(f"crash/{moment} then {how} #{i}", run))
    return cases


# ----------------------------------------------------------------------------- concurrency
def concurrency_cases(scratch: Path, ref_bank: Path, ref: dict[str, str]) -> list[Case]:
    """Two builds into one folder, two vocabularies into one --store, readers during a build."""
    return [
        Case("concurrency/two builds into one folder", lambda: _two_builds(scratch / "two", ref)),
        Case(
            "concurrency/two vocabularies into one --store",
            lambda: _two_vocabularies(scratch / "store", ref_bank),
        ),  # fmt: skip
        Case(
            "concurrency/readers while a build writes",
            lambda: _read_while_writing(scratch / "busy", ref_bank),
        ),  # fmt: skip
    ]


def _two_builds(out: Path, ref: dict[str, str]) -> str:
    procs = [subprocess.Popen(command(out), env=env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for code, err in results:
        if code not in (0, 1) or "Traceback" in err:
            return f"exit {code}: {err.strip()[:200]}"
        if code == 1 and ("another `dpseg bank build`" not in err or err.count("\n") != 1):
            return f"refusal is not one line naming the other builder: {err.strip()[:200]}"
    if not (out / "manifest.json").exists():
        resume(out, "same batch")
    return "" if bank_digest(out) == ref else "the bank differs from a clean build"


def _two_vocabularies(store: Path, ref_bank: Path) -> str:
    import numpy as np

    from promptbank.reader import open_bank

    shutil.copytree(ref_bank, store / "shapes")
    names = open_bank(ref_bank).classes
    halves = {"a": names[:8], "b": names[5:]}  # three classes in both
    procs = []
    for key, classes in halves.items():
        vocab = store.parent / f"{key}.txt"
        vocab.write_text("".join(f"{c}\n" for c in classes))
        argv = command(store / key, "--store", str(store))
        argv[argv.index("shapes")] = str(vocab)
        procs.append(subprocess.Popen(argv, env=env(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    for p in procs:
        if p.wait(timeout=600) != 0:
            return f"a build failed: {p.stderr.read().strip()[:200]}"
    ref = open_bank(ref_bank)
    for key, classes in halves.items():
        got = open_bank(store / key).select(classes)
        want = ref.select(classes)
        if not (np.array_equal(got.visual, want.visual) and np.array_equal(got.text, want.text)):
            return f"bank {key} differs from the reference"
    return ""


def _read_while_writing(out: Path, ref_bank: Path) -> str:
    import numpy as np

    from promptbank.errors import BankError
    from promptbank.reader import open_bank
    from promptbank.verify import verify_bank

    proc = subprocess.Popen(command(out), env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    reads = refusals = 0
    while proc.poll() is None:
        try:
            bank = open_bank(out)
            bank.select(bank.classes)
            if not verify_bank(out).ok:
                return "a finished manifest with damaged shards was visible"
            reads += 1
        except BankError:
            refusals += 1
        time.sleep(0.05)
    ref = open_bank(ref_bank)
    got = open_bank(out).select(ref.classes)
    if not np.array_equal(got.visual, ref.select(ref.classes).visual):
        return "the bank read after the build differs"
    return "" if refusals else "the reader never saw the unfinished bank"


# ------------------------------------------------------------------------------- disk full
def tmpfs(folder: Path, size: int) -> bool:
    """Mount a tmpfs of `size` bytes on `folder` (needs root); False where not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}"
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder)],
                          capture_output=True).returncode == 0  # fmt: skip


def disk_full_cases(scratch: Path, ref: dict[str, str], fractions: list[float]) -> list[Case]:
    """A build on a tmpfs too small for it: one line, nothing half-written, and after the
    file system grows, the rerun ends with the clean build's bank."""
    need = sum((scratch / "ref" / k).stat().st_size for k in ref) if (scratch / "ref").exists() \
        else 400_000  # fmt: skip
    cases = []
    for i, fraction in enumerate(fractions):

        def run(i=i, fraction=fraction) -> str:
            disk = scratch / f"disk-{i}"
            size = max(4096 * 8, int(need * fraction))
            if not tmpfs(disk, size):
                return "skipped: cannot mount a tmpfs here (needs root)"
            try:
                out = disk / "bank"
                proc = subprocess.run(command(out), env=env(), capture_output=True, text=True,
                                      timeout=600)  # fmt: skip
                err = proc.stderr.strip()
                if proc.returncode == 0:
                    return f"the build fit in {size} bytes; not a disk-full case"
                if "No space left" not in err or len(err.splitlines()) != 1:
                    return f"not one line naming the full disk: {err[:300]}"
                why = visible_files_complete(out)
                if why:
                    return why
                leftovers = [str(p.relative_to(out)) for p in out.rglob("*.tmp")]
                if leftovers:
                    return f"half-written files left: {leftovers[:3]}"
                subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
                resume(out, "same batch")
                return "" if bank_digest(out) == ref else "the resumed bank differs"
            finally:
                subprocess.run(["umount", "-l", str(disk)], capture_output=True)

        cases.append(Case(f"disk full/{fraction:.0%} of the bank's size", run))
    return cases
