"""Over 500 lines: the weight table and every step of one port (config, checkpoint, mapping, tokenizer, --verify).

Port an ELECTRA TensorFlow checkpoint to HuggingFace PyTorch directories.

The checkpoint uses the variable names of the original ELECTRA release
(google-research/electra), which `pretrain_plm` also writes, so one port serves
our checkpoints and released ELECTRA / KoELECTRA ones. transformers 5 has no
TensorFlow loader, so the mapping is ours: `WEIGHT_TABLE` below, one row per
HuggingFace parameter.

Nothing is written unless every parameter of the HuggingFace model was filled
from the checkpoint with the right shape and every checkpoint variable of the
ported tower was used. The architecture (`config.json`) comes from the training
config alone, never from a default: a wrong head count would port silently.

TensorFlow is imported only to read the checkpoint (and to run the reference
forward of `verify_logits`); this module is imported by commands only.
"""

from __future__ import annotations

import collections.abc
import copy
import json
import re
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from transformers import (
        ElectraConfig,
        ElectraForMaskedLM,
        ElectraForPreTraining,
        PreTrainedModel,
        PreTrainedTokenizerBase,
    )

# --- The name mapping ------------------------------------------------------
#
# HuggingFace parameter, TF variable, transpose (TF kernels are [in, out],
# torch Linear weights are [out, in]; embeddings are not transposed).
# In TF names, {tower} is `electra` (discriminator) or `generator`, {emb} is the
# scope holding the embeddings (`electra`, shared, unless the generator has its
# own), and {i} is the layer index.
WEIGHT_TABLE = [
    # embeddings
    ("electra.embeddings.word_embeddings.weight", "{emb}/embeddings/word_embeddings", False),
    ("electra.embeddings.position_embeddings.weight", "{emb}/embeddings/position_embeddings", False),
    ("electra.embeddings.token_type_embeddings.weight", "{emb}/embeddings/token_type_embeddings", False),
    ("electra.embeddings.LayerNorm.weight", "{emb}/embeddings/LayerNorm/gamma", False),
    ("electra.embeddings.LayerNorm.bias", "{emb}/embeddings/LayerNorm/beta", False),
    ("electra.embeddings_project.weight", "{tower}/embeddings_project/kernel", True),
    ("electra.embeddings_project.bias", "{tower}/embeddings_project/bias", False),
    # transformer layers
    (
        "electra.encoder.layer.{i}.attention.self.query.weight",
        "{tower}/encoder/layer_{i}/attention/self/query/kernel",
        True,
    ),
    (
        "electra.encoder.layer.{i}.attention.self.query.bias",
        "{tower}/encoder/layer_{i}/attention/self/query/bias",
        False,
    ),
    (
        "electra.encoder.layer.{i}.attention.self.key.weight",
        "{tower}/encoder/layer_{i}/attention/self/key/kernel",
        True,
    ),
    ("electra.encoder.layer.{i}.attention.self.key.bias", "{tower}/encoder/layer_{i}/attention/self/key/bias", False),
    (
        "electra.encoder.layer.{i}.attention.self.value.weight",
        "{tower}/encoder/layer_{i}/attention/self/value/kernel",
        True,
    ),
    (
        "electra.encoder.layer.{i}.attention.self.value.bias",
        "{tower}/encoder/layer_{i}/attention/self/value/bias",
        False,
    ),
    (
        "electra.encoder.layer.{i}.attention.output.dense.weight",
        "{tower}/encoder/layer_{i}/attention/output/dense/kernel",
        True,
    ),
    (
        "electra.encoder.layer.{i}.attention.output.dense.bias",
        "{tower}/encoder/layer_{i}/attention/output/dense/bias",
        False,
    ),
    (
        "electra.encoder.layer.{i}.attention.output.LayerNorm.weight",
        "{tower}/encoder/layer_{i}/attention/output/LayerNorm/gamma",
        False,
    ),
    (
        "electra.encoder.layer.{i}.attention.output.LayerNorm.bias",
        "{tower}/encoder/layer_{i}/attention/output/LayerNorm/beta",
        False,
    ),
    (
        "electra.encoder.layer.{i}.intermediate.dense.weight",
        "{tower}/encoder/layer_{i}/intermediate/dense/kernel",
        True,
    ),
    ("electra.encoder.layer.{i}.intermediate.dense.bias", "{tower}/encoder/layer_{i}/intermediate/dense/bias", False),
    ("electra.encoder.layer.{i}.output.dense.weight", "{tower}/encoder/layer_{i}/output/dense/kernel", True),
    ("electra.encoder.layer.{i}.output.dense.bias", "{tower}/encoder/layer_{i}/output/dense/bias", False),
    ("electra.encoder.layer.{i}.output.LayerNorm.weight", "{tower}/encoder/layer_{i}/output/LayerNorm/gamma", False),
    ("electra.encoder.layer.{i}.output.LayerNorm.bias", "{tower}/encoder/layer_{i}/output/LayerNorm/beta", False),
    # discriminator head (ElectraForPreTraining)
    ("discriminator_predictions.dense.weight", "discriminator_predictions/dense/kernel", True),
    ("discriminator_predictions.dense.bias", "discriminator_predictions/dense/bias", False),
    ("discriminator_predictions.dense_prediction.weight", "discriminator_predictions/dense_1/kernel", True),
    ("discriminator_predictions.dense_prediction.bias", "discriminator_predictions/dense_1/bias", False),
    # generator head (ElectraForMaskedLM); the output matrix is the word-embedding table
    ("generator_predictions.dense.weight", "generator_predictions/dense/kernel", True),
    ("generator_predictions.dense.bias", "generator_predictions/dense/bias", False),
    ("generator_predictions.LayerNorm.weight", "generator_predictions/LayerNorm/gamma", False),
    ("generator_predictions.LayerNorm.bias", "generator_predictions/LayerNorm/beta", False),
    ("generator_lm_head.weight", "{emb}/embeddings/word_embeddings", False),
    ("generator_lm_head.bias", "generator_predictions/output_bias", False),
]

# Checkpoint variables that are not weights: optimizer slots and counters.
NOT_WEIGHTS = re.compile(r"(/adam_[mv]$|/Adam(_1)?$|^global_step$|/ExponentialMovingAverage$|temperature)")
# Variables each tower owns; anything else belongs to the other tower.
TOWER_SCOPES = {
    "discriminator": ("electra/", "discriminator_predictions/"),
    "generator": ("generator/", "generator_predictions/"),
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class PortError(Exception):
    """The checkpoint, its config or the tokenizer cannot be ported as asked."""


# --- The architecture, from the training config ------------------------------


@dataclass
class Architecture:
    vocab_size: int
    embedding_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    extra: dict[str, Any] = field(default_factory=dict)

    def hf_config(self, **kwargs: Any) -> ElectraConfig:
        from transformers import ElectraConfig

        return ElectraConfig(
            vocab_size=self.vocab_size,
            embedding_size=self.embedding_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            **kwargs,
        )


def read_training_config(path: str | Path) -> dict[str, Any]:
    """The training config: our `pretraining_config.json` or a released hparams JSON."""
    path = Path(path)
    if not path.is_file():
        raise PortError(
            f"{path}: no training config; pass --config (pretraining_config.json or the release's hparams JSON)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PortError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise PortError(f"{path}: expected a JSON object of ELECTRA hyperparameters")
    return config


BERT_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "hidden_act",
    "embedding_size",
)


def architectures(training_config: collections.abc.Mapping[str, Any]) -> tuple[Architecture, Architecture]:
    """(discriminator, generator) architectures, following the original release's rules.

    `model_size` picks hidden size, layers (and embedding size 128 for small);
    values set in the config itself (our `PretrainingConfig`) or in
    `model_hparam_overrides` (the original hparams) win; heads default to
    hidden // 64 and FF to 4 × hidden, exactly as `get_bert_config` does. The
    generator is `generator_hidden_size` × hidden wide and `generator_layers` ×
    layers deep, with heads max(1, hidden // 64) and FF 4 × its hidden size.
    """
    from plm.electra.config import MODEL_SIZES, discriminator_shape, generator_shape

    config = dict(training_config)
    if "vocab_size" not in config:
        raise PortError("the training config has no vocab_size")
    size = config.get("model_size", "small")
    if size not in MODEL_SIZES:
        raise PortError(f"unknown model_size {size!r}; expected one of {', '.join(MODEL_SIZES)}")
    bert = {key: config[key] for key in BERT_KEYS if config.get(key) is not None}
    bert.update(config.get("model_hparam_overrides") or {})
    act = bert.get("hidden_act", "gelu")
    if act != "gelu":
        raise PortError(
            f"hidden_act {act!r}: ELECTRA uses exact (erf) GELU, 'gelu'; refusing to port a different activation"
        )
    try:
        shape = discriminator_shape(
            size,
            **{
                k: bert.get(k)
                for k in (
                    "hidden_size",
                    "num_hidden_layers",
                    "num_attention_heads",
                    "intermediate_size",
                    "embedding_size",
                )
            },
        )
    except ValueError as exc:
        raise PortError(str(exc)) from None
    common = {
        "vocab_size": int(config["vocab_size"]),
        "embedding_size": int(shape["embedding_size"]),
        "max_position_embeddings": int(bert.get("max_position_embeddings") or 512),
        "type_vocab_size": int(bert.get("type_vocab_size") or 2),
    }
    discriminator = Architecture(
        **{k: int(v) for k, v in shape.items() if k != "embedding_size"},
        **common,
    )
    generator = Architecture(
        **generator_shape(
            discriminator.hidden_size,
            discriminator.num_hidden_layers,
            float(config.get("generator_hidden_size", 0.25)),
            float(config.get("generator_layers", 1.0)),
        ),
        **common,
    )
    fractions = {k: float(config[k]) for k in ("generator_hidden_size", "generator_layers") if k in config}
    for arch in (discriminator, generator):
        arch.extra.update(fractions, model_size=size)
        if config.get("do_lower_case") is not None:
            arch.extra["do_lower_case"] = bool(config["do_lower_case"])
        if arch.hidden_size % arch.num_attention_heads:
            raise PortError(f"hidden size {arch.hidden_size} is not a multiple of {arch.num_attention_heads} heads")
    return discriminator, generator


# --- Reading the checkpoint ---------------------------------------------------


def checkpoint_prefix(path: str | Path) -> str:
    """The checkpoint prefix for a prefix, an .index/.data file or a directory (its latest)."""
    import tensorflow as tf

    path = Path(path)
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return latest
        indexes = sorted(path.glob("*.index"), key=lambda p: p.stat().st_mtime)
        if not indexes:
            raise PortError(f"{path}: no TensorFlow checkpoint (no 'checkpoint' file and no *.index) in this directory")
        return str(indexes[-1].with_suffix(""))
    if path.suffix == ".index" or ".data-" in path.name:
        return str(path.parent / path.name.split(".index")[0].split(".data-")[0])
    if not Path(f"{path}.index").exists():
        raise PortError(f"{path}: no checkpoint here (expected {path}.index)")
    return str(path)


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """{TF name: numpy array} for every weight in the checkpoint (no optimizer slots)."""
    import tensorflow as tf

    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as exc:  # tf raises several kinds for a damaged file
        raise PortError(f"{prefix}: the checkpoint does not read: {exc}") from exc
    names = sorted(reader.get_variable_to_shape_map())
    object_based = [n for n in names if n.endswith(".ATTRIBUTES/VARIABLE_VALUE")]
    if object_based and not any(n.startswith("electra/") for n in names):
        raise PortError(
            f"{prefix}: an object-based tf.train.Checkpoint (names like {object_based[0]!r}); "
            "save with the original ELECTRA variable names (electra/encoder/layer_0/...)"
        )
    return {n: reader.get_tensor(n) for n in names if not NOT_WEIGHTS.search(n) and "ATTRIBUTES" not in n}


# --- The mapping ----------------------------------------------------------------


@dataclass
class Mapping:
    """Which TF variable fills each HF parameter, and what did not fit."""

    tensors: dict[str, np.ndarray]  # HF name -> numpy array, transposed as needed
    missing: list[tuple[str, str]]  # (HF name, TF name) the checkpoint lacks
    # (HF name, TF name, expected HF shape, TF shape, transposed)
    misshapen: list[tuple[str, str, tuple[int, ...], tuple[int, ...], bool]]
    unexpected: list[str]  # TF variables of this tower that no HF parameter uses
    unmapped: list[str]  # HF parameters with no row in WEIGHT_TABLE

    @property
    def complete(self) -> bool:
        return not (self.missing or self.misshapen or self.unexpected or self.unmapped)

    def problems(self) -> list[str]:
        lines = []
        lines += [f"missing in the checkpoint: {tf} (for {hf})" for hf, tf in self.missing]
        lines += [
            f"wrong shape: {tf} is {list(shape)}, {hf} needs {list(want)}{' after transposing' if transposed else ''}"
            for hf, tf, want, shape, transposed in self.misshapen
        ]
        lines += [f"unexpected in the checkpoint (not used by the model): {tf}" for tf in self.unexpected]
        lines += [f"no mapping for the HuggingFace parameter {hf}" for hf in self.unmapped]
        return lines


def _row_pattern(hf_pattern):
    return re.compile("^" + re.escape(hf_pattern).replace(re.escape("{i}"), r"(?P<i>\d+)") + "$")


_ROWS = [(_row_pattern(hf), tf, transpose) for hf, tf, transpose in WEIGHT_TABLE]


def tf_name_for(hf_name: str, tower: str, emb: str) -> tuple[str, bool] | None:
    """(TF name, transpose) for a HuggingFace parameter, or None when the table has no row."""
    for pattern, tf_pattern, transpose in _ROWS:
        match = pattern.match(hf_name)
        if match:
            return tf_pattern.format(tower=tower, emb=emb, i=match.groupdict().get("i")), transpose
    return None


def map_weights(
    variables: collections.abc.Mapping[str, np.ndarray],
    hf_shapes: collections.abc.Mapping[str, Sequence[int]],
    which: str,
) -> Mapping:
    """Fill every HF parameter (name -> shape) from checkpoint variables, for one tower."""
    tower = "electra" if which == "discriminator" else "generator"
    # The generator reuses the discriminator's embeddings unless it was trained with its own.
    emb = "generator" if which == "generator" and "generator/embeddings/word_embeddings" in variables else "electra"
    tensors, missing, misshapen, unmapped, used = {}, [], [], [], set()
    for hf_name, want in hf_shapes.items():
        found = tf_name_for(hf_name, tower, emb)
        if found is None:
            unmapped.append(hf_name)
            continue
        tf_name, transpose = found
        if tf_name not in variables:
            missing.append((hf_name, tf_name))
            continue
        value = variables[tf_name]
        value = value.T if transpose else value
        if tuple(value.shape) != tuple(want):
            misshapen.append((hf_name, tf_name, tuple(want), tuple(variables[tf_name].shape), transpose))
            continue
        tensors[hf_name] = value
        used.add(tf_name)
    own = TOWER_SCOPES[which] + ((f"{emb}/embeddings/",) if which == "generator" else ())
    unexpected = sorted(name for name in variables if name.startswith(own) and name not in used)
    return Mapping(tensors, missing, misshapen, unexpected, unmapped)


# --- Building and writing the HuggingFace model ------------------------------------


def build_model(which: str, arch: Architecture) -> ElectraForPreTraining | ElectraForMaskedLM:
    import torch
    from transformers import ElectraForMaskedLM, ElectraForPreTraining

    torch.manual_seed(0)
    model_class = ElectraForPreTraining if which == "discriminator" else ElectraForMaskedLM
    return model_class(arch.hf_config(architectures=[model_class.__name__]))


def port_tower(
    variables: collections.abc.Mapping[str, np.ndarray], arch: Architecture, which: str
) -> tuple[ElectraForPreTraining | ElectraForMaskedLM, Mapping]:
    """The HF model for one tower, filled from the checkpoint; PortError if anything does not fit."""
    import torch

    model = build_model(which, arch)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    mapping = map_weights(variables, shapes, which)
    if not mapping.complete:
        problems = mapping.problems()
        shown = "\n  ".join(problems[:30]) + (f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else "")
        raise PortError(
            f"the {which} does not port: {len(problems)} problem(s); nothing was written.\n  {shown}\n"
            "Check that --config is the config this checkpoint was trained with (sizes, layers, vocabulary)."
        )
    state = {name: torch.from_numpy(value.copy()).float() for name, value in mapping.tensors.items()}
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys, result
    model.eval()
    return model, mapping


def load_tokenizer(tokenizer_dir: str | Path, arch: Architecture) -> PreTrainedTokenizerBase:
    """The pretraining tokenizer (tokenizer.json), or one built from a release's vocab.txt."""
    from transformers import ElectraTokenizerFast

    from .vocab import load_tokenizer as load_fast_tokenizer

    source = Path(tokenizer_dir)
    if (source / "tokenizer.json").exists():
        try:
            tokenizer = load_fast_tokenizer(source)
        except ValueError as exc:
            raise PortError(str(exc)) from None
    elif (source / "vocab.txt").exists() or (source.is_file() and source.name == "vocab.txt"):
        vocab = source if source.is_file() else source / "vocab.txt"
        lower = arch.extra.get("do_lower_case", False)
        tokenizer = ElectraTokenizerFast(
            vocab_file=str(vocab), do_lower_case=lower, strip_accents=None if lower else False
        )
    else:
        raise PortError(
            f"{source}: no tokenizer.json or vocab.txt; pass --tokenizer with the tokenizer used in pretraining"
        )
    if len(tokenizer) > arch.vocab_size:
        raise PortError(
            f"{source}: the tokenizer has {len(tokenizer)} tokens but the model's vocabulary is {arch.vocab_size}; "
            "this is not the tokenizer the checkpoint was trained with"
        )
    return tokenizer


def write_tokenizer(tokenizer_dir: str | Path, tokenizer: PreTrainedTokenizerBase, output: str | Path) -> None:
    """Copy the tokenizer files as they are (cased, as trained); a vocab.txt-only tokenizer is saved."""
    source = Path(tokenizer_dir)
    if (source / "tokenizer.json").exists():
        for name in TOKENIZER_FILES:
            if (source / name).exists():
                shutil.copy2(source / name, Path(output) / name)
    else:
        tokenizer.save_pretrained(str(output))


STORAGE_DTYPES = ("float32", "float16")


def save_model(
    model: PreTrainedModel,
    output: str | Path,
    formats: Collection[str] = ("safetensors",),
    storage_dtype: str = "float32",
) -> Path:
    """config.json + model.safetensors (+ pytorch_model.bin). With storage_dtype float16 the weights are stored
    at half the size, and config.json still says float32, so `from_pretrained` (whose default dtype in
    transformers 5 is the checkpoint's) loads them as float32: compute stays float32 on a CPU."""
    import torch

    if storage_dtype not in STORAGE_DTYPES:
        raise PortError(f"storage dtype {storage_dtype!r}: one of {', '.join(STORAGE_DTYPES)}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    stored = model if storage_dtype == "float32" else copy.deepcopy(model).to(torch.float16)
    stored.save_pretrained(str(output))
    if storage_dtype != "float32":
        config_path = output / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["dtype"] = "float32"
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if "bin" in formats:
        torch.save(stored.state_dict(), output / "pytorch_model.bin")
    return output


def model_card(which: str, source: str | Path, arch: Architecture, training_config_path: str | Path) -> str:
    return (
        f"# ELECTRA {which} (ported)\n\n"
        f"Ported from the TensorFlow checkpoint `{source}` with `manage.py port_checkpoint`, "
        f"training config `{training_config_path}`.\n\n"
        f"- vocabulary {arch.vocab_size}, embedding {arch.embedding_size}, hidden {arch.hidden_size}, "
        f"{arch.num_hidden_layers} layers, {arch.num_attention_heads} attention heads, FF {arch.intermediate_size}, "
        f"{arch.max_position_embeddings} positions, exact GELU\n"
        "- load with `ElectraForPreTraining` / `ElectraForMaskedLM`, or fine-tune with "
        "`manage.py finetune_classifier --model <this directory>`\n"
    )


# --- --verify: the same batch through TensorFlow and PyTorch ---------------------------


def tf_logits(
    checkpoint: str | Path,
    discriminator: Architecture,
    which: str,
    input_ids: np.ndarray,
    input_mask: np.ndarray,
    segment_ids: np.ndarray,
) -> np.ndarray:
    """Logits of the project's TF2 ELECTRA (`plm.electra`), restored from the checkpoint."""
    import tensorflow as tf

    from plm.electra.config import PretrainingConfig
    from plm.electra.model import load_electra

    arch = discriminator
    config = PretrainingConfig(
        model_size=arch.extra.get("model_size", "small"),
        vocab_size=arch.vocab_size,
        embedding_size=arch.embedding_size,
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        intermediate_size=arch.intermediate_size,
        max_position_embeddings=arch.max_position_embeddings,
        max_seq_length=min(128, arch.max_position_embeddings),
        type_vocab_size=arch.type_vocab_size,
        generator_hidden_size=arch.extra.get("generator_hidden_size", 0.25),
        generator_layers=arch.extra.get("generator_layers", 1.0),
    )
    try:
        model = load_electra(checkpoint_prefix(checkpoint), config)
    except ValueError as exc:
        raise PortError(f"--verify: the TensorFlow model does not load: {exc}") from exc
    args = [tf.constant(a, tf.int32) for a in (input_ids, input_mask, segment_ids)]
    logits = model.discriminator_logits(*args) if which == "discriminator" else model.generator_logits(*args)
    return logits.numpy()


def verification_batch(
    tokenizer: PreTrainedTokenizerBase, arch: Architecture, texts: Sequence[str] | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch of real-looking inputs: tokenised texts when given, else random ids, with padding."""
    import numpy as np

    if texts:
        encoded = tokenizer(
            list(texts), truncation=True, max_length=min(64, arch.max_position_embeddings), padding=True
        )
        ids = np.array(encoded["input_ids"], dtype=np.int32)
        mask = np.array(encoded["attention_mask"], dtype=np.int32)
    else:
        rng = np.random.default_rng(seed)
        length = min(24, arch.max_position_embeddings)
        ids = rng.integers(5, arch.vocab_size, size=(4, length)).astype(np.int32)
        mask = np.ones_like(ids)
        mask[1, length // 2 :] = 0
        ids[mask == 0] = 0
    segments = np.zeros_like(ids)
    return ids, mask, segments


def torch_logits(
    model: PreTrainedModel, input_ids: np.ndarray, input_mask: np.ndarray, segment_ids: np.ndarray
) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = model(
            input_ids=torch.as_tensor(input_ids, dtype=torch.long),
            attention_mask=torch.as_tensor(input_mask, dtype=torch.long),
            token_type_ids=torch.as_tensor(segment_ids, dtype=torch.long),
        )
    return out.logits.float().numpy()


def verify_logits(
    model: PreTrainedModel,
    checkpoint: str | Path,
    discriminator: Architecture,
    which: str,
    batch: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> float:
    """Largest |TF − PyTorch| logit difference over the real (unpadded) positions."""
    import numpy as np

    ids, mask, segments = batch
    reference = tf_logits(checkpoint, discriminator, which, ids, mask, segments)
    ported = torch_logits(model, ids, mask, segments)
    real = mask.astype(bool)
    return float(np.max(np.abs(reference[real] - ported[real])))


# --- The whole port -------------------------------------------------------------------------


@dataclass
class PortResult:
    which: str
    output: Path
    arch: Architecture
    weights: int
    max_difference: float | None = None
    storage_difference: float | None = None  # float16 storage, --verify: largest logit change after reloading


def port_checkpoint(
    checkpoint: str | Path,
    config_path: str | Path,
    outputs: collections.abc.Mapping[str, str | Path],
    tokenizer_dir: str | Path,
    formats: Collection[str] = ("safetensors",),
    verify: bool = False,
    verify_texts: Sequence[str] | None = None,
    tolerance: float = 1e-4,
    storage_dtype: str = "float32",
) -> list[PortResult]:
    """Port each tower in `outputs` ({"discriminator": dir, "generator": dir}); write only once all fit.
    storage_dtype float16 halves the files (`save_model`); with `verify` the written tower is reloaded and its
    largest logit change on the verification batch recorded (`storage_difference`)."""
    if storage_dtype not in STORAGE_DTYPES:
        raise PortError(f"storage dtype {storage_dtype!r}: one of {', '.join(STORAGE_DTYPES)}")
    towers = list(outputs)
    training_config = read_training_config(config_path)
    discriminator, generator = architectures(training_config)
    variables = read_checkpoint(checkpoint)
    if not variables:
        raise PortError(f"{checkpoint}: the checkpoint holds no weights")
    ported = []
    for which in towers:
        arch = discriminator if which == "discriminator" else generator
        model, mapping = port_tower(variables, arch, which)
        ported.append((which, arch, model, mapping))
    results = []
    for which, arch, model, mapping in ported:
        tokenizer = load_tokenizer(tokenizer_dir, arch)
        result = PortResult(which, Path(outputs[which]), arch, len(mapping.tensors))
        if verify:
            batch = verification_batch(tokenizer, arch, verify_texts)
            result.max_difference = verify_logits(model, checkpoint, discriminator, which, batch)
            if result.max_difference > tolerance:
                raise PortError(
                    f"--verify: the {which}'s logits differ from TensorFlow by "
                    f"{result.max_difference:.3g} (> {tolerance:g}); nothing was written"
                )
        results.append((result, model, tokenizer))
    for result, model, tokenizer in results:
        save_model(model, result.output, formats, storage_dtype)
        if verify and storage_dtype != "float32":
            import numpy as np

            batch = verification_batch(tokenizer, result.arch, verify_texts)
            reloaded = type(model).from_pretrained(str(result.output)).eval()
            before, after = torch_logits(model, *batch), torch_logits(reloaded, *batch)
            result.storage_difference = float(np.max(np.abs(before - after)[batch[1].astype(bool)]))
        write_tokenizer(tokenizer_dir, tokenizer, result.output)
        (result.output / "README.md").write_text(
            model_card(result.which, checkpoint, result.arch, config_path), encoding="utf-8"
        )
    return [result for result, _, _ in results]
