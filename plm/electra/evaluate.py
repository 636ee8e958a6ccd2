"""Held-out measures of a pretraining checkpoint that do not depend on a 0.5 threshold.

Early in pretraining the discriminator predicts "original" for every token, so its accuracy sits
at the base rate (about 86 %) and its precision and recall at 0 while it is in fact learning: the
ranking of replaced tokens above original ones improves long before any logit crosses 0. The
area under the ROC curve of that ranking shows it. Two are reported:

- `discriminator_auc`: tokens replaced by the generator's own samples, as in training;
- `random_replacement_auc`: tokens replaced by uniformly drawn vocabulary ids, a fixed task
  that does not move as the generator improves, so checkpoints compare on equal terms.

plus the generator's masked-LM accuracy and loss on the same positions, and the
`representation_spread` of the discriminator's last layer (how much its tokens still differ,
relative to the embeddings): a run whose discriminator settled on the trivial answer by mapping
every token to one vector shows a spread near 0, and fine-tuning from it does not learn.
"""

import numpy as np
import tensorflow as tf

from plm.electra import masking


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (scikit-learn's); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(scores, np.float64)))


def evaluate_checkpoint(model, batches, seed=(7, 11)) -> dict:
    """Replaced-token AUCs and generator accuracy of `model` (an `Electra`) over `batches`.

    `batches` is an iterable of dicts of [B, L] input_ids, input_mask, segment_ids (held-out data);
    dropout is off and the masking is seeded, so the same batches give the same figures.
    """
    config = model.config
    labels, scores, random_labels, random_scores, spreads = [], [], [], [], []
    correct = predicted = loss_sum = 0.0
    for index, batch in enumerate(batches):
        step_seed = tf.constant([seed[0], seed[1] * 1000 + index], tf.int64)
        input_ids, input_mask, segment_ids = batch["input_ids"], batch["input_mask"], batch["segment_ids"]
        masked = masking.mask_as_configured(config, input_ids, input_mask, step_seed)
        hidden = model.encode("generator", masked.input_ids, input_mask, segment_ids)
        logits = model.generator_head(masking.gather_positions(hidden, masked.masked_lm_positions))
        weights = masked.masked_lm_weights.numpy()
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=masked.masked_lm_ids, logits=logits).numpy()
        hits = (tf.argmax(logits, -1, output_type=tf.int32) == masked.masked_lm_ids).numpy()
        correct += float((hits * weights).sum())
        loss_sum += float((losses * weights).sum())
        predicted += float(weights.sum())
        real = input_mask.numpy().astype(bool)

        sampled = masking.sample_tokens(logits, step_seed + tf.constant([0, 3], tf.int64), config.temperature)
        fake_ids, fake_labels = masking.replace_tokens(input_ids, masked.masked_lm_positions, sampled)
        last = model.encode("electra", fake_ids, input_mask, segment_ids)
        disc = model.discriminator_head(last).numpy()
        embedded = model.embed(fake_ids, segment_ids).numpy()[real]
        spreads.append(float(last.numpy()[real].std(0).mean() / max(embedded.std(0).mean(), 1e-12)))
        labels.append(fake_labels.numpy()[real])
        scores.append(disc[real])

        uniform = tf.random.stateless_uniform(
            tf.shape(sampled),
            seed=step_seed + tf.constant([0, 5], tf.int64),
            minval=0,
            maxval=config.vocab_size,
            dtype=tf.int32,
        )
        random_ids, random_replaced = masking.replace_tokens(input_ids, masked.masked_lm_positions, uniform)
        disc = model.discriminator_logits(random_ids, input_mask, segment_ids).numpy()
        random_labels.append(random_replaced.numpy()[real])
        random_scores.append(disc[real])

    labels, scores = np.concatenate(labels), np.concatenate(scores)
    return {
        "tokens": int(len(labels)),
        "replaced_share": float(labels.mean()),
        "discriminator_auc": roc_auc(labels, scores),
        "discriminator_accuracy": float(((scores > 0) == labels.astype(bool)).mean()),
        "random_replacement_auc": roc_auc(np.concatenate(random_labels), np.concatenate(random_scores)),
        "generator_accuracy": correct / max(predicted, 1.0),
        "generator_loss": loss_sum / max(predicted, 1.0),
        # std across tokens of the last hidden layer / that of the embeddings: near 0 = collapsed
        "representation_spread": float(np.mean(spreads)),
    }
