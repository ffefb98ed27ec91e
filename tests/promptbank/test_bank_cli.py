"""`dpseg bank ...` run as a real command."""

import json
import os
import subprocess
import sys

from PIL import Image

from tests.promptbank.bank_helpers import SUBPROCESS_ENV, TINY_BUILD


def dpseg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *map(str, args)],
        text=True,
        capture_output=True,
        env={**os.environ, **SUBPROCESS_ENV},
        timeout=300,
    )


def test_info_json_ls_and_show(shapes_bank, tmp_path):
    info = dpseg("bank", "info", shapes_bank, "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["num_classes"] == 13 and data["num_templates"] == 2
    assert data["images_per_template"] == 2 and data["num_images"] == 52
    assert data["encoder"]["name"] == "tiny" and data["classes"][0] == "red circle"
    human = dpseg("bank", "info", shapes_bank)
    assert "13: red circle" in human.stdout and "procedural" in human.stdout

    ls = dpseg("bank", "ls", "--store", shapes_bank.parent)
    assert ls.returncode == 0 and str(shapes_bank) in ls.stdout and "13 classes" in ls.stdout

    grid = tmp_path / "grid.png"
    show = dpseg("bank", "show", shapes_bank, "--class", "red circle", "--out", grid)
    assert show.returncode == 0, show.stderr
    assert Image.open(grid).size == (2 * 96, 2 * (96 + 14) + 14)
    bad = dpseg("bank", "show", shapes_bank, "--class", "red circel", "--out", grid)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "close matches: 'red circle'" in bad.stderr


def test_verify_exit_codes(bank_copy):
    ok = dpseg("bank", "verify", bank_copy)
    assert ok.returncode == 0 and "OK (5 shards" in ok.stdout
    h5 = bank_copy / "features/00003.h5"
    data = bytearray(h5.read_bytes())
    data[-100] ^= 0xFF
    h5.write_bytes(bytes(data))
    bad = dpseg("bank", "verify", bank_copy)
    assert bad.returncode == 1
    assert "features/00003.h5: sha256 differs" in bad.stderr
    assert "failed verification (1 problem(s)" in bad.stderr and "Traceback" not in bad.stderr


def test_dry_run_generates_nothing_and_bad_input_is_one_line(tmp_path):
    out = tmp_path / "dry"
    plan = dpseg(
        "bank",
        "build",
        "ade150",
        "--out",
        out,
        *TINY_BUILD,
        "--templates",
        "8",
        "--dry-run",
    )
    assert plan.returncode == 0, plan.stderr
    assert "150 classes x 8 templates x 1 = 1200 images in 5 shards" in plan.stdout
    assert "disk  about" in plan.stdout and f"out   {out}: new" in plan.stdout
    assert not out.exists()

    vocab = tmp_path / "dup.txt"
    vocab.write_text("cat\nCat\n")
    bad = dpseg("bank", "build", vocab, "--out", tmp_path / "x")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "duplicates entry 1" in bad.stderr and not (tmp_path / "x").exists()
    bad = dpseg("bank", "build", "shapes", "--out", tmp_path / "x", "--templates", "0")
    assert bad.returncode == 2 and "expected a count from 1 to 80" in bad.stderr


def test_every_command_has_an_example_in_its_help():
    import cli.bank

    commands = {c.name: c.callback.__doc__ for c in cli.bank.app.registered_commands}
    assert set(commands) == {"build", "info", "verify", "ls", "show", "encode"}
    for name, doc in commands.items():
        assert f"Example: dpseg bank {name}" in doc, name
    help_text = dpseg("bank", "build", "--help")  # and the real command shows it
    assert help_text.returncode == 0 and "Example: dpseg bank build" in help_text.stdout
