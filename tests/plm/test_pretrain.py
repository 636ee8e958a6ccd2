"""ELECTRA's dynamic masking (statistics over many batches) and manage.py pretrain_plm on real Korean text:
the losses fall, and a run killed with SIGKILL resumes from its last checkpoint at the same step."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from django.core.management import call_command

from plm.electra import masking
from plm.shared import shared_data_dir
from tests import tiny

ROOT = Path(__file__).resolve().parents[2]
NSMC = shared_data_dir() / "nsmc" / "ratings_train.txt"
PAD, CLS, SEP, MASK = 0, 2, 3, 4


def random_batch(rng, batch=64, length=128):
    """[CLS] A [SEP] B [SEP] + padding, with a few [MASK] tokens already in the text."""
    ids = np.zeros((batch, length), np.int32)
    for row in range(batch):
        n = rng.randint(6, length + 1)
        ids[row, :n] = rng.randint(5, 500, n)
        ids[row, 0], ids[row, n - 1], ids[row, rng.randint(2, n - 2)] = CLS, SEP, SEP
        ids[row, rng.randint(1, n - 1, 2)] = MASK
    return ids, (ids != PAD).astype(np.int32)


def test_masking_statistics_over_many_batches():
    rng = np.random.RandomState(0)
    N = int((0.15 + 0.005) * 128)
    chosen = masked_as_mask = kept = expected_total = 0
    per_position = np.zeros(128)
    candidates_per_position = np.zeros(128)
    for step in range(40):
        ids, input_mask = random_batch(rng)
        out = masking.mask(
            tf.constant(ids),
            tf.constant(input_mask),
            max_predictions=N,
            mask_prob=0.15,
            mask_id=MASK,
            special_ids=(CLS, SEP, MASK),
            seed=[step, 0],
        )
        positions, weights = out.masked_lm_positions.numpy(), out.masked_lm_weights.numpy()
        new_ids, lm_ids = out.input_ids.numpy(), out.masked_lm_ids.numpy()
        for row in range(len(ids)):
            n_pred = int(weights[row].sum())
            assert n_pred == max(1, min(N, round(0.15 * input_mask[row].sum())))  # the cap, and 15 % of real tokens
            assert (weights[row] == [1] * n_pred + [0] * (N - n_pred)).all()
            used = positions[row, :n_pred]
            assert (positions[row, n_pred:] == 0).all()
            original = ids[row, used]
            assert not np.isin(original, [PAD, CLS, SEP, MASK]).any()  # never a special token or padding
            assert (input_mask[row, used] == 1).all()
            assert (lm_ids[row, :n_pred] == original).all()
            unique = np.unique(used)
            assert len(unique) <= N
            changed = np.flatnonzero(new_ids[row] != ids[row])
            assert set(changed) <= set(unique)  # only chosen positions change, and only to [MASK]
            assert (new_ids[row, changed] == MASK).all()
            chosen += len(unique)
            masked_as_mask += len(changed)
            kept += len(unique) - len(changed)
            expected_total += n_pred
            per_position[unique] += 1
            candidates_per_position += ~np.isin(ids[row], [PAD, CLS, SEP, MASK])
    assert 0.83 < masked_as_mask / chosen < 0.87  # 85 % [MASK], 15 % kept
    assert 0.13 < kept / chosen < 0.17
    assert 0.85 < chosen / expected_total <= 1.0  # draws with replacement: a few duplicates
    # uniform over the candidates: the rate of being chosen does not depend on the position
    rate = per_position[1:100] / candidates_per_position[1:100]
    assert rate.std() / rate.mean() < 0.15


def test_replaced_tokens_are_labelled_and_samples_follow_the_generator():
    ids = tf.constant([[CLS, 10, 11, 12, SEP, 0]])
    positions = tf.constant([[1, 3, 0]])
    fake, labels = masking.replace_tokens(ids, positions, tf.constant([[10, 40, 99]]))
    assert fake.numpy().tolist() == [[CLS, 10, 11, 40, SEP, 0]]  # slot 3 (position 0) is ignored
    assert labels.numpy().tolist() == [[0, 0, 0, 1, 0, 0]]  # sampled the original token: label 0

    logits = tf.math.log(tf.constant([[0.7, 0.2, 0.1]] * 20000))
    samples = masking.sample_tokens(logits, seed=[1, 2]).numpy()
    np.testing.assert_allclose(np.bincount(samples, minlength=3) / 20000, [0.7, 0.2, 0.1], atol=0.015)


# ---- pretrain_plm on real text ---------------------------------------------------------------
def korean_documents():
    """Review and NSMC texts, one sentence a line, a blank line after each document."""
    texts = tiny.sample_texts()
    if NSMC.exists():
        texts += [line.split("\t")[1] for line in NSMC.read_text(encoding="utf-8").splitlines()[1:6001]]
    return [t for t in texts if t.strip()]


@pytest.fixture(scope="module")
def pretraining_data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pretraining")
    texts = korean_documents()
    tiny.train_tokenizer(directory / "tokenizer", texts, vocab_size=2000)
    with open(directory / "corpus.txt", "w", encoding="utf-8") as f:
        for text in texts:
            f.write("".join(s + "\n" for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s) + "\n")
    call_command(
        "build_pretraining_data",
        str(directory / "corpus.txt"),
        tokenizer=str(directory / "tokenizer"),
        output=str(directory / "data"),
        max_seq_length=64,
        num_out_files=2,
        verbosity=0,
    )
    return directory


def pretrain_command(directory):
    return [
        sys.executable,
        str(ROOT / "manage.py"),
        "pretrain_plm",
        "--data",
        str(directory / "data"),
        "--tokenizer",
        str(directory / "tokenizer"),
        "--output",
        str(directory / "run"),
        "--hidden-size",
        "64",
        "--embedding-size",
        "64",
        "--num-hidden-layers",
        "2",
        "--num-attention-heads",
        "2",
        "--max-seq-length",
        "64",
        "--train-batch-size",
        "32",
        "--learning-rate",
        "5e-4",
        "--num-warmup-steps",
        "20",
        "--num-train-steps",
        "200",
        "--save-checkpoints-steps",
        "50",
        "--iterations-per-loop",
        "10",
        "--keep-checkpoint-max",
        "0",
    ]


def checkpoint_steps(run):
    state = run / "checkpoint"
    return [int(s) for s in re.findall(r"model\.ckpt-(\d+)", state.read_text())] if state.exists() else []


def test_pretrain_losses_fall_and_a_killed_run_resumes_at_the_same_step(pretraining_data):
    run = pretraining_data / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(
        pretrain_command(pretraining_data), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    while max(checkpoint_steps(run), default=0) < 100:
        assert first.poll() is None, first.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint at step 100 after 4 minutes"
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stderr.close()
    killed_at = max(checkpoint_steps(run))
    assert 100 <= killed_at < 200
    logged_before = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]

    second = subprocess.run(
        pretrain_command(pretraining_data), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads((run / "pretraining_summary.json").read_text())
    assert summary["start_step"] == killed_at  # resumed from the last checkpoint, not from 0
    assert summary["final_step"] == 200
    assert max(checkpoint_steps(run)) == 200
    assert tf.train.load_variable(str(run), "global_step") == 200

    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    resumed = log[len(logged_before) :]
    assert resumed[0]["step"] == killed_at + 10
    # the losses fell by a clear margin (the first entry is the mean of steps 1-10, near the initial loss) ...
    start, end = log[0], log[-1]
    assert end["generator_loss"] < start["generator_loss"] - 1.0
    assert end["discriminator_loss"] < 0.8 * start["discriminator_loss"]
    assert end["generator_accuracy"] > start["generator_accuracy"] + 0.03
    # ... and continued after the resume where they were, not back at the start
    before = next(entry for entry in logged_before if entry["step"] == killed_at)
    assert abs(resumed[0]["total_loss"] - before["total_loss"]) < 0.3 * (start["total_loss"] - before["total_loss"])

    # TensorBoard summaries and the stdout report
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run)).Reload()
    tags = set(events.Tags()["tensors"]) | set(events.Tags()["scalars"])
    assert {
        "loss/total",
        "loss/generator",
        "loss/discriminator",
        "generator/accuracy",
        "discriminator/accuracy",
        "discriminator/precision",
        "discriminator/recall",
        "learning_rate",
        "examples_per_second",
    } <= tags
    assert re.search(r"step 200 \(default strategy, 1 replica\(s\), float32\): loss \d", second.stdout)
    config = json.loads((run / "pretraining_config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["do_lower_case"]) == (64, 2, False)


def test_evaluate_pretraining_shows_the_discriminator_learning_before_its_accuracy_moves(pretraining_data):
    """Threshold-free measures: AUCs rise from chance over the run; roc_auc agrees with scikit-learn."""
    from sklearn.metrics import roc_auc_score

    from plm.electra.evaluate import roc_auc

    rng = np.random.default_rng(0)
    labels = rng.random(500) < 0.15
    scores = np.round(rng.normal(size=500) + labels, 1)  # with ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)

    run = pretraining_data / "run"
    if not (run / "pretraining_summary.json").exists():  # run alone, without the test above
        subprocess.run(pretrain_command(pretraining_data), cwd=ROOT, check=True, capture_output=True, timeout=600)
    out = io.StringIO()
    call_command(
        "evaluate_pretraining",
        str(run),
        "--data",
        str(pretraining_data / "data"),
        "--batches",
        "4",
        "--batch-size",
        "32",
        stdout=out,
    )
    results = {r["step"]: r for r in json.loads((run / "evaluation.json").read_text())["results"]}
    first, last = results[0], results[max(results)]
    assert max(results) == 200 and 0 in results
    assert abs(first["random_replacement_auc"] - 0.5) < 0.1  # untrained: chance
    assert last["random_replacement_auc"] > first["random_replacement_auc"] + 0.1
    assert last["generator_accuracy"] > first["generator_accuracy"]
    assert 0.05 < last["replaced_share"] < 0.2
    assert abs(first["representation_spread"] - 1.0) < 0.3  # an untrained encoder keeps tokens apart
    assert "spread" in out.getvalue()
    assert re.search(r"^\s+200\s+0\.\d{3}\s+0\.\d{3}", out.getvalue(), re.M)
