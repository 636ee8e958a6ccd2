"""The one stable split rule: train / validation / test from a hash of a key.

Every place that assigns a split by hash uses this function: the labelled sets
(`plm.datasets`), reviewers' decisions exported as training data
(`moderation.training_data`) and the hand-labelled set's builder
(`data/labelled/unused/build.py`, for products it has not seen before). So one
product lands in the same split wherever it is met, on every machine. No Django
and no third-party import, so a standalone script can use it.
"""

import hashlib

SPLITS = ("train", "validation", "test")


def stable_split(key, fractions=(0.8, 0.1, 0.1), seed=0):
    """train / validation / test for a key (a product id, or a text when there is no product).

    The first 8 hex digits of SHA-256 of the key (of "seed:key" when a seed is given) as a
    fraction of 0xFFFFFFFF, cut at the cumulative fractions.
    """
    key = f"{seed}:{key}" if seed else str(key)
    value = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    if value < fractions[0]:
        return "train"
    return "validation" if value < fractions[0] + fractions[1] else "test"
