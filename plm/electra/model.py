"""A compact TF2 ELECTRA whose weights carry the original release's checkpoint names.

Every weight lives in one ordered dict, `Electra.weights`, keyed by the name the original
TF1 code gives it (`electra/encoder/layer_0/attention/self/query/kernel`, ...). The forward
passes are plain functions over that dict, so the code reads like `modeling.py`:

    embeddings (shared)  ─┬─ electra/embeddings_project?  ─ electra/encoder    ─ discriminator_predictions
                          └─ generator/embeddings_project? ─ generator/encoder ─ generator_predictions
                                                                               (tied to word_embeddings)

Exact (erf) GELU, layer-norm epsilon 1e-12, additive -10000 attention mask, no pooler.
Weights stay float32; `compute_dtype` (bfloat16 on TPUs and recent GPUs) is what the matmuls run in.
"""

import tensorflow as tf

from plm.electra.config import PretrainingConfig

LAYER_NORM_EPSILON = 1e-12


class DropoutSeeds:
    """Hands out distinct stateless-dropout seeds derived from one [2] seed, one per dropout site."""

    def __init__(self, seed):
        self.seed = seed
        self.count = 0

    def __call__(self):
        self.count += 1
        return self.seed + tf.constant([0, 7919], tf.int64) * self.count


def dropout(x, rate, seeds):
    if seeds is None or rate <= 0:
        return x
    return tf.nn.experimental.stateless_dropout(x, rate=rate, seed=seeds())


def gelu(x):
    return tf.nn.gelu(x, approximate=False)


class Electra(tf.Module):
    """Generator and discriminator of ELECTRA, sharing the embeddings."""

    def __init__(self, config: PretrainingConfig, compute_dtype=tf.float32, seed: int | None = None):
        super().__init__(name="electra_pretraining")
        self.config = config
        self.compute_dtype = tf.dtypes.as_dtype(compute_dtype)
        self.weights = {}
        seed = config.seed if seed is None else seed
        for index, (name, shape, kind) in enumerate(weight_shapes(config)):
            self._add(name, shape, kind, [seed, index])

    # ---- weights -------------------------------------------------------------------------
    def _add(self, name, shape, kind, seed):
        if kind == "normal":
            initial = tf.random.stateless_truncated_normal(shape, seed=seed, stddev=self.config.initializer_range)
        elif kind == "ones":
            initial = tf.ones(shape, tf.float32)
        else:
            initial = tf.zeros(shape, tf.float32)
        self.weights[name] = tf.Variable(
            initial, name=name, trainable=True, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA
        )

    def w(self, name):
        """A weight, cast to the compute dtype."""
        return tf.cast(self.weights[name], self.compute_dtype)

    # ---- building blocks -----------------------------------------------------------------
    def dense(self, x, scope, activation=None):
        y = tf.matmul(x, self.w(f"{scope}/kernel")) + self.w(f"{scope}/bias")
        return activation(y) if activation else y

    def layer_norm(self, x, scope):
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
        y = (x32 - mean) * tf.math.rsqrt(variance + LAYER_NORM_EPSILON)
        y = y * self.weights[f"{scope}/gamma"] + self.weights[f"{scope}/beta"]
        return tf.cast(y, self.compute_dtype)

    def embed(self, input_ids, segment_ids, seeds=None):
        """Word + position + token-type embeddings, LayerNorm, dropout: [B, L, E] (shared by both towers)."""
        length = tf.shape(input_ids)[1]
        x = tf.gather(self.weights["electra/embeddings/word_embeddings"], input_ids)
        x += tf.gather(self.weights["electra/embeddings/token_type_embeddings"], segment_ids)
        x += self.weights["electra/embeddings/position_embeddings"][tf.newaxis, :length]
        x = self.layer_norm(tf.cast(x, self.compute_dtype), "electra/embeddings/LayerNorm")
        return dropout(x, self.config.hidden_dropout_prob, seeds)

    def attention(self, x, bias, scope, heads, seeds):
        batch, length, hidden = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
        size = hidden // heads

        def split(t):  # [B, L, H] -> [B, heads, L, size]
            return tf.transpose(tf.reshape(t, [batch, length, heads, size]), [0, 2, 1, 3])

        query = split(self.dense(x, f"{scope}/self/query"))
        key = split(self.dense(x, f"{scope}/self/key"))
        value = split(self.dense(x, f"{scope}/self/value"))
        scores = tf.matmul(query, key, transpose_b=True) * (1.0 / size**0.5)
        probs = tf.nn.softmax(tf.cast(scores, tf.float32) + bias)
        probs = dropout(tf.cast(probs, self.compute_dtype), self.config.attention_probs_dropout_prob, seeds)
        context = tf.reshape(tf.transpose(tf.matmul(probs, value), [0, 2, 1, 3]), [batch, length, hidden])
        output = dropout(self.dense(context, f"{scope}/output/dense"), self.config.hidden_dropout_prob, seeds)
        return self.layer_norm(output + x, f"{scope}/output/LayerNorm")

    def transformer_layer(self, x, bias, scope, heads, seeds):
        x = self.attention(x, bias, f"{scope}/attention", heads, seeds)
        hidden = self.dense(x, f"{scope}/intermediate/dense", gelu)
        output = dropout(self.dense(hidden, f"{scope}/output/dense"), self.config.hidden_dropout_prob, seeds)
        return self.layer_norm(output + x, f"{scope}/output/LayerNorm")

    def encode(self, tower, input_ids, input_mask, segment_ids, seeds=None):
        """Sequence output of one tower ("electra" = discriminator, "generator"): [B, L, hidden]."""
        config = self.config
        hidden, layers, heads = (
            (config.hidden_size, config.num_hidden_layers, config.num_attention_heads)
            if tower == "electra"
            else (config.generator_hidden, config.generator_num_layers, config.generator_heads)
        )
        x = self.embed(input_ids, segment_ids, seeds)
        if hidden != config.embedding_size:
            x = self.dense(x, f"{tower}/embeddings_project")
        bias = (1.0 - tf.cast(input_mask, tf.float32))[:, tf.newaxis, tf.newaxis, :] * -10000.0
        for i in range(layers):
            x = self.transformer_layer(x, bias, f"{tower}/encoder/layer_{i}", heads, seeds)
        return x

    # ---- heads ---------------------------------------------------------------------------
    def generator_head(self, hidden):
        """Generator hidden states [..., G] -> vocabulary logits [..., V] (float32), tied to word_embeddings."""
        x = self.dense(hidden, "generator_predictions/dense", gelu)
        x = self.layer_norm(x, "generator_predictions/LayerNorm")
        logits = tf.matmul(x, self.w("electra/embeddings/word_embeddings"), transpose_b=True)
        return tf.cast(logits, tf.float32) + self.weights["generator_predictions/output_bias"]

    def discriminator_head(self, hidden):
        """Discriminator hidden states [B, L, H] -> replaced-token logits [B, L] (float32)."""
        x = self.dense(hidden, "discriminator_predictions/dense", gelu)
        return tf.cast(tf.squeeze(self.dense(x, "discriminator_predictions/dense_1"), -1), tf.float32)

    # ---- plain forward passes (no masking inside) ----------------------------------------
    def discriminator_logits(self, input_ids, input_mask, segment_ids, seeds=None):
        return self.discriminator_head(self.encode("electra", input_ids, input_mask, segment_ids, seeds))

    def generator_logits(self, input_ids, input_mask, segment_ids, seeds=None):
        return self.generator_head(self.encode("generator", input_ids, input_mask, segment_ids, seeds))


def weight_shapes(config: PretrainingConfig):
    """(name, shape, initialiser) of every model weight, in the original release's names."""
    E, V = config.embedding_size, config.vocab_size
    shapes = [
        ("electra/embeddings/word_embeddings", [V, E], "normal"),
        ("electra/embeddings/token_type_embeddings", [config.type_vocab_size, E], "normal"),
        ("electra/embeddings/position_embeddings", [config.max_position_embeddings, E], "normal"),
        ("electra/embeddings/LayerNorm/gamma", [E], "ones"),
        ("electra/embeddings/LayerNorm/beta", [E], "zeros"),
    ]

    def dense(scope, n_in, n_out):
        return [(f"{scope}/kernel", [n_in, n_out], "normal"), (f"{scope}/bias", [n_out], "zeros")]

    def layer_norm(scope, n):
        return [(f"{scope}/gamma", [n], "ones"), (f"{scope}/beta", [n], "zeros")]

    def tower(prefix, hidden, layers, intermediate):
        if hidden != E:
            shapes.extend(dense(f"{prefix}/embeddings_project", E, hidden))
        for i in range(layers):
            scope = f"{prefix}/encoder/layer_{i}"
            for part in ("query", "key", "value"):
                shapes.extend(dense(f"{scope}/attention/self/{part}", hidden, hidden))
            shapes.extend(dense(f"{scope}/attention/output/dense", hidden, hidden))
            shapes.extend(layer_norm(f"{scope}/attention/output/LayerNorm", hidden))
            shapes.extend(dense(f"{scope}/intermediate/dense", hidden, intermediate))
            shapes.extend(dense(f"{scope}/output/dense", intermediate, hidden))
            shapes.extend(layer_norm(f"{scope}/output/LayerNorm", hidden))

    H, G = config.hidden_size, config.generator_hidden
    tower("electra", H, config.num_hidden_layers, config.intermediate_size)
    tower("generator", G, config.generator_num_layers, config.generator_intermediate)
    shapes.extend(dense("generator_predictions/dense", G, E))
    shapes.extend(layer_norm("generator_predictions/LayerNorm", E))
    shapes.append(("generator_predictions/output_bias", [V], "zeros"))
    shapes.extend(dense("discriminator_predictions/dense", H, H))
    shapes.extend(dense("discriminator_predictions/dense_1", H, 1))
    return shapes


def load_electra(checkpoint_path, config: PretrainingConfig | None = None, compute_dtype=tf.float32) -> Electra:
    """An `Electra` restored from a checkpoint in the original format (ours or the original TF1 code's).

    `checkpoint_path` is a checkpoint prefix (`.../model.ckpt-1000`) or a directory, whose latest
    checkpoint is used; without `config`, the directory's `pretraining_config.json` is read.
    """
    from plm.electra import checkpoint

    path = checkpoint.resolve(checkpoint_path)
    if config is None:
        config = checkpoint.read_config(path)
    model = Electra(config, compute_dtype=compute_dtype)
    checkpoint.restore(path, model.weights)
    return model
