"""Fine-tune an ELECTRA (any local HuggingFace model directory) into a sequence classifier.

A plain PyTorch loop, small enough to read in one go: AdamW with linear warm-up
and decay, batches padded to their longest text, evaluation on the validation
split after every epoch, early stopping on the validation metric (the best
epoch's weights are the ones kept), a fixed seed. The output is a model
directory `register_classifier` accepts, with `metrics.json`, the validation
and test `predictions.jsonl` the metrics were computed from, and a model card.
"""

import copy
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .evaluation import classification_metrics


@dataclass
class FinetuneConfig:
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


class FinetuneError(Exception):
    """The model or the data cannot be fine-tuned as asked."""


def set_seed(seed):
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_model(model_dir, label_names):
    """Tokenizer and a sequence classifier with a fresh head for these labels."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    directory = Path(model_dir)
    if not (directory / "config.json").exists():
        raise FinetuneError(f"{model_dir}: no config.json; pass a HuggingFace model directory (port_checkpoint writes one)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
    except Exception as exc:
        raise FinetuneError(f"{model_dir}: the tokenizer does not load: {exc}") from exc
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(directory),
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
            ignore_mismatched_sizes=True,  # a classifier with another label count gets a new head
        )
    except Exception as exc:
        raise FinetuneError(f"{model_dir}: the model does not load as a sequence classifier: {exc}") from exc
    return tokenizer, model


# Below this, the encoder's last layer has lost (almost) all difference between tokens.
COLLAPSED_SPREAD = 0.05


def representation_spread(model, tokenizer, encoded):
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
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       output_hidden_states=True).hidden_states
    real = batch["attention_mask"].bool()
    first, last = hidden[0][real].float(), hidden[-1][real].float()
    return float(last.std(0).mean() / first.std(0).mean().clamp_min(1e-12))


def encode(tokenizer, texts, max_length):
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def batches(encoded, labels, batch_size, tokenizer, shuffle, rng=None):
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
        yield indices, batch


def predict(model, tokenizer, encoded, labels, batch_size, desc=None):
    """Softmax probabilities [n, classes], in input order."""
    import torch
    from tqdm import tqdm

    model.eval()
    probabilities = [None] * len(encoded)
    steps = math.ceil(len(encoded) / batch_size)
    with torch.inference_mode():
        for indices, batch in tqdm(batches(encoded, labels, batch_size, tokenizer, shuffle=False), total=steps,
                                   desc=desc, leave=False, disable=desc is None):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            for i, row in zip(indices, torch.softmax(logits.float(), dim=-1).tolist()):
                probabilities[i] = row
    return probabilities


def pick_metric(config, label_names):
    if config.metric:
        return config.metric
    return "f1" if len(label_names) == 2 else "f1_micro"


def finetune(model_dir, data, output, config=None, task="", log=print):
    """Fine-tune on data's train split, stop early on validation, write the model directory. Returns metrics."""
    import torch
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

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
    metric = pick_metric(config, data.label_names)
    set_seed(config.seed)
    tokenizer, model = load_model(model_dir, data.label_names)
    train_encoded = encode(tokenizer, train_texts, config.max_length)
    val_encoded = encode(tokenizer, val_texts, config.max_length)

    spread = representation_spread(model, tokenizer, val_encoded[:64])
    if spread < COLLAPSED_SPREAD:
        log(f"warning: {model_dir} maps every token to nearly the same vector (last-layer spread {spread:.4f} of the "
            "embeddings'): its pretraining collapsed, and fine-tuning from it is unlikely to learn. Pick an earlier "
            "checkpoint or pretrain with a lower learning rate (evaluate_pretraining shows the spread per checkpoint).")
    untrained = classification_metrics(val_labels, predict(model, tokenizer, val_encoded, val_labels, config.eval_batch_size))
    untrained["representation_spread"] = spread
    log(f"before fine-tuning: validation {metric} {untrained.get(metric, 0):.4f}, accuracy {untrained['accuracy']:.4f}")

    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    steps_per_epoch = math.ceil(len(train_encoded) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    rng = random.Random(config.seed)

    best, best_state, best_epoch, waited, history = -1.0, None, 0, 0, []
    seen, train_seconds = 0, 0.0
    for epoch in range(1, config.epochs + 1):
        model.train()
        started, losses = time.perf_counter(), []
        progress = tqdm(batches(train_encoded, train_labels, config.batch_size, tokenizer, True, rng),
                        total=steps_per_epoch, desc=f"epoch {epoch}/{config.epochs}", leave=False)
        for _, batch in progress:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            seen += len(batch["labels"])
            progress.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}")
        train_seconds += time.perf_counter() - started
        validation = classification_metrics(
            val_labels, predict(model, tokenizer, val_encoded, val_labels, config.eval_batch_size)
        )
        score = validation.get(metric, 0.0)
        history.append({"epoch": epoch, "train_loss": sum(losses) / len(losses), "validation": validation})
        log(f"epoch {epoch}: train loss {history[-1]['train_loss']:.4f}, validation {metric} {score:.4f}, "
            f"accuracy {validation['accuracy']:.4f}")
        if score > best:
            best, best_epoch, waited = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= config.patience:
                log(f"early stop: no better validation {metric} for {waited} epoch(s); keeping epoch {best_epoch}")
                break
    model.load_state_dict(best_state)

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    predictions, results = [], {}
    for split, texts, labels, index in (("validation", val_texts, val_labels, val_index),
                                        ("test", test_texts, test_labels, test_index)):
        if not texts:
            continue
        started = time.perf_counter()
        probabilities = predict(model, tokenizer, encode(tokenizer, texts, config.max_length), labels,
                                config.eval_batch_size, desc=f"{split} predictions")
        results[split] = classification_metrics(labels, probabilities)
        results[split]["examples_per_second"] = len(texts) / (time.perf_counter() - started)
        for position, (i, label, row) in enumerate(zip(index, labels, probabilities)):
            source = data.rows[i] if data.rows else {}
            predictions.append({
                "split": split, "index": i, "text": texts[position], "label": int(label),
                "probabilities": row, "prediction": int(max(range(len(row)), key=row.__getitem__)),
                "source_ref": source.get("source_ref", ""),
            })
    metrics = {
        "task": task,
        "base_model": str(model_dir),
        "label_names": data.label_names,
        "metric": metric,
        "best_epoch": best_epoch,
        "examples": {s: sum(1 for x in data.splits if x == s) for s in ("train", "validation", "test")},
        "untrained_validation": untrained,
        **results,
        "train_examples_per_second": seen / train_seconds if train_seconds else 0.0,
        "history": history,
        "config": asdict(config),
    }
    model.save_pretrained(str(output))
    tokenizer.save_pretrained(str(output))
    (output / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    with open(output / "predictions.jsonl", "w", encoding="utf-8") as f:
        for row in predictions:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (output / "README.md").write_text(model_card(metrics), encoding="utf-8")
    return metrics


def model_card(metrics):
    def line(split):
        m = metrics.get(split)
        if not m:
            return f"- {split}: no examples\n"
        keys = [k for k in ("accuracy", "f1", "f1_micro", "f1_macro", "auroc", "average_precision") if k in m]
        return f"- {split} ({m['examples']} examples): " + ", ".join(f"{k} {m[k]:.4f}" for k in keys) + "\n"

    labels = ", ".join(f"{i} = {name}" for i, name in enumerate(metrics["label_names"]))
    c = metrics["config"]
    return (
        f"# {metrics['task'] or 'text'} classifier (ELECTRA, fine-tuned)\n\n"
        f"Fine-tuned from `{metrics['base_model']}` with `manage.py finetune_classifier`.\n\n"
        f"- labels: {labels}\n"
        f"- data: {metrics['examples']['train']} train, {metrics['examples']['validation']} validation, "
        f"{metrics['examples']['test']} test examples\n"
        f"- training: {c['epochs']} epochs at most, batch {c['batch_size']}, learning rate {c['learning_rate']}, "
        f"max length {c['max_length']}, seed {c['seed']}; best epoch {metrics['best_epoch']} by validation "
        f"{metrics['metric']}\n\n"
        "## Metrics\n\n" + line("validation") + line("test") +
        "\n`metrics.json` holds every figure; `predictions.jsonl` the predictions they were computed from.\n"
    )
