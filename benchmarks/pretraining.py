"""ELECTRA pretraining throughput: build_pretraining_data and the train step, against baselines in the same run.

    .venv/bin/python benchmarks/pretraining.py [--tokenizer DIR] [--batch 8] [--steps 6] [--processes 2]

1. build_pretraining_data examples/s with 1 process and with --processes processes (ratio to 1).
2. On the CPU, examples/s of our TF train step for an ELECTRA-small config (hidden 256, 12 layers,
   embedding 128, generator 1/4), and of HuggingFace's PyTorch ElectraForMaskedLM + ElectraForPreTraining
   doing the same step on the same batch (same masked positions, shared embeddings, generator head on
   the masked positions only, Gumbel sampling, discriminator, 1 × MLM + 50 × BCE, clipping, AdamW),
   timed in alternating rounds; the ratio ours / PyTorch.
3. With a GPU visible to TensorFlow: examples/s and model FLOPs utilisation (MFU) of ELECTRA-base
   (generator 1/3, length 128, bfloat16 where supported) with --gpu-batch examples per step.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from plm.shared import shared_data_dir  # noqa: E402

NSMC = shared_data_dir() / "nsmc" / "ratings_train.txt"
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "L40": 181.0}


def korean_texts(limit):
    from tests import tiny

    texts = tiny.sample_texts()
    if NSMC.exists():
        texts += [line.split("\t")[1] for line in NSMC.read_text(encoding="utf-8").splitlines()[1 : limit + 1]]
    return [t for t in texts if t.strip()]


def write_corpus(directory, texts, files):
    directory.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        with open(directory / f"corpus-{k}.txt", "w", encoding="utf-8") as f:
            for text in texts[k::files]:
                f.write("".join(s + "\n" for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s) + "\n")


def bench_data(work, tokenizer_dir, texts, processes):
    import tensorflow  # noqa: F401  (imported once, before the clock starts)

    from plm.pretraining_data import build_pretraining_data

    write_corpus(work / "corpus", texts, files=max(2, processes) * 2)
    rates = {}
    for n in (1, processes):
        start = time.perf_counter()
        stats = build_pretraining_data(
            [work / "corpus"],
            tokenizer_dir,
            work / f"data-{n}",
            max_seq_length=128,
            num_out_files=8,
            num_processes=n,
            progress=False,
        )
        rates[n] = stats.examples / (time.perf_counter() - start)
        print(f"build_pretraining_data, {n} process(es): {stats.examples} examples, {rates[n]:.0f} examples/s")
    print(f"  ratio {processes} processes / 1 process: {rates[processes] / rates[1]:.2f}x")
    return work / "data-1"


def small_config(vocab_size, batch, length, **overrides):
    from plm.electra.config import PretrainingConfig

    return PretrainingConfig(
        model_size="small",
        vocab_size=vocab_size,
        max_seq_length=length,
        train_batch_size=batch,
        num_train_steps=10000,
        num_warmup_steps=10,
        cls_token_id=2,
        sep_token_id=3,
        mask_token_id=4,
        **overrides,
    )


class TorchElectraStep:
    """HuggingFace ElectraForMaskedLM + ElectraForPreTraining doing ELECTRA's train step."""

    def __init__(self, config):
        import torch
        from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

        common = dict(
            vocab_size=config.vocab_size,
            embedding_size=config.embedding_size,
            max_position_embeddings=512,
            hidden_act="gelu",
            layer_norm_eps=1e-12,
        )
        self.torch = torch
        # Two ElectraConfigs of one shape, the discriminator's sizes and the generator's; what they share is `common`.
        self.disc = ElectraForPreTraining(
            ElectraConfig(
                hidden_size=config.hidden_size,
                num_hidden_layers=config.num_hidden_layers,
                num_attention_heads=config.num_attention_heads,
                intermediate_size=config.intermediate_size,
                **common,
            )
        )
        self.gen = ElectraForMaskedLM(
            ElectraConfig(
                hidden_size=config.generator_hidden,
                num_hidden_layers=config.generator_num_layers,
                num_attention_heads=config.generator_heads,
                intermediate_size=config.generator_intermediate,
                **common,
            )
        )
        self.gen.electra.embeddings = self.disc.electra.embeddings  # shared embeddings, as ELECTRA
        self.gen.generator_lm_head.weight = self.disc.electra.embeddings.word_embeddings.weight
        params = {id(p): p for p in list(self.disc.parameters()) + list(self.gen.parameters())}.values()
        self.params = list(params)
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-4, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
        self.disc.train()
        self.gen.train()

    def step(self, batch):
        torch = self.torch
        ids, mask, segments, masked_ids, positions, lm_ids, weights = batch
        hidden = self.gen.electra(input_ids=masked_ids, attention_mask=mask, token_type_ids=segments)[0]
        chosen = torch.gather(hidden, 1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
        logits = self.gen.generator_lm_head(self.gen.generator_predictions(chosen))
        token_losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), lm_ids, reduction="none")
        gen_loss = (token_losses * weights).sum() / (weights.sum() + 1e-6)
        with torch.no_grad():
            uniform = torch.rand_like(logits).clamp_(1e-9, 1.0)
            sampled = torch.argmax(logits - torch.log(-torch.log(uniform)), -1)
            fake = ids.scatter(1, positions, sampled)
            fake[:, 0] = ids[:, 0]
            labels = (fake != ids).float()
        disc_logits = self.disc(input_ids=fake, attention_mask=mask, token_type_ids=segments).logits
        real = mask.float()
        disc_loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(disc_logits, labels, reduction="none") * real
        ).sum() / real.sum()
        loss = gen_loss + 50.0 * disc_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        return float(loss.detach())


def bench_cpu_step(data_dir, vocab_size, batch, steps, rounds):
    import numpy as np
    import tensorflow as tf
    import torch

    from plm.electra import masking
    from plm.electra.train import Pretrainer, make_dataset

    torch.set_num_threads(os.cpu_count())
    config = small_config(vocab_size, batch, 128)
    print(
        f"\nELECTRA-small train step on the CPU: hidden {config.hidden_size}, {config.num_hidden_layers} layers, "
        f"embedding {config.embedding_size}, generator {config.generator_hidden}, vocabulary {vocab_size}, "
        f"batch {batch} x 128, {os.cpu_count()} cores"
    )
    trainer = Pretrainer(config)
    batch_tf = next(iter(make_dataset(sorted(data_dir.glob("pretrain_data.tfrecord-*")), 128, batch)))
    repeated = tf.data.Dataset.from_tensors(batch_tf).repeat()  # the same batch every step, for both
    iterator = iter(repeated)
    masked = masking.mask(
        batch_tf["input_ids"],
        batch_tf["input_mask"],
        max_predictions=config.max_predictions_per_seq,
        mask_prob=0.15,
        mask_id=4,
        special_ids=(2, 3, 4),
        seed=[0, 0],
    )
    as_long = lambda t: torch.from_numpy(np.asarray(t, np.int64))  # noqa: E731
    torch_batch = (
        as_long(batch_tf["input_ids"]),
        as_long(batch_tf["input_mask"]),
        as_long(batch_tf["segment_ids"]),
        as_long(masked.input_ids),
        as_long(masked.masked_lm_positions),
        as_long(masked.masked_lm_ids),
        torch.from_numpy(masked.masked_lm_weights.numpy()),
    )
    baseline = TorchElectraStep(config)

    def ours():
        trainer.train_loop(iterator, tf.constant(steps))["total_loss"].numpy()

    def theirs():
        for _ in range(steps):
            baseline.step(torch_batch)

    ours(), theirs()  # trace / warm up
    times = {"ours": [], "torch": []}
    for _ in range(rounds):
        for name, run in (("ours", ours), ("torch", theirs)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    rate = {name: steps * batch / statistics.median(t) for name, t in times.items()}
    print(f"  ours (TF {tf.__version__}):          {rate['ours']:.1f} examples/s")
    print(f"  HF PyTorch (torch {torch.__version__}): {rate['torch']:.1f} examples/s")
    print(f"  ratio ours / PyTorch: {rate['ours'] / rate['torch']:.2f}x")


def train_flops_per_example(config, length):
    """Matmul FLOPs of one training example (forward + backward = 3 × forward), both towers and heads."""

    def tower(hidden, layers, inner):
        per_token = layers * (2 * 4 * hidden * hidden + 2 * 2 * hidden * inner + 2 * 2 * length * hidden)
        project = 2 * config.embedding_size * hidden if hidden != config.embedding_size else 0
        return length * (per_token + project)

    forward = tower(config.hidden_size, config.num_hidden_layers, config.intermediate_size)
    forward += tower(config.generator_hidden, config.generator_num_layers, config.generator_intermediate)
    forward += length * 2 * (config.hidden_size * config.hidden_size + config.hidden_size)  # discriminator head
    forward += (
        config.max_predictions_per_seq
        * 2
        * (config.generator_hidden * config.embedding_size + config.embedding_size * config.vocab_size)
    )
    return 3 * forward


def bench_gpu(vocab_size, batch, steps):
    import tensorflow as tf

    from plm.electra import distribute
    from plm.electra.config import PretrainingConfig
    from plm.electra.train import Pretrainer

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print(
            "\nno GPU visible to TensorFlow: the ELECTRA-base GPU/MFU figures need a GPU build "
            "(pip install 'tensorflow[and-cuda]==2.20.*')"
        )
        return
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    plan, strategy = distribute.plan_and_strategy()
    config = PretrainingConfig(
        model_size="base",
        vocab_size=vocab_size,
        generator_hidden_size=0.33333,
        max_seq_length=128,
        train_batch_size=batch,
        num_warmup_steps=10,
        cls_token_id=2,
        sep_token_id=3,
        mask_token_id=4,
    )
    trainer = Pretrainer(config, strategy, plan.compute_dtype, jit_compile=True)

    def random_batch(_):
        ids = tf.random.uniform([128], 5, vocab_size, tf.int32)
        return {
            "input_ids": tf.concat([[2], ids[1:-1], [3]], 0),
            "input_mask": tf.ones([128], tf.int32),
            "segment_ids": tf.zeros([128], tf.int32),
        }

    per_replica = batch // strategy.num_replicas_in_sync
    dataset = strategy.distribute_datasets_from_function(
        lambda _: tf.data.Dataset.range(1)
        .repeat()
        .map(random_batch)
        .batch(per_replica, drop_remainder=True)
        .prefetch(8)
    )
    iterator = iter(dataset)
    trainer.train_loop(iterator, tf.constant(2))["total_loss"].numpy()
    start = time.perf_counter()
    trainer.train_loop(iterator, tf.constant(steps))["total_loss"].numpy()
    rate = steps * batch / (time.perf_counter() - start)
    flops = train_flops_per_example(config, 128) * rate
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    print(
        f"\nELECTRA-base on {len(gpus)} x {name} ({plan.kind} strategy, {plan.compute_dtype}), batch {batch} x 128: "
        f"{rate:.0f} examples/s, {flops / 1e12:.1f} model TFLOP/s"
        + (f", MFU {flops / (peak * 1e12 * len(gpus)):.1%} of {peak:.0f} TFLOP/s bf16 peak per GPU" if peak else "")
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", help="tokenizer directory (default: a WordPiece trained here on the texts)")
    parser.add_argument("--texts", type=int, default=20000, help="NSMC lines added to the sample reviews")
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=8, help="CPU train-step batch size")
    parser.add_argument("--steps", type=int, default=5, help="train steps per timed round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gpu-batch", type=int, default=256)
    args = parser.parse_args()

    from plm.vocab import load_tokenizer
    from tests import tiny

    texts = korean_texts(args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokenizer_dir = args.tokenizer or work / "tokenizer"
        if not args.tokenizer:
            tiny.train_tokenizer(tokenizer_dir, texts, vocab_size=8000)
        vocab_size = len(load_tokenizer(tokenizer_dir))
        print(f"{len(texts)} real Korean review texts, tokenizer vocabulary {vocab_size}")
        data_dir = bench_data(work, tokenizer_dir, texts, args.processes)
        bench_cpu_step(data_dir, vocab_size, args.batch, args.steps, args.rounds)
        bench_gpu(vocab_size, args.gpu_batch, 20)


if __name__ == "__main__":
    main()
