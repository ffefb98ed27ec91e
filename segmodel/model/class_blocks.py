"""A decoder stage's per-class tensor at inference, held as blocks of consecutive classes.

Between decoder stages the decode holds one (B, C, ch, h, w) tensor for every class; at benchmark
vocabularies that tensor is the decode's memory (847 classes x 32 x 96 x 96 floats = 1.0 GB at
768 px). `ClassBlocks` holds it as the chunks the next stage will read, so that:

- each block is freed as soon as the stage has read it for the last time (pass two of the class
  attention), so a stage's input shrinks while its output grows;
- blocks may be stored in half precision (`torch.float16`): computation stays in the dtype of the
  values written (float32 on CPU), a block is cast up when read. Logits then match the float32
  path by argmax, not to 1e-5 (`stage_storage` in the model config decides).

Blocks are stored (B, c, h, w, ch) and viewed (B, c, ch, h, w), the layout `per_class` reads
without a copy. Training never uses this: autograd needs every class's tensor anyway.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from segmodel.model.blocks import class_storage


class ClassBlocks:
    """(B, C, ch, h, w) as blocks over `spans` (consecutive class ranges covering 0..C)."""

    def __init__(self, spans: list[slice], dtype: torch.dtype):
        self.spans = spans
        self.dtype = dtype  # storage dtype
        self.blocks: list[torch.Tensor | None] = [None] * len(spans)
        self.compute_dtype: torch.dtype | None = None  # dtype of the values written

    @classmethod
    def of(cls, x: torch.Tensor, spans: list[slice], dtype: torch.dtype) -> ClassBlocks:
        """Blocks over an existing (B, C, ch, h, w) tensor: views of it when dtype matches."""
        blocks = cls(spans, dtype)
        blocks.compute_dtype = x.dtype
        blocks.blocks = [x[:, s] if x.dtype == dtype else x[:, s].to(dtype) for s in spans]
        return blocks

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def num_classes(self) -> int:
        return self.spans[-1].stop

    def _allocate(self, i: int, like: torch.Tensor) -> torch.Tensor:
        b, _, ch, h, w = like.shape
        c = self.spans[i].stop - self.spans[i].start
        block = class_storage(b, c, ch, h, w, like=like, dtype=self.dtype)
        self.blocks[i] = block
        return block

    def write(self, span: slice, part: torch.Tensor) -> None:
        """Store `part` (B, c, ch, h, w), the classes `span`, into whichever blocks cover them."""
        self.compute_dtype = part.dtype
        for i, s in enumerate(self.spans):
            start, stop = max(s.start, span.start), min(s.stop, span.stop)
            if start >= stop:
                continue
            block = self.blocks[i]
            if block is None:
                block = self._allocate(i, part)
            block[:, start - s.start : stop - s.start].copy_(
                part[:, start - span.start : stop - span.start]
            )

    def read(self, i: int) -> torch.Tensor:
        """Block i (B, c, ch, h, w) in the compute dtype (the block itself when no cast is needed)."""
        block = self.blocks[i]
        if block is None:
            raise RuntimeError(f"class block {i} was freed or never written")
        return block if block.dtype == self.compute_dtype else block.to(self.compute_dtype)

    def take(self, i: int) -> torch.Tensor:
        """Read block i for the last time: the blocks no longer hold it."""
        value = self.read(i)
        self.blocks[i] = None
        return value

    def replace(self, i: int, value: torch.Tensor) -> None:
        """Overwrite block i in place with a same-shaped value (B, c, ch, h, w)."""
        block = self.blocks[i]
        if block is None:
            raise RuntimeError(f"class block {i} was freed or never written")
        block.copy_(value)
        self.compute_dtype = value.dtype

    def map_cat(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """torch.cat over the class axis of fn(block) for every block (e.g. a per-class head)."""
        return torch.cat([fn(self.read(i)) for i in range(len(self))], dim=1)

    def gather(self, keep: torch.Tensor, spans: list[slice], dtype: torch.dtype) -> ClassBlocks:
        """The classes at sorted positions `keep` (C'',), as new blocks over `spans` (0..C'')."""
        out = ClassBlocks(spans, dtype)
        pos = 0
        for i, s in enumerate(self.spans):
            local = keep[(keep >= s.start) & (keep < s.stop)] - s.start
            if len(local):
                out.write(slice(pos, pos + len(local)), self.read(i)[:, local])
                pos += len(local)
        return out
