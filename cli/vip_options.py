"""One `--vip-<setting>` flag per VIP hyper-parameter, shared by `dpseg segment` and `dpseg eval`.

The flags are generated from `segmodel.vip.settings.VipSettings` (each field's comment becomes its
help), so a new setting is a new flag with no CLI change. Every flag defaults to None, meaning
"keep the preset's value". The decorator also adds `--backbone`, `--backbone-weights` and
`--vip-preset`; the decorated command receives all of it as one `vip` dict with the keys
`backbone`, `weights`, `preset` and `overrides` (the settings flags that were given).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from pathlib import Path

import typer


def _field_comments(cls) -> dict[str, str]:
    """`name: type = default  # comment` -> {name: comment}, read from the class source."""
    pattern = re.compile(r"^\s+(\w+):[^#]*#\s*(.+)$")
    found = (pattern.match(line) for line in inspect.getsource(cls).splitlines())
    return {m.group(1): m.group(2).strip() for m in found if m}


def _flag_type(hint) -> type:
    """The CLI type for a settings field: its scalar type; tuples are typed as comma lists."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return str if typing.get_origin(hint) is tuple else hint


def vip_flag_parameters() -> list[inspect.Parameter]:
    from segmodel.vip.settings import VipSettings

    hints = typing.get_type_hints(VipSettings)
    comments = _field_comments(VipSettings)
    params = []
    for field in dataclasses.fields(VipSettings):
        kind = _flag_type(hints[field.name])
        flag = "--vip-" + field.name.replace("_", "-")
        decls = [f"{flag}/--no-vip-{field.name.replace('_', '-')}"] if kind is bool else [flag]
        option = typer.Option(
            None,
            *decls,
            help=comments.get(field.name, field.name),
            rich_help_panel="VIP settings (method vip; default: the preset's)",
        )
        params.append(
            inspect.Parameter(
                f"vip_{field.name}",
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=kind | None,
            )
        )
    return params


def parse_override(name: str, value):
    """CLI value -> settings value (comma lists become tuples of ints)."""
    if isinstance(value, str) and name == "pamr_dilations":
        return tuple(int(v) for v in value.split(",") if v.strip())
    return value


def _source_parameters() -> list[inspect.Parameter]:
    """The VIP options that are not settings: which backbone, its weights, the preset."""
    panel = "VIP settings (method vip; default: the preset's)"
    options = [
        ("backbone", str, typer.Option("tiny", "--backbone", rich_help_panel=panel,
                                       help="VIP: open_clip backbone name (or tiny, tiny-vit).")),
        ("backbone_weights", Path | None, typer.Option(
            None, "--backbone-weights", rich_help_panel=panel,
            help="VIP: open_clip checkpoint file for --backbone.")),
        ("vip_preset", str | None, typer.Option(
            None, "--vip-preset", rich_help_panel=panel,
            help="VIP: start from this dataset preset's settings (e.g. voc20).")),
    ]  # fmt: skip
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                              annotation=kind) for name, kind, option in options]  # fmt: skip


def add_vip_flags(command):
    """Decorate a Typer command taking `vip: dict` with the VIP options (see the module doc)."""
    signature = inspect.signature(command)
    settings = vip_flag_parameters()
    setting_names = {p.name for p in settings}
    extra = _source_parameters() + settings

    @functools.wraps(command)
    def wrapper(**kwargs):
        overrides = {
            name[len("vip_"):]: parse_override(name[len("vip_"):], kwargs.pop(name))
            for name in list(kwargs) if name in setting_names
        }  # fmt: skip
        vip = {
            "backbone": kwargs.pop("backbone"),
            "weights": kwargs.pop("backbone_weights"),
            "preset": kwargs.pop("vip_preset"),
            "overrides": {k: v for k, v in overrides.items() if v is not None},
        }
        return command(**kwargs, vip=vip)

    kept = [p for p in signature.parameters.values() if p.name != "vip"]
    wrapper.__signature__ = signature.replace(parameters=kept + extra)
    wrapper.__annotations__ = {
        **{k: v for k, v in command.__annotations__.items() if k != "vip"},
        **{p.name: p.annotation for p in extra},
    }
    return wrapper
