"""Option help shared by several commands, written once."""

CHECKPOINT_HELP = (
    "Trained DPSeg model: the run folder `dpseg train` wrote (holding model.safetensors) "
    "or the .safetensors file itself."
)

REFINE_HELP = (
    "Inference II's prompts from the image's own regions: paper (masked crops through the frozen "
    "encoder replace every visual prompt of a detected class), region, features or "
    "features-pooled (see docs/ablations.md; default: the library's RefineSettings)."
)
