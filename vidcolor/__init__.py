"""vidcolor: distributed colourisation of black-and-white film (ViT-Inception-GAN on Ray)."""

__version__ = "0.1.0"
