"""port_checkpoint: a checkpoint in the original ELECTRA variable names → HuggingFace, checked against TF."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

E, H, LAYERS, HEADS, G = 16, 32, 2, 2, 24  # embedding ≠ hidden ≠ generator hidden, so both projections exist
MAX_POSITIONS = 64


def training_config(vocab_size):
    """pretrain_plm's pretraining_config.json; heads set to neither HF's default (4) nor H // 64 (0 → 1)."""
    from plm.electra.config import PretrainingConfig

    # Keywords in the order of plm.electra.config.discriminator_shape's parameters: this test's values, no shared logic.
    return PretrainingConfig(
        model_size="small",
        vocab_size=vocab_size,
        embedding_size=E,
        hidden_size=H,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=2 * H,
        max_position_embeddings=MAX_POSITIONS,
        generator_hidden_size=G / H,
        generator_layers=0.5,
        max_seq_length=MAX_POSITIONS,
        do_lower_case=False,
    ).to_dict()


def release_hparams(vocab_size):
    """The same shape in the original release's hparams JSON (model_hparam_overrides)."""
    return {
        "model_size": "small",
        "vocab_size": vocab_size,
        "embedding_size": E,
        "do_lower_case": False,
        "generator_hidden_size": G / H,
        "generator_layers": 0.5,
        "model_hparam_overrides": {
            "hidden_size": H,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS,
            "intermediate_size": 2 * H,
            "max_position_embeddings": MAX_POSITIONS,
        },
    }


def electra_variables(vocab_size, seed=0):
    """Every variable a TF1 ELECTRA pretraining checkpoint holds (shapes as in the original release)."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    v = {
        "electra/embeddings/word_embeddings": w(vocab_size, E),
        "electra/embeddings/position_embeddings": w(MAX_POSITIONS, E),
        "electra/embeddings/token_type_embeddings": w(2, E),
        "electra/embeddings/LayerNorm/gamma": 1 + w(E),
        "electra/embeddings/LayerNorm/beta": w(E),
        "electra/embeddings_project/kernel": w(E, H),
        "electra/embeddings_project/bias": w(H),
        "generator/embeddings_project/kernel": w(E, G),
        "generator/embeddings_project/bias": w(G),
        "discriminator_predictions/dense/kernel": w(H, H),
        "discriminator_predictions/dense/bias": w(H),
        "discriminator_predictions/dense_1/kernel": w(H, 1),
        "discriminator_predictions/dense_1/bias": w(1),
        "generator_predictions/dense/kernel": w(G, E),
        "generator_predictions/dense/bias": w(E),
        "generator_predictions/LayerNorm/gamma": 1 + w(E),
        "generator_predictions/LayerNorm/beta": w(E),
        "generator_predictions/output_bias": w(vocab_size),
    }
    for tower, width, layers in (("electra", H, LAYERS), ("generator", G, 1)):
        for i in range(layers):
            p = f"{tower}/encoder/layer_{i}"
            for name in ("query", "key", "value"):
                v[f"{p}/attention/self/{name}/kernel"] = w(width, width)
                v[f"{p}/attention/self/{name}/bias"] = w(width)
            v[f"{p}/attention/output/dense/kernel"] = w(width, width)
            v[f"{p}/attention/output/dense/bias"] = w(width)
            v[f"{p}/intermediate/dense/kernel"] = w(width, 2 * width if tower == "electra" else 4 * width)
            v[f"{p}/intermediate/dense/bias"] = w(2 * width if tower == "electra" else 4 * width)
            v[f"{p}/output/dense/kernel"] = w(2 * width if tower == "electra" else 4 * width, width)
            v[f"{p}/output/dense/bias"] = w(width)
            for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
                v[f"{p}/{ln}/gamma"] = 1 + w(width)
                v[f"{p}/{ln}/beta"] = w(width)
    return v


def save_tf1_checkpoint(prefix, variables, with_slots=True):
    """Write variables under their TF1 names with SaveV2, plus Adam slots and global_step like the original."""
    import tensorflow as tf

    tensors = dict(variables)
    if with_slots:
        for name, value in variables.items():
            tensors[f"{name}/adam_m"] = np.zeros_like(value)
            tensors[f"{name}/adam_v"] = np.zeros_like(value)
        tensors["global_step"] = np.array(3, dtype=np.int64)
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[n]) for n in names],
    )
    return prefix


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tiny_tokenizer_dir):
    """A checkpoint directory like pretrain_plm's: model.ckpt-3 + pretraining_config.json."""
    from transformers import AutoTokenizer

    directory = tmp_path_factory.mktemp("pretrained")
    vocab_size = len(AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir)))
    config = training_config(vocab_size)
    (directory / "pretraining_config.json").write_text(json.dumps(config))
    variables = electra_variables(vocab_size)
    save_tf1_checkpoint(directory / "model.ckpt-3", variables)
    return directory, variables, config, tiny_tokenizer_dir


def reference_forward(variables, input_ids, mask):
    """The original ELECTRA discriminator forward in numpy (exact GELU), independent of the port."""
    from math import erf, sqrt

    gelu = np.vectorize(lambda x: 0.5 * x * (1 + erf(x / sqrt(2))))

    def ln(x, scope):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * variables[f"{scope}/gamma"] + variables[f"{scope}/beta"]

    def dense(x, scope):
        return x @ variables[f"{scope}/kernel"] + variables[f"{scope}/bias"]

    length = input_ids.shape[1]
    x = (
        variables["electra/embeddings/word_embeddings"][input_ids]
        + variables["electra/embeddings/position_embeddings"][:length]
    )
    x = x + variables["electra/embeddings/token_type_embeddings"][0]
    x = dense(ln(x, "electra/embeddings/LayerNorm"), "electra/embeddings_project")
    d = H // HEADS
    for i in range(LAYERS):
        p = f"electra/encoder/layer_{i}"
        q, k, v = (
            dense(x, f"{p}/attention/self/{n}").reshape(len(x), length, HEADS, d).transpose(0, 2, 1, 3)
            for n in ("query", "key", "value")
        )
        s = q @ k.transpose(0, 1, 3, 2) / sqrt(d) + (1 - mask[:, None, None, :]) * -1e9
        s = np.exp(s - s.max(-1, keepdims=True))
        c = ((s / s.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(len(x), length, H)
        x = ln(dense(c, f"{p}/attention/output/dense") + x, f"{p}/attention/output/LayerNorm")
        x = ln(dense(gelu(dense(x, f"{p}/intermediate/dense")), f"{p}/output/dense") + x, f"{p}/output/LayerNorm")
    return dense(gelu(dense(x, "discriminator_predictions/dense")), "discriminator_predictions/dense_1")[..., 0]


def test_port_round_trip_matches_tf_and_keeps_the_head_count(pretrained, tmp_path, capsys):
    import torch
    from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining

    directory, variables, config, tokenizer_dir = pretrained
    disc_dir, gen_dir = tmp_path / "disc", tmp_path / "gen"
    call_command(
        "port_checkpoint",
        str(directory),
        "--output",
        str(disc_dir),
        "--generator-output",
        str(gen_dir),
        "--tokenizer",
        str(tokenizer_dir),
        "--verify",
        "--verify-text",
        "보습력이 좋아요 아직 안 써봤어요",
        "--verify-text",
        "촉촉하고 순해요",
        "--format",
        "bin",
    )
    out = capsys.readouterr().out
    differences = [
        float(line.rsplit("difference ", 1)[1].split()[0]) for line in out.splitlines() if "difference" in line
    ]
    assert len(differences) == 2 and max(differences) <= 1e-4, out

    disc_config = json.loads((disc_dir / "config.json").read_text())
    assert disc_config["num_attention_heads"] == config["num_attention_heads"] == HEADS
    assert (disc_config["hidden_size"], disc_config["embedding_size"], disc_config["num_hidden_layers"]) == (
        H,
        E,
        LAYERS,
    )
    assert disc_config["intermediate_size"] == 2 * H and disc_config["max_position_embeddings"] == MAX_POSITIONS
    assert disc_config["vocab_size"] == config["vocab_size"] and disc_config["hidden_act"] == "gelu"
    gen_config = json.loads((gen_dir / "config.json").read_text())
    assert (gen_config["hidden_size"], gen_config["num_attention_heads"], gen_config["num_hidden_layers"]) == (G, 1, 1)
    for name in ("model.safetensors", "pytorch_model.bin", "tokenizer.json", "README.md"):
        assert (disc_dir / name).exists(), name

    # The written directory loads in transformers 5 and gives the original graph's logits (numpy, exact GELU).
    tokenizer = AutoTokenizer.from_pretrained(str(disc_dir))
    assert tokenizer.tokenize("미개봉") == AutoTokenizer.from_pretrained(str(tokenizer_dir)).tokenize("미개봉")
    batch = tokenizer(["써보고 후기 남길게요", "선크림 백탁 없어요 촉촉해요 재구매"], padding=True, return_tensors="np")
    expected = reference_forward(variables, batch["input_ids"], batch["attention_mask"].astype(np.float32))
    model = ElectraForPreTraining.from_pretrained(str(disc_dir)).eval()
    with torch.no_grad():
        logits = model(
            input_ids=torch.tensor(batch["input_ids"]), attention_mask=torch.tensor(batch["attention_mask"])
        ).logits
    real = batch["attention_mask"].astype(bool)
    assert np.abs(logits.numpy()[real] - expected[real]).max() <= 1e-4
    # One weight by hand: a TF kernel [in, out] becomes a torch weight [out, in].
    query = model.electra.encoder.layer[1].attention.self.query.weight.detach().numpy()
    np.testing.assert_array_equal(query, variables["electra/encoder/layer_1/attention/self/query/kernel"].T)

    generator = ElectraForMaskedLM.from_pretrained(str(gen_dir))
    np.testing.assert_array_equal(
        generator.generator_lm_head.weight.detach().numpy(), variables["electra/embeddings/word_embeddings"]
    )
    np.testing.assert_array_equal(
        generator.generator_lm_head.bias.detach().numpy(), variables["generator_predictions/output_bias"]
    )


@pytest.mark.parametrize(
    "damage, named",
    [
        ("drop", "electra/encoder/layer_1/output/dense/bias"),
        ("reshape", "electra/encoder/layer_0/intermediate/dense/kernel"),
        ("extra", "electra/encoder/layer_2/output/dense/bias"),
    ],
)
def test_a_damaged_checkpoint_is_refused_with_the_variable_named(pretrained, tmp_path, damage, named):
    directory, variables, config, tokenizer_dir = pretrained
    variables = dict(variables)
    if damage == "drop":
        del variables[named]
    elif damage == "reshape":
        variables[named] = variables[named][:, :-1]
    else:
        variables[named] = np.zeros(H, np.float32)
    save_tf1_checkpoint(tmp_path / "model.ckpt-1", variables)
    (tmp_path / "pretraining_config.json").write_text(json.dumps(config))
    output = tmp_path / "out"
    with pytest.raises(CommandError, match=named):
        call_command(
            "port_checkpoint",
            str(tmp_path / "model.ckpt-1"),
            "--output",
            str(output),
            "--tokenizer",
            str(tokenizer_dir),
        )
    assert not output.exists()


def test_a_release_hparams_json_ports_the_same_model(pretrained, tmp_path, capsys):
    directory, variables, config, tokenizer_dir = pretrained
    (tmp_path / "hparams.json").write_text(json.dumps(release_hparams(config["vocab_size"])))
    call_command(
        "port_checkpoint",
        str(directory / "model.ckpt-3"),
        "--config",
        str(tmp_path / "hparams.json"),
        "--tokenizer",
        str(tokenizer_dir),
        "--output",
        str(tmp_path / "out"),
        "--verify",
    )
    assert "difference" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "config.json").read_text())["num_attention_heads"] == HEADS


def test_an_object_based_checkpoint_is_refused(tmp_path, tiny_tokenizer_dir):
    import tensorflow as tf

    checkpoint = tf.train.Checkpoint(model=tf.Module())
    checkpoint.model.kernel = tf.Variable(np.zeros((2, 2), np.float32))
    prefix = checkpoint.write(str(tmp_path / "ckpt"))
    (tmp_path / "pretraining_config.json").write_text(json.dumps(training_config(100)))
    with pytest.raises(CommandError, match="object-based"):
        call_command(
            "port_checkpoint", prefix, "--output", str(tmp_path / "out"), "--tokenizer", str(tiny_tokenizer_dir)
        )


def test_release_hparams_follow_the_original_size_rules():
    from plm.porting import architectures

    discriminator, generator = architectures(
        {"model_size": "base", "vocab_size": 32200, "generator_hidden_size": 0.33333, "do_lower_case": False}
    )
    assert (discriminator.hidden_size, discriminator.num_attention_heads, discriminator.intermediate_size) == (
        768,
        12,
        3072,
    )
    assert discriminator.embedding_size == 768 and discriminator.num_hidden_layers == 12
    assert (generator.hidden_size, generator.num_attention_heads, generator.intermediate_size) == (256, 4, 1024)
    small, _ = architectures({"model_size": "small", "vocab_size": 30522, "embedding_size": 128})
    assert (small.hidden_size, small.num_attention_heads, small.intermediate_size, small.embedding_size) == (
        256,
        4,
        1024,
        128,
    )


def test_a_checkpoint_from_the_projects_tf2_electra_ports_and_verifies(tmp_path, tiny_tokenizer_dir, capsys):
    """The writer pretrain_plm uses (plm.electra: Electra + checkpoint.save), default small-preset shapes shrunk."""
    import torch
    from transformers import AutoTokenizer, ElectraForMaskedLM

    from plm.electra import checkpoint
    from plm.electra.config import PretrainingConfig
    from plm.electra.model import Electra

    vocab_size = len(AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir)))
    # The shape of every tiny config (tests/plm/test_electra.py, benchmarks/pretraining.py); the sizes are this test's.
    config = PretrainingConfig(
        model_size="small",
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        embedding_size=32,
        max_position_embeddings=64,
        max_seq_length=64,
        generator_hidden_size=0.5,
    )
    model = Electra(config, seed=3)
    config.to_json(tmp_path / "pretraining_config.json")
    checkpoint.save(tmp_path, step=7, variables=model.weights)
    call_command(
        "port_checkpoint",
        str(tmp_path),
        "--output",
        str(tmp_path / "disc"),
        "--generator-output",
        str(tmp_path / "gen"),
        "--tokenizer",
        str(tiny_tokenizer_dir),
        "--verify",
    )
    out = capsys.readouterr().out
    differences = [float(line.rsplit("difference ", 1)[1]) for line in out.splitlines() if "difference" in line]
    assert len(differences) == 2 and max(differences) <= 1e-4, out
    disc = json.loads((tmp_path / "disc" / "config.json").read_text())
    assert (disc["num_attention_heads"], disc["hidden_size"], disc["embedding_size"]) == (1, 64, 32)
    generator = ElectraForMaskedLM.from_pretrained(str(tmp_path / "gen"))
    ids = np.array([[2, 10, 11, 12, 3]], np.int32)
    expected = model.generator_logits(ids, np.ones_like(ids), np.zeros_like(ids)).numpy()
    with torch.no_grad():
        logits = generator(input_ids=torch.tensor(ids, dtype=torch.long)).logits.numpy()
    assert np.abs(logits - expected).max() <= 1e-4


def test_float16_storage_halves_the_files_and_loads_as_float32(pretrained, tmp_path, capsys):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification, ElectraForPreTraining

    directory, variables, _, tokenizer_dir = pretrained
    full, half = tmp_path / "full", tmp_path / "half"
    call_command("port_checkpoint", str(directory), "--output", str(full), "--tokenizer", str(tokenizer_dir))
    call_command(
        "port_checkpoint",
        str(directory),
        "--output",
        str(half),
        "--tokenizer",
        str(tokenizer_dir),
        "--storage-dtype",
        "float16",
        "--verify",
    )
    out = capsys.readouterr().out
    change = float(out.split("largest logit change on reloading ", 1)[1].split()[0])
    assert 0 < change < 0.05, out  # float16 rounding, no more

    with safe_open(str(half / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    size = lambda d: (d / "model.safetensors").stat().st_size  # noqa: E731
    assert size(half) < 0.55 * size(full)
    assert json.loads((half / "config.json").read_text())["dtype"] == "float32"
    # transformers 5 loads a checkpoint in its stored dtype unless config.json says otherwise: ours says float32
    for model in (
        ElectraForPreTraining.from_pretrained(str(half)),
        AutoModelForSequenceClassification.from_pretrained(str(half), num_labels=2),
    ):
        assert {p.dtype for p in model.parameters()} == {torch.float32}
    query = ElectraForPreTraining.from_pretrained(str(half)).electra.encoder.layer[1].attention.self.query.weight
    expected = variables["electra/encoder/layer_1/attention/self/query/kernel"].T
    np.testing.assert_allclose(query.detach().numpy(), expected, atol=1e-3)


def test_an_unknown_storage_dtype_is_refused(pretrained, tmp_path):
    from plm import porting

    directory, _, _, tokenizer_dir = pretrained
    with pytest.raises(porting.PortError, match="storage dtype 'int8'"):
        porting.port_checkpoint(
            directory,
            directory / "pretraining_config.json",
            {"discriminator": tmp_path / "x"},
            tokenizer_dir,
            storage_dtype="int8",
        )
    assert not (tmp_path / "x").exists()
