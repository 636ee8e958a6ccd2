"""Pretraining ELECTRA: the input pipeline, the train step and the loop around it.

The same replica step runs under every `tf.distribute` strategy: mask the batch, run the
generator on the masked positions, sample replacements from it, run the discriminator on the
result, and take one AdamWeightDecay step on

    total = gen_weight × generator MLM loss + disc_weight × discriminator loss   (1 and 50).

Gradients are averaged across replicas with an all-reduce, and every replica applies the same
update. `iterations_per_loop` steps run inside one `tf.function` call (a `tf.range` loop), as the
original does on TPUs.
"""

import json
import time
from pathlib import Path

import tensorflow as tf

from plm.electra import checkpoint, distribute, masking
from plm.electra.config import PretrainingConfig
from plm.electra.model import DropoutSeeds, Electra
from plm.electra.optimization import AdamWeightDecay

FEATURES = ("input_ids", "input_mask", "segment_ids")
METRICS = (
    "total_loss",
    "generator_loss",
    "discriminator_loss",
    "generator_accuracy",
    "discriminator_accuracy",
    "discriminator_precision",
    "discriminator_recall",
    "learning_rate",
)
SUMMARY_FILE = "pretraining_summary.json"
LOG_FILE = "train_log.jsonl"


# ---- input pipeline --------------------------------------------------------------------------
def parse_example(record, max_seq_length):
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in FEATURES}
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(value, tf.int32) for name, value in example.items()}


def data_files(inputs, max_seq_length) -> list:
    """TFRecord files from paths, directories or globs, checked against the schema and `max_seq_length`."""
    files = []
    for item in map(str, inputs):
        if tf.io.gfile.isdir(item):
            files += tf.io.gfile.glob(f"{item.rstrip('/')}/pretrain_data.tfrecord-*")
        else:
            found = tf.io.gfile.glob(item)
            if not found:
                raise FileNotFoundError(f"{item} does not exist")
            files += found
    files = sorted(set(files))
    if not files:
        raise FileNotFoundError(f"no pretrain_data.tfrecord-* files in {', '.join(map(str, inputs))}")
    for record in tf.data.TFRecordDataset(files[:1]).take(1):
        example = tf.train.Example.FromString(record.numpy())
        for name in FEATURES:
            if name not in example.features.feature:
                raise ValueError(f"{files[0]} is not ELECTRA pretraining data: it has no {name} feature")
            length = len(example.features.feature[name].int64_list.value)
            if length != max_seq_length:
                raise ValueError(
                    f"{files[0]} holds {name} of length {length}, not --max-seq-length {max_seq_length}: "
                    f"pass --max-seq-length {length} or rebuild the data"
                )
    return files


def make_dataset(files, max_seq_length, batch_size, input_context=None, seed=0, shuffle_buffer=10000):
    """An endless, shuffled stream of [batch_size, max_seq_length] batches from pretraining TFRecords."""
    files = tf.data.Dataset.from_tensor_slices(sorted(str(f) for f in files))
    if input_context and input_context.num_input_pipelines > 1:
        files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    files = files.shuffle(1024, seed=seed).repeat()
    records = files.interleave(
        tf.data.TFRecordDataset, cycle_length=4, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return (
        records.shuffle(shuffle_buffer, seed=seed)
        .map(lambda r: parse_example(r, max_seq_length), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


# ---- the objective ---------------------------------------------------------------------------
def electra_losses(model: Electra, batch: dict, seed, training=True) -> dict:
    """Losses and metrics of one batch ([B, L] input_ids, input_mask, segment_ids) for one replica."""
    config = model.config
    input_ids, input_mask, segment_ids = batch["input_ids"], batch["input_mask"], batch["segment_ids"]
    seeds = DropoutSeeds(seed + tf.constant([0, 100], tf.int64)) if training else None

    masked = masking.mask_as_configured(config, input_ids, input_mask, seed)
    # generator: masked-LM on the chosen positions only
    hidden = model.encode("generator", masked.input_ids, input_mask, segment_ids, seeds)
    logits = model.generator_head(masking.gather_positions(hidden, masked.masked_lm_positions))  # [B, N, V]
    weights = masked.masked_lm_weights
    token_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=masked.masked_lm_ids, logits=logits)
    generator_loss = tf.reduce_sum(token_losses * weights) / (tf.reduce_sum(weights) + 1e-6)
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    generator_correct = tf.reduce_sum(tf.cast(tf.equal(predicted, masked.masked_lm_ids), tf.float32) * weights)

    # discriminator: which tokens did the generator's samples replace?
    sampled = masking.sample_tokens(logits, seed + tf.constant([0, 3], tf.int64), config.temperature)
    fake_ids, labels = masking.replace_tokens(input_ids, masked.masked_lm_positions, sampled)
    disc_logits = model.discriminator_logits(fake_ids, input_mask, segment_ids, seeds)
    real = tf.cast(input_mask, tf.float32)
    labels_f = tf.cast(labels, tf.float32)
    disc_losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels_f, logits=disc_logits) * real
    discriminator_loss = tf.reduce_sum(disc_losses) / (tf.reduce_sum(real) + 1e-6)
    predictions = tf.cast(disc_logits > 0, tf.float32) * real

    return {
        "total_loss": config.gen_weight * generator_loss + config.disc_weight * discriminator_loss,
        "generator_loss": generator_loss,
        "discriminator_loss": discriminator_loss,
        # counts, summed over replicas to give accuracy, precision and recall
        "generator_correct": generator_correct,
        "generator_predictions": tf.reduce_sum(weights),
        "discriminator_correct": tf.reduce_sum(tf.cast(tf.equal(predictions, labels_f), tf.float32) * real),
        "discriminator_tokens": tf.reduce_sum(real),
        "true_positives": tf.reduce_sum(predictions * labels_f),
        "predicted_positives": tf.reduce_sum(predictions),
        "actual_positives": tf.reduce_sum(labels_f * real),
    }


def ratio(numerator, denominator):
    return numerator / tf.maximum(denominator, 1.0)


# ---- the trainer -----------------------------------------------------------------------------
class Pretrainer:
    """The model, its optimiser and the distributed train loop, under one strategy."""

    def __init__(self, config: PretrainingConfig, strategy=None, compute_dtype="float32", jit_compile=False):
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.model = Electra(config, compute_dtype=compute_dtype)
            self.optimizer = AdamWeightDecay(self.model.weights, config)
        self._compute = tf.function(self._compute_gradients, jit_compile=jit_compile)
        self.train_loop = tf.function(self._train_loop)

    @property
    def variables(self) -> dict:
        """Every variable of a checkpoint, by its original name."""
        return {**self.model.weights, **self.optimizer.variables_by_name}

    @property
    def step(self) -> int:
        return int(self.optimizer.global_step.numpy())

    def save(self, directory) -> str:
        return checkpoint.save(directory, self.step, self.variables, keep=self.config.keep_checkpoint_max)

    def restore_latest(self, directory) -> int:
        """Restore the newest checkpoint in `directory`, if any; the step it holds (0 if none)."""
        latest = tf.train.latest_checkpoint(str(directory))
        if latest:
            checkpoint.restore(latest, self.variables)
        return self.step

    def _compute_gradients(self, batch, seed):
        weights = self.model.weights
        with tf.GradientTape() as tape:
            out = electra_losses(self.model, batch, seed)
        gradients = tape.gradient(out["total_loss"], list(weights.values()))
        return out, [tf.convert_to_tensor(g) for g in gradients]

    def _replica_step(self, batch):
        context = tf.distribute.get_replica_context()
        step = self.optimizer.global_step.read_value()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        seed = tf.stack([self.config.seed * 1_000_003 + step, replica * 10_000_000])
        out, gradients = self._compute(batch, seed)
        gradients = context.all_reduce(tf.distribute.ReduceOp.MEAN, gradients)
        lr, _ = self.optimizer.apply_gradients(dict(zip(self.model.weights, gradients)), self.model.weights)
        losses = context.all_reduce(tf.distribute.ReduceOp.MEAN, [out[k] for k in METRICS[:3]])
        counts = context.all_reduce(tf.distribute.ReduceOp.SUM, [v for k, v in out.items() if k not in METRICS[:3]])
        c = dict(zip([k for k in out if k not in METRICS[:3]], counts))
        return {
            "total_loss": losses[0],
            "generator_loss": losses[1],
            "discriminator_loss": losses[2],
            "generator_accuracy": ratio(c["generator_correct"], c["generator_predictions"]),
            "discriminator_accuracy": ratio(c["discriminator_correct"], c["discriminator_tokens"]),
            "discriminator_precision": ratio(c["true_positives"], c["predicted_positives"]),
            "discriminator_recall": ratio(c["true_positives"], c["actual_positives"]),
            "learning_rate": lr,
        }

    def _train_loop(self, iterator, steps):
        """`steps` train steps; the mean of each metric over them."""
        totals = {name: tf.constant(0.0) for name in METRICS}
        for _ in tf.range(steps):
            out = self.strategy.run(self._replica_step, args=(next(iterator),))
            totals = {name: totals[name] + self.strategy.experimental_local_results(out[name])[0] for name in METRICS}
        return {name: value / tf.cast(steps, tf.float32) for name, value in totals.items()}

    def distributed_dataset(self, files, seed=0):
        global_batch = self.config.train_batch_size

        def dataset_fn(context):
            batch = context.get_per_replica_batch_size(global_batch)
            return make_dataset(files, self.config.max_seq_length, batch, context, seed=seed)

        return self.strategy.distribute_datasets_from_function(dataset_fn)


# ---- the loop --------------------------------------------------------------------------------
def pretrain(
    config: PretrainingConfig,
    data_files,
    output_dir,
    *,
    tpu=None,
    mixed_precision=True,
    jit_compile=None,
    progress=True,
) -> dict:
    """Pretrain (or resume pretraining) into `output_dir`; returns the summary also written there.

    `jit_compile` (XLA for the forward and backward pass) defaults to on with GPUs, off on the CPU
    (where XLA is slower) and is implied on TPUs.
    """
    from tqdm import tqdm

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plan, strategy = distribute.plan_and_strategy(tpu, mixed_precision)
    if jit_compile is None:
        jit_compile = plan.kind != "tpu" and bool(tf.config.list_physical_devices("GPU"))
    trainer = Pretrainer(config, strategy, plan.compute_dtype, jit_compile)
    start = trainer.restore_latest(output_dir)
    config.to_json(output_dir / checkpoint.CONFIG_FILE)
    iterator = iter(trainer.distributed_dataset(data_files, seed=config.seed + start))
    writer = tf.summary.create_file_writer(str(output_dir))
    metrics, started, step = {}, time.perf_counter(), start
    if start == 0:
        trainer.save(output_dir)
    with (
        open(output_dir / LOG_FILE, "a", encoding="utf-8") as log,
        tqdm(total=config.num_train_steps, initial=start, disable=not progress, unit="step") as bar,
    ):
        while step < config.num_train_steps:
            next_save = (step // config.save_checkpoints_steps + 1) * config.save_checkpoints_steps
            steps = min(config.iterations_per_loop, config.num_train_steps - step, next_save - step)
            tick = time.perf_counter()
            metrics = {k: float(v) for k, v in trainer.train_loop(iterator, tf.constant(steps)).items()}
            metrics["examples_per_second"] = steps * config.train_batch_size / (time.perf_counter() - tick)
            step = trainer.step
            with writer.as_default(step=step):
                for name, value in metrics.items():
                    tf.summary.scalar(summary_name(name), value)
            log.write(json.dumps({"step": step, **metrics}) + "\n")
            log.flush()
            bar.update(steps)
            bar.set_postfix(
                loss=f"{metrics['total_loss']:.3f}",
                gen=f"{metrics['generator_loss']:.3f}",
                disc=f"{metrics['discriminator_loss']:.3f}",
                gen_acc=f"{metrics['generator_accuracy']:.2f}",
                disc_acc=f"{metrics['discriminator_accuracy']:.3f}",
                ex_s=f"{metrics['examples_per_second']:.0f}",
            )
            if step % config.save_checkpoints_steps == 0 or step >= config.num_train_steps:
                trainer.save(output_dir)
    writer.flush()
    summary = {
        "start_step": start,
        "final_step": step,
        "strategy": plan.kind,
        "num_replicas": strategy.num_replicas_in_sync,
        "compute_dtype": plan.compute_dtype,
        "seconds": round(time.perf_counter() - started, 1),
        "checkpoint": tf.train.latest_checkpoint(str(output_dir)),
        "final_metrics": metrics,
    }
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def summary_name(metric):
    return {
        "total_loss": "loss/total",
        "generator_loss": "loss/generator",
        "discriminator_loss": "loss/discriminator",
        "generator_accuracy": "generator/accuracy",
        "discriminator_accuracy": "discriminator/accuracy",
        "discriminator_precision": "discriminator/precision",
        "discriminator_recall": "discriminator/recall",
    }.get(metric, metric)
