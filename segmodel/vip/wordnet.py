"""A small reader of WordNet's noun database files (`index.noun`, `data.noun`, `noun.exc`), as
shipped by Debian's `wordnet-base` in /usr/share/wordnet. No nltk needed.

Formats (WordNet's wndb(5)): an index line is `lemma pos synset_cnt p_cnt [ptr_symbol...]
sense_cnt tagsense_cnt synset_offset...` (offsets in sense order, most frequent first); a data line
starts at its own byte offset: `offset lex_filenum ss_type w_cnt(hex) [word lex_id(hex)]... p_cnt
[ptr_symbol offset pos source/target]... | gloss`. Lines of the licence header start with spaces.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from segmodel.errors import SegmodelError

DEFAULT_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet")
ENV_VAR = "DPSEG_WORDNET_DIR"
HYPONYM = "~"  # pointer symbols of wndb(5)
HYPERNYM = "@"
_SUFFIXES = (
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("s", ""),
)  # noun detachment rules of morphy(7)


class WordNetMissingError(SegmodelError):
    """The WordNet database files are not on disk."""


@dataclass(frozen=True)
class Synset:
    offset: int  # byte offset in data.noun (WordNet's synset id)
    lemmas: tuple[str, ...]  # words of the synset, spaces instead of underscores
    pointers: tuple[tuple[str, int], ...]  # (pointer symbol, target offset) to other nouns
    gloss: str  # definition and examples


def find_wordnet(folder: str | Path | None = None) -> Path:
    """The folder holding index.noun and data.noun: `folder`, $DPSEG_WORDNET_DIR, or Debian's."""
    candidates = [folder] if folder else [os.environ.get(ENV_VAR), *DEFAULT_DIRS]
    for c in candidates:
        if c and (Path(c) / "index.noun").is_file() and (Path(c) / "data.noun").is_file():
            return Path(c)
    where = folder or f"${ENV_VAR} or {', '.join(DEFAULT_DIRS)}"
    raise WordNetMissingError(
        f"WordNet files (index.noun, data.noun) not found in {where}; install Debian's "
        "wordnet-base (apt-get install wordnet-base), set DPSEG_WORDNET_DIR, or give aliases "
        "with --extra FILE --no-wordnet"
    )


class WordNet:
    """Noun lookups: `synsets(word)`, `synset(offset)`, `hyponyms(synset)`."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = find_wordnet(folder)
        self._index: dict[str, tuple[int, ...]] = {}
        with open(self.folder / "index.noun", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(" "):
                    continue
                parts = line.split()
                p_cnt = int(parts[3])
                sense_cnt = int(parts[4 + p_cnt])
                offsets = parts[6 + p_cnt : 6 + p_cnt + sense_cnt]
                self._index[parts[0]] = tuple(int(o) for o in offsets)
        self._exceptions: dict[str, str] = {}
        exc = self.folder / "noun.exc"
        if exc.is_file():
            for line in exc.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    self._exceptions[parts[0]] = parts[1]
        self._data = open(self.folder / "data.noun", "rb")  # noqa: SIM115 (kept for seeks)

    def close(self) -> None:
        self._data.close()

    def base_form(self, word: str) -> str | None:
        """The index key for `word` (lower case, underscores), trying morphy's noun rules."""
        key = word.strip().lower().replace(" ", "_")
        if key in self._index:
            return key
        if key in self._exceptions and self._exceptions[key] in self._index:
            return self._exceptions[key]
        for suffix, repl in _SUFFIXES:
            if key.endswith(suffix) and key[: -len(suffix)] + repl in self._index:
                return key[: -len(suffix)] + repl
        return None

    def synsets(self, word: str) -> list[Synset]:
        """Noun senses of `word`, most frequent first (empty if WordNet does not know it)."""
        key = self.base_form(word)
        return [self.synset(o) for o in self._index[key]] if key else []

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one reader per process)
    def synset(self, offset: int) -> Synset:
        self._data.seek(offset)
        line = self._data.readline().decode("utf-8", errors="replace")
        head, _, gloss = line.partition(" | ")
        parts = head.split()
        count = int(parts[3], 16)
        words = parts[4 : 4 + 2 * count : 2]
        pos = 4 + 2 * count
        p_cnt = int(parts[pos])
        pointers = []
        for i in range(p_cnt):
            symbol, target, target_pos = parts[pos + 1 + 4 * i : pos + 4 + 4 * i]
            if target_pos == "n":
                pointers.append((symbol, int(target)))
        lemmas = tuple(_clean(w) for w in words)
        return Synset(offset, lemmas, tuple(pointers), gloss.strip())

    def hyponyms(self, synset: Synset) -> list[Synset]:
        return [self.synset(o) for s, o in synset.pointers if s == HYPONYM]


def _clean(word: str) -> str:
    """`domestic_dog` -> `domestic dog`; drops adjective markers like `(a)`."""
    word = word.split("(")[0] if word.endswith(")") else word
    return word.replace("_", " ")
