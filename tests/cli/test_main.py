"""The `dpseg` command itself: fast help, one error path, exit codes."""

import subprocess
import sys

from tests.conftest import dpseg_executable

# A throwaway command that fails with a DpsegError (a folder that is not a pipeline).
PROBE = (
    "import sys; from cli.main import app, main\n"
    "from promptbank.generator import load_generator\n"
    "@app.command('probe-error')\n"
    "def probe(path: str):\n    load_generator(path)\n"
    "main(sys.argv[1:])\n"
)


def test_help_imports_no_torch():
    code = (
        "import sys\n"
        "sys.argv = ['dpseg', '--help']\n"
        "from cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'open_clip', 'diffusers', 'h5py', 'gradio')\n"
        "               if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage" in out.stdout
    assert "HEAVY=\n" in out.stdout, out.stdout


def test_help_lists_subcommands(run_dpseg):
    result = run_dpseg("--help", check=True)
    assert "models" in result.stdout


def test_unknown_command_is_usage_error(run_dpseg):
    result = run_dpseg("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_domain_error_is_one_line_exit_1(run_dpseg, tmp_path):
    # A generator folder without model_index.json is a user error: one line, no traceback.
    code = PROBE
    (tmp_path / "not-a-pipeline").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", code, "probe-error", str(tmp_path / "not-a-pipeline")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "model_index.json" in lines[0] and "Traceback" not in result.stderr


def test_debug_env_shows_traceback(tmp_path):
    code = PROBE
    import os

    result = subprocess.run(
        [sys.executable, "-c", code, "probe-error", "no-such-generator"],
        capture_output=True,
        text=True,
        env={**os.environ, "DPSEG_DEBUG": "1"},
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_models_list_offline(run_dpseg):
    result = run_dpseg("models", "list", "--json", env={"HF_HUB_OFFLINE": "1"}, check=True)
    import json

    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("encoder", "tiny")]["weights"] == "built-in"
    assert rows[("encoder", "convnext_base_w_320")]["weights"] == "missing"
    assert rows[("generator", "sd15")]["weights"] == "missing"


def test_console_script_exists():
    assert dpseg_executable()
