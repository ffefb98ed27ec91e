"""The CLIP BPE tokenizer built offline from the vocabulary file open_clip ships.

OpenAI's CLIP vocabulary is a pure function of `bpe_simple_vocab_16e6.txt.gz`: the 256 byte
symbols, the same with the end-of-word mark, one token per merge (the first 48,894 merges), and
the two special tokens, 49,408 entries in all. Building it here means Stable Diffusion pipelines
never need the hub for their tokenizer.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

NUM_MERGES = 49152 - 256 - 2  # merges used by CLIP's 49,408-token vocabulary
CONTEXT_LENGTH = 77


def bpe_file() -> Path:
    """open_clip's BPE vocabulary file, found without importing open_clip (or torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("open_clip_torch is not installed; pip install open_clip_torch")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


def byte_symbols() -> list[str]:
    """The character BPE uses for each byte, in vocabulary order.

    Printable Latin-1 bytes stand for themselves and come first, in byte order; the other bytes
    follow, in byte order, shifted to code points 256 and up so no byte maps to whitespace or a
    control character.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = [b for b in range(256) if b not in set(printable)]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


@functools.cache
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(token -> id, merges) of the CLIP tokenizer; 49,408 tokens, bos 49406, eos 49407."""
    lines = gzip.open(bpe_file()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def build_clip_tokenizer(pad_token: str = "<|endoftext|>"):
    """A transformers CLIPTokenizer equal to OpenAI's, built with no network access."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        model_max_length=CONTEXT_LENGTH,
        pad_token=pad_token,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
