"""segmodel: the DPSeg model, training, inference I and II, VIP mode and evaluation.

Reads prompt banks only through `promptbank.reader`; never imports the image generator.
"""
