"""Over 500 lines: the loop, its evaluation, the baselines beside it, calibration and the model card are one run's parts.

Fine-tune an ELECTRA (any local HuggingFace model directory) into a sequence classifier.

A plain PyTorch loop, small enough to read in one go: AdamW with linear warm-up
and decay, batches padded to their longest text, evaluation on the validation
split after every epoch, early stopping on the validation metric (the best
epoch's weights are the ones kept), a fixed seed. The output is a model
directory `register_classifier` accepts, with `metrics.json`, the validation
and test `predictions.jsonl` the metrics were computed from, and a model card.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .evaluation import classification_metrics

if TYPE_CHECKING:
    import torch
    from transformers import BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

    from .datasets import LabelledSet


@dataclass
class FinetuneConfig:
    # Fields in the shape of plm.electra.config.PretrainingConfig's; the values are fine-tuning's own.
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    seed: int = 42
    patience: int = 2  # epochs without a better validation metric before stopping
    metric: str = ""  # "" = f1 for binary tasks (the positive class is rare), f1_micro otherwise
    eval_batch_size: int = 64
    threads: int = 0
    init: str = "pretrained"  # "random": the model directory's architecture and tokenizer, new weights
    unlabelled_weight: float = 1.0  # weight of a soft-target (teacher-scored) example against a hand label
    calibration: str = "platt"  # fitted on validation for binary tasks; "" = none
    preprocess: str = ""  # "kiwi-morphemes": the model reads Kiwi morphemes (plm.morphemes), saved in config.json
    companion: str = ""  # "morph-baseline": stack the morpheme regression into the calibration (companion.json)
    gift_as: str = ""  # unused task: the label gift reviews were trained and evaluated as ("" = left out); a record
    device: str = ""  # "" = a CUDA GPU where torch sees one, else the CPU; or "cpu", "cuda", "cuda:1"
    head_seed: int | None = None  # seed of the new classification head's weights (None: `seed`); runs that share it
    # and differ in `seed` (the data order, dropout) start from the same weights, so their weights can be averaged


class FinetuneError(Exception):
    """The model or the data cannot be fine-tuned as asked."""


def set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str = "") -> str:
    """The torch device to train on: `name` where given, else "cuda" where torch sees a GPU, else "cpu"."""
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def on_device(batch: BatchEncoding, device: Any) -> BatchEncoding:
    """The batch's tensors on `device` (its other values as they are); the CPU's batches are returned unchanged."""
    import torch

    if str(device) == "cpu":
        return batch
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            batch[key] = value.to(device, non_blocking=True)
    return batch


def load_model(
    model_dir: str | Path,
    label_names: Sequence[str],
    init: str = "pretrained",
    problem_type: str | None = None,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and a sequence classifier with a fresh head for these labels.

    init "random": the directory's config.json and tokenizer only, with newly initialised weights
    (what pretraining is measured against, and the start of a CPU-sized student).
    problem_type: saved in config.json ("multi_label_classification" for the attribute model's sigmoids).
    Weights load as float32 whatever their stored dtype (a float16 file is trained in float32).
    """
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from .vocab import load_tokenizer

    directory = Path(model_dir)
    if not (directory / "config.json").exists():
        raise FinetuneError(
            f"{model_dir}: no config.json; pass a HuggingFace model directory (port_checkpoint writes one)"
        )
    try:
        tokenizer = load_tokenizer(directory)
    except Exception as exc:
        raise FinetuneError(f"{model_dir}: the tokenizer does not load: {exc}") from exc
    labels = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
    if problem_type:
        labels["problem_type"] = problem_type
    if init == "random":
        config = AutoConfig.from_pretrained(str(directory), **labels)
        return tokenizer, AutoModelForSequenceClassification.from_config(config)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(directory),
            **labels,
            ignore_mismatched_sizes=True,  # a classifier with another label count gets a new head
            dtype=torch.float32,
        )
    except Exception as exc:
        raise FinetuneError(f"{model_dir}: the model does not load as a sequence classifier: {exc}") from exc
    return tokenizer, model


def write_architecture(
    tokenizer_dir: str | Path,
    output: str | Path,
    hidden_size: int = 128,
    layers: int = 4,
    embedding_size: int | None = None,
    max_length: int = 512,
) -> Path:
    """A config.json and tokenizer for an ELECTRA of this shape (to start from random weights).

    Heads and intermediate size come from `plm.electra.config` (the one place that derives them).
    """
    from transformers import ElectraConfig

    from .electra.config import PretrainingConfig
    from .vocab import load_tokenizer

    try:
        tokenizer = load_tokenizer(tokenizer_dir)
    except Exception as exc:
        raise FinetuneError(f"{tokenizer_dir}: the tokenizer does not load: {exc}") from exc
    try:
        shape = PretrainingConfig(
            model_size="small",
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=layers,
            embedding_size=embedding_size or hidden_size,
            max_position_embeddings=max_length,
            max_seq_length=min(128, max_length),
        )
    except ValueError as exc:
        raise FinetuneError(str(exc)) from None
    config = ElectraConfig(
        vocab_size=shape.vocab_size,
        embedding_size=shape.embedding_size,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id or 0,
    )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(output))
    tokenizer.save_pretrained(str(output))
    return output


# Below this, the encoder's last layer has lost (almost) all difference between tokens.
COLLAPSED_SPREAD = 0.05


def representation_spread(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, encoded: Sequence[Sequence[int]]
) -> float:
    """How much the last hidden layer still tells tokens apart, relative to the embedding layer.

    The standard deviation across real tokens (averaged over hidden units) of the last layer, divided
    by the same for the embedding output: about 1 for a healthy or random encoder, near 0 for one whose
    pretraining collapsed to a constant (every token the same vector), which fine-tuning cannot undo.
    """
    import torch

    if not encoded:
        return float("nan")
    batch = tokenizer.pad({"input_ids": list(encoded)}, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        hidden = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
        ).hidden_states
    real = batch["attention_mask"].bool()
    first, last = hidden[0][real].float(), hidden[-1][real].float()
    return float(last.std(0).mean() / first.std(0).mean().clamp_min(1e-12))


def encode(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def batches(
    encoded: Sequence[Sequence[int]],
    labels: Sequence[int],
    batch_size: int,
    tokenizer: PreTrainedTokenizerBase,
    shuffle: bool,
    rng: random.Random | None = None,
    targets: Sequence[Sequence[float]] | None = None,
    weights: Sequence[float] | None = None,
) -> Iterator[tuple[list[int], BatchEncoding]]:
    """Padded batches; with `targets` ([n, classes] floats: one-hot hand labels or a teacher's
    probabilities) each batch carries them as "targets" beside the integer "labels"."""
    import torch

    order = list(range(len(encoded)))
    if shuffle:
        rng.shuffle(order)
    else:  # evaluation: length-sorted batches pad least
        order.sort(key=lambda i: len(encoded[i]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in indices]}, return_tensors="pt")
        batch["labels"] = torch.tensor([labels[i] for i in indices], dtype=torch.long)
        if targets is not None:
            batch["targets"] = torch.tensor([targets[i] for i in indices], dtype=torch.float)
            batch["weights"] = torch.tensor([weights[i] for i in indices], dtype=torch.float) if weights else None
        yield indices, batch


def predict(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    encoded: Sequence[Sequence[int]],
    labels: Sequence[int],
    batch_size: int,
    desc: str | None = None,
    activation: str = "softmax",
) -> list[list[float]]:
    """Softmax probabilities [n, classes], in input order (activation "sigmoid": one per output, multi-label)."""
    import torch
    from tqdm import tqdm

    model.eval()
    device = next(model.parameters()).device
    probabilities = [None] * len(encoded)
    steps = math.ceil(len(encoded) / batch_size)
    with torch.inference_mode():
        for indices, batch in tqdm(
            batches(encoded, labels, batch_size, tokenizer, shuffle=False),
            total=steps,
            desc=desc,
            leave=False,
            disable=desc is None,
        ):
            batch = on_device(batch, device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            scores = torch.sigmoid(logits.float()) if activation == "sigmoid" else torch.softmax(logits.float(), dim=-1)
            for i, row in zip(indices, scores.tolist()):
                probabilities[i] = row
    return probabilities


def pick_metric(config: FinetuneConfig, label_names: Sequence[str]) -> str:
    if config.metric:
        return config.metric
    return "f1" if len(label_names) == 2 else "f1_micro"


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy against probability targets (one-hot for hand labels, a teacher's for the pool)."""
    import torch

    losses = -(targets * torch.log_softmax(logits.float(), dim=-1)).sum(dim=-1)
    if weights is None:
        return losses.mean()
    return (losses * weights).sum() / weights.sum()


# --- the training loop's parts (finetune here, plm.attributes_model.train) -----------------------

NO_DECAY = ("bias", "LayerNorm.weight")  # parameter names that end so get no weight decay


def optimizer_and_schedule(
    model: PreTrainedModel, config: FinetuneConfig, train_examples: int
) -> tuple[torch.optim.Optimizer, Any, int]:
    """AdamW (config.weight_decay on all but biases and LayerNorm weights) with a linear warm-up over
    config.warmup_ratio of the steps, then linear decay to 0 at the end of config.epochs. Returns the
    optimiser, the scheduler and the steps per epoch (batches of config.batch_size)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(NO_DECAY)],
            "weight_decay": config.weight_decay,
        },
        {"params": [p for n, p in model.named_parameters() if n.endswith(NO_DECAY)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    steps_per_epoch = math.ceil(train_examples / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler, steps_per_epoch


def train_epoch(
    model: PreTrainedModel,
    train_batches: Iterable[tuple[list[int], BatchEncoding]],
    loss_of: Callable[[torch.Tensor, BatchEncoding], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    steps: int,
    desc: str,
) -> tuple[list[float], int, float]:
    """One epoch over `train_batches` (from `batches`): per batch the loss (`loss_of(logits, batch)`),
    its gradient clipped to norm 1.0, one optimiser and scheduler step. Returns the batches' losses,
    the examples seen and the seconds taken."""
    import torch
    from tqdm import tqdm

    model.train()
    device = next(model.parameters()).device
    started, losses, seen = time.perf_counter(), [], 0
    progress = tqdm(train_batches, total=steps, desc=desc, leave=False)
    for _, batch in progress:
        batch = on_device(batch, device)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = loss_of(logits, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        seen += len(batch["labels"])
        progress.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}")
    return losses, seen, time.perf_counter() - started


class EarlyStopping:
    """The best epoch by a validation score (anything ordered: a float, a tuple whose later items break
    ties), its weights kept; `patience` epochs in a row without a better score end training."""

    def __init__(self, patience: int, floor: Any = -1.0) -> None:
        self.patience, self.score, self.epoch, self.state, self.waited = patience, floor, 0, None, 0

    def stop(self, model: PreTrainedModel, epoch: int, score: Any) -> bool:
        """Record the epoch's score (and the weights, when it is the best so far); True when training
        should stop."""
        if score > self.score:
            self.score, self.epoch, self.waited = score, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
            return False
        self.waited += 1
        return self.waited >= self.patience


COMPARED = ("baseline", "morph_baseline", "keyword_rule")
COMPARED_NAMES = {
    "baseline": "baseline (char n-gram LR)",
    "morph_baseline": "morpheme LR",
    "keyword_rule": "keyword rule",
}
COMPARED_KEYS = ("auroc", "average_precision", "f1", "precision", "recall", "ece")


def comparison_scores(
    data: LabelledSet,
    split_texts: Mapping[str, Sequence[str]],
    reader: Callable[[Sequence[str]], list[str]] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """The baseline and the morpheme regression (both fitted on the train split) and the keyword rule,
    on each split's texts (`reader`: the morphemes worked out beforehand, see `finetune`)."""
    from .baseline import fit_baseline
    from .evaluation import keyword_rule_scores

    train_texts, train_labels, _ = data.split("train")
    baseline = fit_baseline(train_texts, train_labels)
    morph = fit_baseline(train_texts, train_labels, "morph", reader)
    return {
        split: {
            "baseline": baseline.scores(texts),
            "morph_baseline": morph.scores(texts),
            "keyword_rule": keyword_rule_scores(texts),
        }
        for split, texts in split_texts.items()
    }


def suggest_threshold(
    val_labels: Sequence[int],
    val_scores: Sequence[float],
    test_labels: Sequence[int],
    test_scores: Sequence[float],
    precision: float = 0.9,
    least: int = 5,
) -> dict[str, Any] | None:
    """The lowest threshold (0.50–0.99) whose validation precision reaches `precision` with at least
    `least` reviews above it, and what it is worth on the test split; None when none qualifies."""
    import numpy as np

    from .evaluation import threshold_table

    grid = [round(t, 2) for t in np.arange(0.50, 1.0, 0.01)]
    for row in threshold_table(val_labels, val_scores, grid):
        if row["count_above"] >= least and row["precision"] >= precision:
            [test] = threshold_table(test_labels, test_scores, [row["threshold"]]) if len(test_labels) else [None]
            return {"threshold": row["threshold"], "target_precision": precision, "validation": row, "test": test}
    return None


def finetune(
    model_dir: str | Path,
    data: LabelledSet,
    output: str | Path,
    config: FinetuneConfig | None = None,
    task: str = "",
    log: Callable[[str], object] = print,
    unlabelled: tuple[Sequence[str], Sequence[float], Mapping[str, Any]] | None = None,
    reader: Callable[[Sequence[str]], list[str]] | None = None,
) -> dict[str, Any]:
    """Fine-tune on data's train split, stop early on validation, write the model directory. Returns metrics.

    unlabelled: optional (texts, probabilities, info) — reviews a teacher scored; the student learns
    from them as soft targets beside the hand labels (binary tasks; see plm.semisupervised).
    reader: what the model reads of a list of texts, where it was worked out beforehand (a bundle's
    morphemes, `plm.finetune_bundle`); default `plm.morphemes.preprocess(config.preprocess, texts)`.
    For binary tasks the directory also gets the baseline and the keyword rule beside the model
    (metrics.json, predictions.jsonl) and a calibration fitted on validation (calibration.json).
    """
    import torch

    from . import calibration as calibration_map
    from .evaluation import binary_report, expected_calibration_error, threshold_table

    config = config or FinetuneConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    train_texts, train_labels, _ = data.split("train")
    val_texts, val_labels, val_index = data.split("validation")
    test_texts, test_labels, test_index = data.split("test")
    if not train_texts or not val_texts:
        raise FinetuneError(
            f"the data needs train and validation examples (has {len(train_texts)} train, {len(val_texts)} validation)"
        )
    binary = len(data.label_names) == 2
    if unlabelled is not None and not binary:
        raise FinetuneError("semi-supervised training (unlabelled reviews with a teacher) needs a 2-label task")
    if config.companion and (not binary or not config.calibration or config.companion != "morph-baseline"):
        raise FinetuneError(
            f"companion {config.companion!r}: only morph-baseline, on a 2-label task with platt calibration"
        )
    metric = pick_metric(config, data.label_names)
    set_seed(config.seed if config.head_seed is None else config.head_seed)
    tokenizer, model = load_model(model_dir, data.label_names, config.init)
    if config.head_seed is not None:  # (without one, the run goes on from where the head's draws left off, as before)
        set_seed(config.seed)
    from .morphemes import CONFIG_KEY, KIWI_MORPHEMES, check, preprocess

    check(config.preprocess)
    setattr(model.config, CONFIG_KEY, config.preprocess or None)  # saved in config.json; the workers read it
    reads = reader or (lambda texts: preprocess(config.preprocess, texts))  # what the model reads
    morphemes = reader if reader and config.preprocess == KIWI_MORPHEMES else None  # the morpheme regression's
    train_encoded = encode(tokenizer, reads(train_texts), config.max_length)
    val_encoded = encode(tokenizer, reads(val_texts), config.max_length)
    classes = len(data.label_names)
    targets = [[1.0 if c == y else 0.0 for c in range(classes)] for y in train_labels]
    weights = [1.0] * len(train_labels)
    hard_labels = list(train_labels)
    if unlabelled is not None:
        pool_texts, pool_probabilities, _ = unlabelled
        train_encoded += encode(tokenizer, reads(pool_texts), config.max_length)
        targets += [[1.0 - p, p] for p in pool_probabilities]
        weights += [config.unlabelled_weight] * len(pool_texts)
        hard_labels += [int(p >= 0.5) for p in pool_probabilities]
        log(f"training on {len(train_texts)} hand-labelled and {len(pool_texts)} teacher-scored reviews")

    spread = representation_spread(model, tokenizer, val_encoded[:64])
    if config.init != "random" and spread < COLLAPSED_SPREAD:
        log(
            f"warning: {model_dir} maps every token to nearly the same vector (last-layer spread {spread:.4f} of the "
            "embeddings'): its pretraining collapsed, and fine-tuning from it is unlikely to learn. Pick an earlier "
            "checkpoint or pretrain with a lower learning rate (evaluate_pretraining shows the spread per checkpoint)."
        )
    device = pick_device(config.device)
    if device != "cpu":
        log(f"training on {device}")
    model.to(device)
    untrained = classification_metrics(
        val_labels, predict(model, tokenizer, val_encoded, val_labels, config.eval_batch_size)
    )
    untrained["representation_spread"] = spread
    log(f"before fine-tuning: validation {metric} {untrained.get(metric, 0):.4f}, accuracy {untrained['accuracy']:.4f}")

    optimizer, scheduler, steps_per_epoch = optimizer_and_schedule(model, config, len(train_encoded))
    rng = random.Random(config.seed)
    weighted = any(w != 1.0 for w in weights)

    stopping, history, seen, train_seconds = EarlyStopping(config.patience), [], 0, 0.0
    for epoch in range(1, config.epochs + 1):
        losses, examples, seconds = train_epoch(
            model,
            batches(
                train_encoded,
                hard_labels,
                config.batch_size,
                tokenizer,
                True,
                rng,
                targets,
                weights if weighted else None,
            ),
            lambda logits, batch: soft_cross_entropy(logits, batch["targets"], batch["weights"]),
            optimizer,
            scheduler,
            steps_per_epoch,
            f"epoch {epoch}/{config.epochs}",
        )
        seen, train_seconds = seen + examples, train_seconds + seconds
        validation = classification_metrics(
            val_labels, predict(model, tokenizer, val_encoded, val_labels, config.eval_batch_size)
        )
        score = validation.get(metric, 0.0)
        history.append({"epoch": epoch, "train_loss": sum(losses) / len(losses), "validation": validation})
        log(
            f"epoch {epoch}: train loss {history[-1]['train_loss']:.4f}, validation {metric} {score:.4f}, "
            f"accuracy {validation['accuracy']:.4f}"
        )
        if stopping.stop(model, epoch, score):
            log(
                f"early stop: no better validation {metric} for {stopping.waited} epoch(s); "
                f"keeping epoch {stopping.epoch}"
            )
            break
    model.load_state_dict(stopping.state)
    best_epoch = stopping.epoch

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output))  # first: the weights are kept whatever happens while reporting
    tokenizer.save_pretrained(str(output))
    raw, results, seconds = {}, {}, {}
    splits = [
        (s, t, y, i)
        for s, t, y, i in (
            ("validation", val_texts, val_labels, val_index),
            ("test", test_texts, test_labels, test_index),
        )
        if t
    ]
    for split, texts, labels, _ in splits:
        started = time.perf_counter()
        raw[split] = predict(
            model,
            tokenizer,
            encode(tokenizer, reads(texts), config.max_length),
            labels,
            config.eval_batch_size,
            desc=f"{split} predictions",
        )
        seconds[split] = time.perf_counter() - started
    fitted, compared, calibrated, comparison, companion = None, {}, {}, {}, {}
    if config.companion:
        # the morpheme regression fitted on the train split, saved and read back as the workers will
        from .baseline import fit_baseline, load_companion, save_companion

        save_companion(fit_baseline(train_texts, train_labels, "morph", morphemes), output)
        saved = load_companion(output)
        companion = {
            split: saved.margins(texts, morphemes and morphemes(texts), KIWI_MORPHEMES) for split, texts, _, _ in splits
        }
    if binary:
        if config.calibration and len(set(val_labels)) == 2:
            fitted = calibration_map.fit(
                [calibration_map.margin(row[1]) for row in raw["validation"]],
                val_labels,
                config.calibration,
                companion=companion.get("validation"),
            )
            fitted["fitted_on"] = f"validation ({len(val_labels)} examples, {sum(val_labels)} positive)"
            calibration_map.save(output, fitted)
        compared = comparison_scores(data, {split: texts for split, texts, _, _ in splits}, morphemes)
        comparison = {name: {} for name in COMPARED}
    for split, texts, labels, _ in splits:
        results[split] = classification_metrics(labels, raw[split])
        results[split]["examples_per_second"] = len(texts) / seconds[split]
        if binary:
            positive = [row[1] for row in raw[split]]
            calibrated[split] = calibration_map.apply_probabilities(fitted, positive, companion.get(split))
            if companion:  # the stack ranks differently: its figures are the model's, the network's kept beside
                alone = results[split]
                results[split] = classification_metrics(labels, [[1.0 - p, p] for p in calibrated[split]])
                results[split]["examples_per_second"] = alone.pop("examples_per_second")
                results[split]["network_alone"] = alone
            both = len(set(labels)) == 2
            results[split]["ece_uncalibrated"] = expected_calibration_error(labels, positive) if both else None
            results[split]["ece"] = expected_calibration_error(labels, calibrated[split]) if both else None
            for name in COMPARED:
                report = binary_report(labels, compared[split][name]) if both else {}
                comparison[name][split] = {k: report.get(k) for k in COMPARED_KEYS}
    predictions = []
    for split, texts, labels, index in splits:
        for position, (i, label, row) in enumerate(zip(index, labels, raw[split])):
            source = data.rows[i] if data.rows else {}
            entry = {
                "split": split,
                "index": i,
                "text": texts[position],
                "label": int(label),
                "probabilities": row,
                "prediction": int(max(range(len(row)), key=row.__getitem__)),
                "source_ref": source.get("source_ref", ""),
            }
            if binary:
                entry["calibrated"] = calibrated[split][position]
                if companion:
                    entry["companion_margin"] = companion[split][position]
                for name in COMPARED:
                    entry[name] = compared[split][name][position]
            predictions.append(entry)
    if binary:
        from .baseline import describe
        from .evaluation import plot_pr_curves

        comparison["baseline"]["model"] = describe()
        comparison["morph_baseline"]["model"] = describe("morph")
        if "test" in raw and len(set(test_labels)) == 2:
            plot_pr_curves(
                {
                    "model": (test_labels, calibrated["test"]),
                    **{COMPARED_NAMES[name]: (test_labels, compared["test"][name]) for name in COMPARED},
                },
                output / "pr_curve.png",
                title="Precision–recall, test split",
            )
            results["test"]["thresholds"] = threshold_table(test_labels, calibrated["test"])
            results["suggested_threshold"] = suggest_threshold(
                val_labels, calibrated["validation"], test_labels, calibrated["test"]
            )
    metrics = {
        "task": task,
        "base_model": str(model_dir),
        "init": config.init,
        "preprocess": config.preprocess or None,
        "label_names": data.label_names,
        "metric": metric,
        "best_epoch": best_epoch,
        "examples": {s: sum(1 for x in data.splits if x == s) for s in ("train", "validation", "test")},
        "untrained_validation": untrained,
        **results,
        **comparison,
        "calibration": fitted,
        "companion": {**describe("morph"), "file": "companion.json", "trained_on": "train split"}
        if companion
        else None,
        "semi_supervised": unlabelled[2] if unlabelled is not None else None,
        "train_examples_per_second": seen / train_seconds if train_seconds else 0.0,
        "history": history,
        "config": asdict(config),
    }
    (output / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    with open(output / "predictions.jsonl", "w", encoding="utf-8") as f:
        for row in predictions:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (output / "README.md").write_text(model_card(metrics), encoding="utf-8")
    return metrics


def comparison_table(metrics: Mapping[str, Any], split: str = "test") -> str:
    """Model, baseline and keyword rule on the same rows of one split, as a text table."""

    def f(value):
        return "     -" if value is None else f"{value:6.3f}"

    model = metrics.get(split) or {}
    lines = [
        f"{split} split ({model.get('examples', 0)} examples): model, baseline and rule on the same rows",
        f"{'':14}{'AUROC':>7}{'AP':>7}{'F1':>7}{'ECE':>7}",
    ]
    for name, row in (
        ("model", model),
        ("network alone", model.get("network_alone") or {}),  # with a companion stacked in the model
        ("baseline", metrics.get("baseline", {}).get(split, {})),
        ("morpheme LR", metrics.get("morph_baseline", {}).get(split, {})),
        ("keyword rule", metrics.get("keyword_rule", {}).get(split, {})),
    ):
        if not row:
            continue
        lines.append(
            f"{name:14}{f(row.get('auroc'))} {f(row.get('average_precision'))} {f(row.get('f1'))} {f(row.get('ece'))}"
        )
    return "\n".join(lines)


def model_card(metrics: Mapping[str, Any]) -> str:
    def line(split):
        m = metrics.get(split)
        if not m:
            return f"- {split}: no examples\n"
        keys = [
            k
            for k in ("accuracy", "f1", "f1_micro", "f1_macro", "auroc", "average_precision", "ece")
            if m.get(k) is not None
        ]
        return f"- {split} ({m['examples']} examples): " + ", ".join(f"{k} {m[k]:.4f}" for k in keys) + "\n"

    labels = ", ".join(f"{i} = {name}" for i, name in enumerate(metrics["label_names"]))
    c = metrics["config"]
    semi = metrics.get("semi_supervised")
    teacher = ""
    if semi:
        names = ", ".join(t["teacher"] for t in semi.get("teachers", []))
        teacher = (
            f"- semi-supervised: {semi['size']} unlabelled reviews from `{semi['source']}` scored by "
            f"{names} (test-split products and labelled texts left out)\n"
        )
    comparison = ""
    if "baseline" in metrics and metrics.get("test"):
        comparison = "\n```\n" + comparison_table(metrics) + "\n```\n"
    return (
        f"# {metrics['task'] or 'text'} classifier (ELECTRA, fine-tuned)\n\n"
        f"Fine-tuned from `{metrics['base_model']}` ({metrics.get('init', 'pretrained')} weights) "
        "with `manage.py finetune_classifier`.\n\n"
        f"- labels: {labels}\n"
        f"- data: {metrics['examples']['train']} train, {metrics['examples']['validation']} validation, "
        f"{metrics['examples']['test']} test examples\n"
        + teacher
        + f"- training: {c['epochs']} epochs at most, batch {c['batch_size']}, learning rate {c['learning_rate']}, "
        f"max length {c['max_length']}, seed {c['seed']}; best epoch {metrics['best_epoch']} by validation "
        f"{metrics['metric']}\n\n"
        "## Metrics\n\n"
        + line("validation")
        + line("test")
        + comparison
        + "\n`metrics.json` holds every figure; `predictions.jsonl` the predictions they were computed from.\n"
    )
