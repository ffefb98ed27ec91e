"""The one-way dependency rule (docs/architecture.md), checked on real imports."""

import subprocess
import sys


def loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_reader_needs_no_torch_or_open_clip():
    mods = loaded_after("import promptbank.reader")
    assert not {"torch", "open_clip", "diffusers", "webdataset"} & mods


def test_segmodel_never_loads_the_generator():
    walk = (
        "import importlib, pkgutil, segmodel\n"
        "for m in pkgutil.walk_packages(segmodel.__path__, 'segmodel.'):\n"
        "    importlib.import_module(m.name)"
    )
    mods = loaded_after(walk)
    assert "diffusers" not in mods
    assert "promptbank.generator" not in mods
    assert "webdataset" not in mods


def test_cli_help_path_is_light():
    mods = loaded_after("import cli.main")
    assert "torch" not in mods


def test_no_package_imports_upward():
    """promptbank never imports segmodel or cli; segmodel never imports cli."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    rules = {"promptbank": ("segmodel", "cli"), "segmodel": ("cli",)}
    offenders = []
    for package, forbidden in rules.items():
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            for name in forbidden:
                if re.search(rf"^\s*(from|import)\s+{name}(\.|\s|$)", text, re.M):
                    offenders.append(f"{path.relative_to(root)} imports {name}")
    assert not offenders, offenders
