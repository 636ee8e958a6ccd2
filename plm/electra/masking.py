"""ELECTRA's dynamic masking and replaced-token data, as small pure functions.

These follow the original `pretrain/pretrain_helpers.py`: for each sequence,
num_to_predict = max(1, min(N, round(mask_prob × Σ input_mask))) positions are drawn uniformly
(with replacement) among the real tokens that are not [CLS], [SEP] or [MASK], where
N = max_predictions_per_seq = int((mask_prob + 0.005) × L). Of those, 85 % become [MASK] and
15 % keep their token. The generator then proposes a token for every chosen position
(Gumbel-max, no gradient), and the discriminator learns which tokens were replaced.

All randomness is stateless, driven by a [2] int seed, so a step is reproducible after a resume.
Slots beyond num_to_predict carry position 0 ([CLS]) and weight 0; updates at position 0 are ignored.
"""

from typing import NamedTuple

import tensorflow as tf


class MaskedInputs(NamedTuple):
    input_ids: tf.Tensor  # [B, L] with [MASK] at 85 % of the chosen positions
    masked_lm_positions: tf.Tensor  # [B, N]
    masked_lm_ids: tf.Tensor  # [B, N] original tokens at those positions
    masked_lm_weights: tf.Tensor  # [B, N] 1.0 for the first num_to_predict slots


def candidates_mask(input_ids, input_mask, special_ids):
    """True where a token may be chosen: a real token that is none of `special_ids`."""
    candidates = tf.cast(input_mask, tf.bool)
    for token_id in special_ids:
        candidates &= tf.not_equal(input_ids, token_id)
    return candidates


def scatter_update(sequence, updates, positions):
    """Write `updates` [B, N] into `sequence` [B, L] at `positions` [B, N]; position 0 is never written.

    Returns the updated sequence and a [B, L] int mask of the positions written.
    Where a position was drawn twice, one of its updates is kept.
    """
    batch, length = tf.shape(sequence)[0], tf.shape(sequence)[1]
    rows = tf.broadcast_to(tf.range(batch)[:, tf.newaxis], tf.shape(positions))
    indices = tf.stack([rows, positions], axis=-1)
    updated = tf.tensor_scatter_nd_update(sequence, indices, tf.cast(updates, sequence.dtype))
    written = tf.tensor_scatter_nd_update(tf.zeros([batch, length], tf.int32), indices, tf.ones_like(positions))
    not_first = tf.concat([tf.zeros([batch, 1], tf.int32), tf.ones([batch, length - 1], tf.int32)], axis=1)
    written *= not_first
    updated = tf.where(tf.cast(written, tf.bool), updated, sequence)
    return updated, written


def gather_positions(sequence, positions):
    """sequence [B, L, ...] at positions [B, N] -> [B, N, ...]."""
    return tf.gather(sequence, positions, batch_dims=1)


def mask(input_ids, input_mask, *, max_predictions, mask_prob, mask_id, special_ids, seed) -> MaskedInputs:
    """Choose positions to predict and put [MASK] at 85 % of them (the original `pretrain_helpers.mask`)."""
    seed = tf.cast(seed, tf.int64)
    batch = tf.shape(input_ids)[0]
    candidates = candidates_mask(input_ids, input_mask, special_ids)
    num_tokens = tf.cast(tf.reduce_sum(input_mask, axis=-1), tf.float32)
    num_to_predict = tf.maximum(1, tf.minimum(max_predictions, tf.cast(tf.round(num_tokens * mask_prob), tf.int32)))
    weights = tf.sequence_mask(num_to_predict, max_predictions, dtype=tf.float32)

    # N independent uniform draws among the candidates (as tf.random.categorical), by Gumbel-max
    sample_logits = tf.math.log(tf.cast(candidates, tf.float32))[:, tf.newaxis, :]  # [B, 1, L]
    length = tf.shape(input_ids)[1]
    noise = tf.random.stateless_uniform([batch, max_predictions, length], seed=seed, minval=1e-9, maxval=1.0)
    positions = tf.argmax(sample_logits - tf.math.log(-tf.math.log(noise)), axis=-1, output_type=tf.int32)
    positions *= tf.cast(weights, tf.int32)
    masked_lm_ids = gather_positions(input_ids, positions) * tf.cast(weights, input_ids.dtype)

    to_mask = tf.random.stateless_uniform([batch, max_predictions], seed=seed + [0, 1]) < 0.85
    mask_positions = positions * tf.cast(to_mask, tf.int32)
    masked_ids, _ = scatter_update(input_ids, tf.fill(tf.shape(positions), mask_id), mask_positions)
    return MaskedInputs(masked_ids, positions, masked_lm_ids, weights)


def mask_as_configured(config, input_ids, input_mask, seed) -> MaskedInputs:
    """`mask` with a pretraining config's cap, rate and special token ids: how training and the
    held-out evaluation both mask."""
    return mask(
        input_ids,
        input_mask,
        max_predictions=config.max_predictions_per_seq,
        mask_prob=config.mask_prob,
        mask_id=config.mask_token_id,
        special_ids=(config.cls_token_id, config.sep_token_id, config.mask_token_id),
        seed=seed,
    )


def sample_tokens(logits, seed, temperature=1.0):
    """Gumbel-max sample from softmax(logits / temperature) [..., V] -> ids [...], without gradient."""
    logits = tf.stop_gradient(tf.cast(logits, tf.float32)) / temperature
    uniform = tf.random.stateless_uniform(tf.shape(logits), seed=tf.cast(seed, tf.int64), minval=1e-9, maxval=1.0)
    return tf.argmax(logits - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)


def replace_tokens(input_ids, positions, sampled_ids):
    """Put the generator's samples into the original sequence; label 1 where the token changed.

    Returns (fake input ids [B, L], discriminator labels [B, L] int32).
    """
    fake_ids, written = scatter_update(input_ids, sampled_ids, positions)
    labels = written * tf.cast(tf.not_equal(fake_ids, input_ids), tf.int32)
    return fake_ids, labels
