"""A compact TF2 ELECTRA (generator + discriminator) with the original checkpoint names."""
