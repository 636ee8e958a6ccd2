"""The TF2 ELECTRA: original checkpoint names and shapes, the same logits as HuggingFace's ELECTRA,
the original optimiser, and the choice of distribution strategy."""

import numpy as np
import pytest
import tensorflow as tf

from plm.electra import checkpoint, distribute
from plm.electra.config import PretrainingConfig
from plm.electra.model import Electra, load_electra, weight_shapes
from plm.electra.optimization import AdamWeightDecay, learning_rate_at


def expected_weights(E, H, G, layers, gen_layers, V, ff, gen_ff):
    """The weight list of the original release's modeling.py / run_pretraining.py, written out from its rules."""
    names = {
        "electra/embeddings/word_embeddings": [V, E],
        "electra/embeddings/position_embeddings": [512, E],
        "electra/embeddings/token_type_embeddings": [2, E],
        "electra/embeddings/LayerNorm/gamma": [E],
        "electra/embeddings/LayerNorm/beta": [E],
        "generator_predictions/dense/kernel": [G, E],
        "generator_predictions/dense/bias": [E],
        "generator_predictions/LayerNorm/gamma": [E],
        "generator_predictions/LayerNorm/beta": [E],
        "generator_predictions/output_bias": [V],
        "discriminator_predictions/dense/kernel": [H, H],
        "discriminator_predictions/dense/bias": [H],
        "discriminator_predictions/dense_1/kernel": [H, 1],
        "discriminator_predictions/dense_1/bias": [1],
    }
    for prefix, size, n, inner in (("electra", H, layers, ff), ("generator", G, gen_layers, gen_ff)):
        if size != E:
            names[f"{prefix}/embeddings_project/kernel"] = [E, size]
            names[f"{prefix}/embeddings_project/bias"] = [size]
        for i in range(n):
            p = f"{prefix}/encoder/layer_{i}"
            for part in (
                "attention/self/query",
                "attention/self/key",
                "attention/self/value",
                "attention/output/dense",
            ):
                names[f"{p}/{part}/kernel"] = [size, size]
                names[f"{p}/{part}/bias"] = [size]
            names[f"{p}/intermediate/dense/kernel"] = [size, inner]
            names[f"{p}/intermediate/dense/bias"] = [inner]
            names[f"{p}/output/dense/kernel"] = [inner, size]
            names[f"{p}/output/dense/bias"] = [size]
            for norm in ("attention/output/LayerNorm", "output/LayerNorm"):
                names[f"{p}/{norm}/gamma"] = [size]
                names[f"{p}/{norm}/beta"] = [size]
    return names


def with_optimizer_slots(weights):
    out = {"global_step": []}
    for name, shape in weights.items():
        out.update({name: shape, f"{name}/adam_m": shape, f"{name}/adam_v": shape})
    return out


def test_small_checkpoint_has_the_original_names_and_shapes(tmp_path):
    config = PretrainingConfig(model_size="small", vocab_size=30522)
    model = Electra(config)
    optimizer = AdamWeightDecay(model.weights, config)
    checkpoint.save(tmp_path, 0, {**model.weights, **optimizer.variables_by_name})

    saved = dict(tf.train.list_variables(str(tmp_path)))
    expected = with_optimizer_slots(expected_weights(128, 256, 64, 12, 12, 30522, 1024, 256))
    assert saved == expected
    assert "electra/embeddings_project/kernel" in saved and saved["electra/embeddings_project/kernel"] == [128, 256]
    assert len(saved) == 3 * len(model.weights) + 1
    assert tf.train.load_variable(str(tmp_path), "global_step") == 0
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-0")


def test_base_with_the_seed_generator_has_the_original_names_and_shapes():
    config = PretrainingConfig(model_size="base", vocab_size=75000, generator_hidden_size=0.33333)
    assert (config.generator_hidden, config.generator_heads, config.generator_intermediate) == (256, 4, 1024)
    shapes = {name: shape for name, shape, _ in weight_shapes(config)}
    assert shapes == expected_weights(768, 768, 256, 12, 12, 75000, 3072, 1024)
    assert "electra/embeddings_project/kernel" not in shapes
    assert shapes["generator/embeddings_project/kernel"] == [768, 256]


def test_presets_and_json_round_trip(tmp_path):
    small = PretrainingConfig(model_size="small")
    assert (
        small.hidden_size,
        small.num_hidden_layers,
        small.num_attention_heads,
        small.intermediate_size,
        small.embedding_size,
        small.max_predictions_per_seq,
    ) == (256, 12, 4, 1024, 128, 19)
    large = PretrainingConfig(model_size="large", generator_layers=0.5)
    assert (large.hidden_size, large.num_hidden_layers, large.embedding_size, large.generator_num_layers) == (
        1024,
        24,
        1024,
        12,
    )
    small.to_json(tmp_path / "c.json")
    assert PretrainingConfig.from_json(tmp_path / "c.json") == small
    with pytest.raises(ValueError, match="unknown pretraining option"):
        PretrainingConfig.from_dict({"hiden_size": 3})
    with pytest.raises(ValueError, match="model_size"):
        PretrainingConfig(model_size="huge")


# Sizes as keywords, the shape of the other tests', the benchmarks' configs and plm.vocab's defaults; values differ.
def tiny_config(**overrides):
    values = dict(
        model_size="small",
        vocab_size=97,
        embedding_size=24,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        generator_hidden_size=0.5,
        max_seq_length=16,
        seed=3,
    )
    values.update(overrides)
    return PretrainingConfig(**values)


def hf_state_dict(weights, tower):
    """Our weights renamed to HuggingFace's ELECTRA names (written here, independently of any port)."""
    import torch

    state = {}
    for name, variable in weights.items():
        value = variable.numpy()
        head = "discriminator_predictions" if tower == "electra" else "generator_predictions"
        if name.startswith("electra/embeddings/"):
            key = name.replace("/", ".")
        elif name.startswith(tower + "/"):
            key = "electra." + name[len(tower) + 1 :].replace("/", ".")
        elif name.startswith(head):
            key = name.replace("/", ".").replace("dense_1", "dense_prediction")
        else:
            continue
        key = key.replace("layer_", "layer.").replace("output_bias", "bias")
        if key == "generator_predictions.bias":
            key = "generator_lm_head.bias"
        if key.endswith("_embeddings"):
            key += ".weight"
        if key.endswith(".kernel"):
            key, value = key[: -len("kernel")] + "weight", value.T
        key = key.replace(".gamma", ".weight").replace(".beta", ".bias")
        state[key] = torch.tensor(np.ascontiguousarray(value))
    if tower == "generator":
        state["generator_lm_head.weight"] = state["electra.embeddings.word_embeddings.weight"]
    return state


def test_logits_match_huggingface_electra():
    import torch
    from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

    config = tiny_config()
    model = Electra(config)
    ids = np.random.RandomState(0).randint(5, 97, (3, 16))
    mask = np.ones_like(ids)
    mask[1, 10:] = 0
    segments = np.zeros_like(ids)
    segments[:, 8:] = 1

    common = dict(
        vocab_size=97,
        embedding_size=24,
        max_position_embeddings=512,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    hf_models = {
        "electra": ElectraForPreTraining(
            ElectraConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48, **common)
        ),
        "generator": ElectraForMaskedLM(
            ElectraConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=1, intermediate_size=64, **common)
        ),
    }
    ours = {
        "electra": model.discriminator_logits(ids, mask, segments).numpy(),
        "generator": model.generator_logits(ids, mask, segments).numpy(),
    }
    for tower, hf in hf_models.items():
        state = hf_state_dict(model.weights, tower)
        missing, unexpected = hf.load_state_dict(state, strict=False)
        assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
        hf.eval()
        with torch.no_grad():
            theirs = hf(
                input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(segments)
            ).logits.numpy()
        assert theirs.shape == ours[tower].shape
        real = mask.astype(bool)
        np.testing.assert_allclose(ours[tower][real], theirs[real], atol=2e-4, rtol=1e-4)


def test_load_electra_restores_and_refuses_a_mismatched_config(tmp_path):
    config = tiny_config()
    model = Electra(config)
    config.to_json(tmp_path / "pretraining_config.json")
    checkpoint.save(tmp_path, 7, model.weights)
    ids = tf.constant(np.random.RandomState(1).randint(5, 97, (2, 16)), tf.int32)
    ones, zeros = tf.ones_like(ids), tf.zeros_like(ids)

    loaded = load_electra(tmp_path)
    np.testing.assert_array_equal(
        loaded.discriminator_logits(ids, ones, zeros), model.discriminator_logits(ids, ones, zeros)
    )
    assert not np.allclose(
        Electra(tiny_config(seed=4)).discriminator_logits(ids, ones, zeros),
        model.discriminator_logits(ids, ones, zeros),
    )
    with pytest.raises(ValueError, match="missing"):
        load_electra(tmp_path / "model.ckpt-7", tiny_config(num_hidden_layers=3))
    with pytest.raises(ValueError, match="another shape"):
        load_electra(tmp_path, tiny_config(intermediate_size=40))


def test_checkpoints_keep_the_newest(tmp_path):
    weights = {"w": tf.Variable([1.0, 2.0])}
    for step in (1, 2, 3, 4):
        checkpoint.save(tmp_path, step, weights, keep=2)
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["model.ckpt-3.index", "model.ckpt-4.index"]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-4")
    for step in (5, 6, 7):
        checkpoint.save(tmp_path / "all", step, weights, keep=0)
    assert len(list((tmp_path / "all").glob("*.index"))) == 3


def test_learning_rate_warms_up_then_decays_linearly_to_zero():
    config = PretrainingConfig(learning_rate=2e-4, num_train_steps=1000, num_warmup_steps=100)
    rates = [float(learning_rate_at(s, config)) for s in (0, 50, 100, 550, 1000)]
    np.testing.assert_allclose(rates, [0.0, 2e-4 * 0.95 * 0.5, 2e-4 * 0.9, 2e-4 * 0.45, 0.0], rtol=1e-5, atol=1e-12)


def test_adam_weight_decay_step_matches_the_original_update():
    config = PretrainingConfig(learning_rate=0.1, num_train_steps=10, num_warmup_steps=0, weight_decay_rate=0.01)
    weights = {
        "layer/dense/kernel": tf.Variable([[1.0, -2.0]]),
        "layer/LayerNorm/gamma": tf.Variable([1.0, 1.0]),
        "layer/dense/bias": tf.Variable([0.5, 0.5]),
    }
    optimizer = AdamWeightDecay(weights, config)
    gradient = tf.constant([3.0, 4.0])  # global norm 5: clipped to norm 1
    optimizer.apply_gradients(
        {"layer/dense/kernel": tf.zeros([1, 2]), "layer/LayerNorm/gamma": gradient, "layer/dense/bias": tf.zeros([2])},
        weights,
    )
    g = np.array([0.6, 0.8])
    m, v = 0.1 * g, 0.001 * g**2
    np.testing.assert_allclose(weights["layer/LayerNorm/gamma"].numpy(), 1.0 - 0.1 * m / (np.sqrt(v) + 1e-6), rtol=1e-5)
    # zero gradient: only the decoupled weight decay moves the kernel; LayerNorm and bias never decay
    np.testing.assert_allclose(
        weights["layer/dense/kernel"].numpy(), [[1.0 - 0.1 * 0.01, -2.0 * (1 - 0.1 * 0.01)]], rtol=1e-6
    )
    np.testing.assert_allclose(weights["layer/dense/bias"].numpy(), [0.5, 0.5])
    assert int(optimizer.global_step.numpy()) == 1
    assert set(optimizer.variables_by_name) == {"global_step"} | {f"{n}/adam_{s}" for n in weights for s in "mv"}


@pytest.mark.parametrize(
    "tpu, gpus, tf_config, expected",
    [
        ("my-tpu", [], None, ("tpu", "bfloat16")),
        (None, [], None, ("default", "float32")),
        (None, [(8, 0)], None, ("default", "bfloat16")),
        (None, [(7, 0)], None, ("default", "float32")),
        (None, [(9, 0), (9, 0)], None, ("mirrored", "bfloat16")),
        (None, [(7, 5), (7, 5)], None, ("mirrored", "float32")),
        (
            None,
            [(8, 0)] * 4,
            '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}',
            ("multi_worker", "bfloat16"),
        ),
        (
            None,
            [],
            '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}',
            ("multi_worker", "float32"),
        ),
    ],
)
def test_strategy_choice(tpu, gpus, tf_config, expected):
    assert tuple(distribute.choose(tpu, gpus, tf_config)) == expected
    assert distribute.choose(tpu, gpus, tf_config, mixed_precision=False).compute_dtype == "float32"


def test_cpu_gets_the_default_strategy_in_float32():
    plan, strategy = distribute.plan_and_strategy()
    assert plan == ("default", "float32")
    assert strategy.num_replicas_in_sync == 1


def test_bfloat16_compute_gives_the_float32_logits_closely():
    config = tiny_config()
    ids = tf.constant(np.random.RandomState(2).randint(5, 97, (2, 16)), tf.int32)
    ones, zeros = tf.ones_like(ids), tf.zeros_like(ids)
    full = Electra(config).discriminator_logits(ids, ones, zeros)
    half_model = Electra(config, compute_dtype="bfloat16")
    half = half_model.discriminator_logits(ids, ones, zeros)
    assert half.dtype == tf.float32 and half_model.weights["electra/embeddings/word_embeddings"].dtype == tf.float32
    np.testing.assert_allclose(half.numpy(), full.numpy(), atol=0.05)


MIRRORED_SCRIPT = """
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from plm.electra.config import PretrainingConfig
from plm.electra.train import Pretrainer
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
config = PretrainingConfig(vocab_size=50, embedding_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=1,
                           intermediate_size=32, max_seq_length=16, train_batch_size=8, num_warmup_steps=0,
                           cls_token_id=2, sep_token_id=3, mask_token_id=4, learning_rate=1e-2)
trainer = Pretrainer(config, strategy)
def dataset_fn(context):
    ids = np.random.RandomState(context.input_pipeline_id).randint(5, 50, (64, 16)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 2, 3
    features = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}
    return tf.data.Dataset.from_tensor_slices(features).repeat().batch(context.get_per_replica_batch_size(8))
iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
metrics = trainer.train_loop(iterator, tf.constant(3))
for name, weight in trainer.model.weights.items():
    copies = strategy.experimental_local_results(weight)
    assert len(copies) == 2 and np.array_equal(copies[0].numpy(), copies[1].numpy()), name
assert trainer.step == 3 and np.isfinite(float(metrics["total_loss"]))
trainer.save(OUTPUT)
print("replicas", strategy.num_replicas_in_sync)
"""


def test_the_same_train_step_runs_under_mirrored_strategy(tmp_path):
    """Two logical CPUs stand in for two GPUs: all-reduced gradients keep every replica's weights equal."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = f"OUTPUT = {str(tmp_path)!r}\n" + MIRRORED_SCRIPT
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(root)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    assert tf.train.load_variable(str(tmp_path), "global_step") == 3
