"""Training: the loop, losses, batching, metrics, checkpoints and plots."""
