"""ELECTRA pretraining: a compact TF2 ELECTRA (generator + discriminator) with the original checkpoint names, and
`torch_pretrain`, the same objective in PyTorch for one GPU without TensorFlow."""
