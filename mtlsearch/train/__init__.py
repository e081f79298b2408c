"""Training: the PyTorch core, the Ray Train loop, and the TorchTrainer builder."""
