"""Training on PyTorch Lightning: the same code runs on one CPU, several GPUs or several machines."""
