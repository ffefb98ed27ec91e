"""The DPSeg network: image encoder, cost volumes, decoder stages, heads."""
