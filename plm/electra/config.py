"""ELECTRA pretraining configuration, with the names of the original `configure_pretraining.py`.

One dataclass holds the model shape and the training hyper-parameters. `model_size` fills in
the shape (small, base, large) wherever a field was left at None, exactly as the original
`get_bert_config` does; the generator's shape is derived from the discriminator's as the
original `get_generator_config` does.
"""

import dataclasses
import json
from pathlib import Path

MODEL_SIZES = {
    "small": {"hidden_size": 256, "num_hidden_layers": 12, "embedding_size": 128},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "embedding_size": None},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "embedding_size": None},
}


def discriminator_shape(
    model_size="small",
    hidden_size=None,
    num_hidden_layers=None,
    num_attention_heads=None,
    intermediate_size=None,
    embedding_size=None,
):
    """The discriminator's shape, as the original `get_bert_config` derives it: `model_size` fills in
    hidden size, layers and (for small) the embedding size wherever a value is None; heads default to
    hidden // 64 and the feed-forward size to 4 x hidden. The one place these rules live: pretraining
    (`PretrainingConfig`) and porting (`plm.porting.architectures`) both call it."""
    if model_size not in MODEL_SIZES:
        raise ValueError(f"model_size must be one of {', '.join(MODEL_SIZES)} (got {model_size!r})")
    preset = MODEL_SIZES[model_size]
    hidden = hidden_size or preset["hidden_size"]
    shape = {
        "hidden_size": hidden,
        "num_hidden_layers": num_hidden_layers or preset["num_hidden_layers"],
        "num_attention_heads": num_attention_heads or max(1, hidden // 64),
        "intermediate_size": intermediate_size or 4 * hidden,
        "embedding_size": embedding_size or preset["embedding_size"] or hidden,
    }
    if shape["hidden_size"] % shape["num_attention_heads"]:
        raise ValueError(
            f"hidden_size {shape['hidden_size']} is not a multiple of num_attention_heads {shape['num_attention_heads']}"
        )
    return shape


def generator_shape(hidden_size, num_hidden_layers, generator_hidden_size=0.25, generator_layers=1.0):
    """The generator's shape from the discriminator's, as the original `get_generator_config` does:
    `generator_hidden_size` x hidden wide, `generator_layers` x layers deep, heads max(1, hidden // 64),
    feed-forward 4 x its hidden size."""
    hidden = int(round(hidden_size * generator_hidden_size))
    return {
        "hidden_size": hidden,
        "num_hidden_layers": int(round(num_hidden_layers * generator_layers)),
        "num_attention_heads": max(1, hidden // 64),
        "intermediate_size": 4 * hidden,
    }


@dataclasses.dataclass
class PretrainingConfig:
    # model shape (None: filled in from model_size)
    model_size: str = "small"
    vocab_size: int = 30522
    embedding_size: int | None = None
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    # generator shape, as fractions of the discriminator's
    generator_hidden_size: float = 0.25
    generator_layers: float = 1.0
    # objective
    mask_prob: float = 0.15
    gen_weight: float = 1.0
    disc_weight: float = 50.0
    temperature: float = 1.0
    # data
    max_seq_length: int = 128
    train_batch_size: int = 128
    do_lower_case: bool = False
    tokenizer_dir: str | None = None
    # special token ids, taken from the tokenizer
    pad_token_id: int = 0
    cls_token_id: int = 101
    sep_token_id: int = 102
    mask_token_id: int = 103
    # optimisation
    learning_rate: float = 5e-4
    lr_decay_power: float = 1.0
    weight_decay_rate: float = 0.01
    num_train_steps: int = 1000000
    num_warmup_steps: int = 10000
    # checkpoints and logging
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    iterations_per_loop: int = 200
    seed: int = 0

    def __post_init__(self):
        shape = discriminator_shape(
            self.model_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
            self.embedding_size,
        )
        for key, value in shape.items():
            setattr(self, key, value)
        if self.max_seq_length > self.max_position_embeddings:
            raise ValueError(
                f"max_seq_length {self.max_seq_length} exceeds max_position_embeddings {self.max_position_embeddings}"
            )

    # the generator, derived as the original get_generator_config does
    @property
    def generator(self) -> dict:
        return generator_shape(
            self.hidden_size, self.num_hidden_layers, self.generator_hidden_size, self.generator_layers
        )

    # One property per generator size, each read from `generator`: the names the model and the benchmarks use.
    @property
    def generator_hidden(self) -> int:
        return self.generator["hidden_size"]

    @property
    def generator_num_layers(self) -> int:
        return self.generator["num_hidden_layers"]

    @property
    def generator_intermediate(self) -> int:
        return self.generator["intermediate_size"]

    @property
    def generator_heads(self) -> int:
        return self.generator["num_attention_heads"]

    @property
    def max_predictions_per_seq(self) -> int:
        return int((self.mask_prob + 0.005) * self.max_seq_length)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, values: dict) -> "PretrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown pretraining option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    @classmethod
    def from_json(cls, path) -> "PretrainingConfig":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
