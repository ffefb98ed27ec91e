"""Option help shared by several commands, written once."""

CHECKPOINT_HELP = (
    "Trained DPSeg model: the run folder `dpseg train` wrote (holding model.safetensors) "
    "or the .safetensors file itself."
)
