"""Vocabularies (class names with aliases) and prompt templates.

A vocabulary is a built-in name (`voc20`, `voc21`, `pc59`, `pc459`, `ade150`, `ade847`,
`coco-stuff171`, `shapes`) or a text file: one class per line, aliases after commas (SCLIP style:
split on commas, trim), `#` starts a comment. The first name of a line is the class name: it keys
the class in a bank and is the name used to generate images. Text embeddings average every name
of the line (SED). A `.json` file holding a list of such lines works too.

Class names are data, never paths: `/`, `..`, quotes and non-ASCII characters are kept as they are.
Control characters, empty names and duplicates (case-insensitive) are errors in user files. The
built-in ADE-847 list repeats a few first names ("bag" three times, with other synonyms); built-ins
disambiguate repeats as `bag (traveling bag)` or `pier (2)` so every key is unique.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from promptbank.errors import VocabularyError

DATA = Path(__file__).parent / "data"
TEMPLATES_FILE = DATA / "templates" / "imagenet80.txt"
MAX_NAME_CHARS = 200  # longer names are almost certainly a malformed file
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

BUILTIN_VOCABULARIES: dict[str, str] = {
    "voc20": "sed/voc20.json",
    "voc21": "sclip/cls_voc21.txt",
    "pc59": "sed/pc59.json",
    "pc459": "sed/pc459.json",
    "ade150": "sed/ade150.json",
    "ade847": "sed/ade847.json",
    "coco-stuff171": "sed/coco.json",
    "shapes": "shapes.txt",
}


@dataclass(frozen=True)
class Vocabulary:
    """Class names in label order, each with the names its text embedding averages."""

    name: str  # built-in name, or the file's stem
    classes: list[str]  # unique class names (keys in a bank, used to generate images)
    aliases: list[list[str]]  # per class: the names averaged for text (first = the line's first)

    def __len__(self) -> int:
        return len(self.classes)


def load_vocabulary(spec: str | Path | Vocabulary) -> Vocabulary:
    """A built-in vocabulary name or a text/JSON file -> Vocabulary (see the module docstring)."""
    if isinstance(spec, Vocabulary):
        return spec
    path = Path(spec)
    if path.is_file():
        lines = _read_lines(path)
        return _build(path.stem, lines, source=str(path), disambiguate=False)
    key = str(spec).strip().lower()
    if key in BUILTIN_VOCABULARIES:
        builtin = DATA / "vocab" / BUILTIN_VOCABULARIES[key]
        if not builtin.is_file():
            raise VocabularyError(
                f"built-in vocabulary {key!r} is missing its data file {builtin}; reinstall dpseg"
            )
        lines = _read_lines(builtin)
        if key == "voc21":  # SCLIP's first line is the background, spelt as a list of stuff names
            lines[0] = "background, " + lines[0]
        return _build(key, lines, source=key, disambiguate=True)
    if path.suffix or "/" in str(spec):
        raise VocabularyError(f"vocabulary file {str(spec)!r} does not exist; check the path")
    raise VocabularyError(
        f"unknown vocabulary {str(spec)!r}; expected a built-in name "
        f"({', '.join(BUILTIN_VOCABULARIES)}) or a text file with one class per line"
    )


def vocabulary_from_names(names: list[str], name: str = "custom") -> Vocabulary:
    """A Vocabulary from in-memory lines (same syntax as a file's lines)."""
    return _build(name, list(names), source=name, disambiguate=False)


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise VocabularyError(f"vocabulary file {path} is not UTF-8 text ({e.reason})") from None
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise VocabularyError(f"vocabulary file {path} is not valid JSON: {e.msg}") from None
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise VocabularyError(f"vocabulary file {path} must hold a JSON list of strings")
        return items
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _parse_line(line: str, where: str) -> list[str]:
    names = [n.strip() for n in line.split(",")]
    names = [n for n in names if n]
    if not names:
        raise VocabularyError(f"{where}: a line with no class name; remove it or add a name")
    for n in names:
        if _CONTROL.search(n):
            raise VocabularyError(f"{where}: name {n!r} contains control characters; remove them")
        if len(n) > MAX_NAME_CHARS:
            raise VocabularyError(f"{where}: name {n[:40]!r}... is over {MAX_NAME_CHARS} chars")
    seen: dict[str, str] = {}
    for n in names:  # drop repeated aliases within a line, keep order
        seen.setdefault(n.casefold(), n)
    return list(seen.values())


def _build(name: str, lines: list[str], *, source: str, disambiguate: bool) -> Vocabulary:
    if not lines:
        raise VocabularyError(f"vocabulary {source!r} is empty; give at least one class per line")
    classes: list[str] = []
    aliases: list[list[str]] = []
    index: dict[str, int] = {}
    for i, line in enumerate(lines):
        names = _parse_line(line, f"vocabulary {source!r} entry {i + 1}")
        key = names[0]
        if key.casefold() in index:
            if not disambiguate:
                first = index[key.casefold()] + 1
                raise VocabularyError(
                    f"vocabulary {source!r}: class {key!r} on entry {i + 1} duplicates entry "
                    f"{first} (names are case-insensitive); merge them into one line of aliases"
                )
            key = _disambiguate(names, index)
        index[key.casefold()] = i
        classes.append(key)
        aliases.append(names)
    return Vocabulary(name=name, classes=classes, aliases=aliases)


def _disambiguate(names: list[str], taken: dict[str, int]) -> str:
    for alias in names[1:]:
        key = f"{names[0]} ({alias})"
        if key.casefold() not in taken:
            return key
    n = 2
    while f"{names[0]} ({n})".casefold() in taken:
        n += 1
    return f"{names[0]} ({n})"


def load_templates(spec: int | str | Path | list[str] | None = None) -> list[str]:
    """Prompt templates: None = the 80 ImageNet templates, N = their first N, a file = its lines.

    Every template must contain `{}` (where the class name goes); duplicates are errors.
    """
    if isinstance(spec, list):
        templates, source = [str(t) for t in spec], "list"
    elif spec is None or isinstance(spec, int) or str(spec).strip().isdigit():
        default = [t for t in TEMPLATES_FILE.read_text(encoding="utf-8").splitlines() if t.strip()]
        if spec is None:
            return default
        n = int(spec)
        if not 1 <= n <= len(default):
            raise VocabularyError(
                f"--templates {n}: expected a count from 1 to {len(default)} or a template file"
            )
        return default[:n]
    else:
        path = Path(spec)
        if not path.is_file():
            raise VocabularyError(
                f"template file {str(spec)!r} does not exist; give a count (e.g. 8) or a file path"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise VocabularyError(f"template file {path} is not UTF-8 text ({e.reason})") from None
        templates = [t.strip() for t in text.splitlines() if t.strip() and not t.startswith("#")]
        source = str(path)
    if not templates:
        raise VocabularyError(f"templates {source!r} are empty; give one template per line")
    seen = set()
    for i, t in enumerate(templates):
        if "{}" not in t:
            raise VocabularyError(
                f"template {i + 1} of {source!r} ({t!r}) has no '{{}}' for the class name; add it"
            )
        if _CONTROL.search(t):
            raise VocabularyError(f"template {i + 1} of {source!r} contains control characters")
        if t in seen:
            raise VocabularyError(f"template {i + 1} of {source!r} ({t!r}) is a duplicate")
        seen.add(t)
    return templates


def fill(template: str, name: str) -> str:
    """Put a class name into a template (plain replacement: braces in names are safe)."""
    return template.replace("{}", name)
