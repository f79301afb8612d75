"""Training: the paper's GAN step (pure torch) and its Ray Train + accelerate wrapper."""
