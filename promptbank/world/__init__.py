"""The shapes world: the whole procedural miniature of open-vocabulary segmentation, in one folder.

- `shapes`: the 13 classes (9 seen, 4 unseen), their renderers and the segmentation scenes.
- `procedural`: the CPU "diffusion" generator that draws a class under a prompt template's style.
- `captions`: the captioned corpus (12 colours x 8 shapes, textures, synonyms, multi-object
  scenes) a CLIP is pretrained on, as real CLIPs are on LAION; some colour x shape pairs are held out.
- `pretrain`: contrastive pretraining of the tiny open_clip model on that corpus
  (`dpseg world pretrain-clip`); the shipped result is `data/tiny-world.safetensors`.
- `zeroshot`: zero-shot checks of a world CLIP (`dpseg world zero-shot`, bench/world_zeroshot.py).

The segmentation dataset over these scenes is `segmodel.datasets.shapes`; docs/shapes-world.md
explains the world for users.
"""
