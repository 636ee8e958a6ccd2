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
        if self.model_size not in MODEL_SIZES:
            raise ValueError(f"model_size must be one of {', '.join(MODEL_SIZES)} (got {self.model_size!r})")
        preset = MODEL_SIZES[self.model_size]
        if self.hidden_size is None:
            self.hidden_size = preset["hidden_size"]
        if self.num_hidden_layers is None:
            self.num_hidden_layers = preset["num_hidden_layers"]
        if self.num_attention_heads is None:
            self.num_attention_heads = max(1, self.hidden_size // 64)
        if self.intermediate_size is None:
            self.intermediate_size = 4 * self.hidden_size
        if self.embedding_size is None:
            self.embedding_size = preset["embedding_size"] or self.hidden_size
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}"
            )
        if self.max_seq_length > self.max_position_embeddings:
            raise ValueError(
                f"max_seq_length {self.max_seq_length} exceeds max_position_embeddings {self.max_position_embeddings}"
            )

    # the generator, derived as the original get_generator_config does
    @property
    def generator_hidden(self) -> int:
        return int(round(self.hidden_size * self.generator_hidden_size))

    @property
    def generator_num_layers(self) -> int:
        return int(round(self.num_hidden_layers * self.generator_layers))

    @property
    def generator_intermediate(self) -> int:
        return 4 * self.generator_hidden

    @property
    def generator_heads(self) -> int:
        return max(1, self.generator_hidden // 64)

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
