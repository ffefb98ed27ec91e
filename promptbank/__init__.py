"""promptbank: build, store and read banks of visual prompts (generated images and their CLIP features).

Importing this package is cheap: heavy dependencies (torch, diffusers, open_clip, webdataset) are
imported only by the modules that need them.
"""

__version__ = "0.1.0"
