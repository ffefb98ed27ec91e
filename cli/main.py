"""`dpseg`: one command over both halves. Sub-commands live in their own modules; none of them
imports torch at module level, so `dpseg --help` stays fast (a test checks it)."""

from __future__ import annotations

import os
import sys

import typer

from promptbank.errors import DpsegError

try:  # typer >= 0.20 vendors click as typer._click; older ones use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors

app = typer.Typer(
    name="dpseg",
    help="Open-vocabulary semantic segmentation with text and visual prompts.\n\n"
    "Build prompt banks, train DPSeg, evaluate, and segment your own images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    """Attach every sub-command that exists (later issues add more)."""
    import importlib

    groups = {
        "bank": "cli.bank",
        "models": "cli.models",
        "aliases": "cli.aliases",
        "world": "cli.world",
        "data": "cli.data",
    }
    commands = {
        "train": ("cli.train", "train"),
        "eval": ("cli.evaluate", "evaluate"),
        "segment": ("cli.segment", "segment"),
        "demo": ("cli.demo", "demo"),
        "ablate": ("cli.ablate", "ablate"),
        "app": ("cli.app", "app"),
    }
    for name, module in groups.items():
        if importlib.util.find_spec(module) is not None:
            app.add_typer(importlib.import_module(module).app, name=name)
    for name, (module, function) in commands.items():
        if importlib.util.find_spec(module) is not None:
            app.command(name)(getattr(importlib.import_module(module), function))


_register()


def fail(message: str, code: int = 1) -> None:
    """Print one line on stderr and exit."""
    print(f"dpseg: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: a domain error becomes one line and exits with its `exit_code` (2 for
    refused input, e.g. a vocabulary, a config or a benchmark download that cannot be prepared;
    1 otherwise); usage errors exit 2."""
    debug = os.environ.get("DPSEG_DEBUG") == "1"
    try:
        code = app(args=argv, standalone_mode=False, prog_name="dpseg")
    except click_errors.UsageError as error:
        error.show()
        raise SystemExit(2) from None
    except click_errors.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except typer.Abort:
        fail("aborted", 130)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except (DpsegError, OSError) as error:
        if debug:
            raise
        fail(
            f"{error} (set DPSEG_DEBUG=1 for the traceback)"
            if isinstance(error, OSError)
            else str(error),
            getattr(error, "exit_code", 1),
        )
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
