"""The original ELECTRA optimiser: AdamWeightDecay, global-norm clipping, warm-up then linear decay.

As in the original `model/optimization.py`: no Adam bias correction, epsilon 1e-6, weight decay
added to the update (decoupled) except for LayerNorm and bias weights, gradients clipped to a
global norm of 1.0, and

    lr(step) = learning_rate × (1 − step / num_train_steps) ^ power × min(1, step / num_warmup_steps).

The slots are variables named `<weight>/adam_m` and `<weight>/adam_v`, and the step is
`global_step`, so they are saved under the original names.
"""

import re

import tensorflow as tf

EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")
ONLY_FIRST_REPLICA = tf.VariableAggregation.ONLY_FIRST_REPLICA


def learning_rate_at(step, config):
    """The learning rate for `step` (a tensor or a number)."""
    step = tf.cast(step, tf.float32)
    total = float(max(1, config.num_train_steps))
    decayed = config.learning_rate * tf.pow(1.0 - tf.minimum(step, total) / total, config.lr_decay_power)
    if config.num_warmup_steps:
        decayed *= tf.minimum(1.0, step / float(config.num_warmup_steps))
    return decayed


def uses_weight_decay(name):
    return not any(re.search(pattern, name) for pattern in EXCLUDE_FROM_WEIGHT_DECAY)


class AdamWeightDecay(tf.Module):
    def __init__(self, weights: dict, config, beta_1=0.9, beta_2=0.999, epsilon=1e-6, clip_norm=1.0):
        super().__init__(name="adam_weight_decay")
        self.config = config
        self.beta_1, self.beta_2, self.epsilon, self.clip_norm = beta_1, beta_2, epsilon, clip_norm
        self.global_step = tf.Variable(
            0, dtype=tf.int64, name="global_step", trainable=False, aggregation=ONLY_FIRST_REPLICA
        )
        self.m = {name: self._slot(name, w, "adam_m") for name, w in weights.items()}
        self.v = {name: self._slot(name, w, "adam_v") for name, w in weights.items()}

    @staticmethod
    def _slot(name, weight, kind):
        return tf.Variable(
            tf.zeros(weight.shape, weight.dtype), name=f"{name}/{kind}", trainable=False, aggregation=ONLY_FIRST_REPLICA
        )

    @property
    def variables_by_name(self) -> dict:
        """global_step and the slots, under the original checkpoint names."""
        named = {"global_step": self.global_step}
        for name in self.m:
            named[f"{name}/adam_m"] = self.m[name]
            named[f"{name}/adam_v"] = self.v[name]
        return named

    def apply_gradients(self, gradients: dict, weights: dict):
        """One update of every weight from its gradient (both dicts keyed by name); returns (lr, grad norm)."""
        names = list(weights)
        clipped, norm = tf.clip_by_global_norm([gradients[name] for name in names], self.clip_norm)
        lr = learning_rate_at(self.global_step, self.config)
        for name, grad in zip(names, clipped):
            grad = tf.convert_to_tensor(grad)
            weight, m, v = weights[name], self.m[name], self.v[name]
            next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
            next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
            update = next_m / (tf.sqrt(next_v) + self.epsilon)
            if self.config.weight_decay_rate and uses_weight_decay(name):
                update += self.config.weight_decay_rate * weight
            weight.assign_sub(lr * update)
            m.assign(next_m)
            v.assign(next_v)
        self.global_step.assign_add(1)
        return lr, norm
