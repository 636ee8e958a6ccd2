"""Fine-tuning on another machine: a bundle of everything `plm.finetune.finetune` reads.

`manage.py finetune_classifier unused|attributes ... --export-bundle DIR` does the steps that need this checkout's
environment (the labelled set, the unlabelled pool and its leak rules, the teacher's scores, Kiwi's
morphemes) and, instead of training, writes their results to DIR:

- `bundle.json`: the task, the label names, the base model, the fine-tuning options and the pool's record;
- `rows.jsonl.gz`: every labelled example (text, what the model reads of it, label, split, product, source row);
- `pool.jsonl.gz`: every teacher-scored review (text, what the model reads of it, the teacher's probability).

For the attributes task the rows are the hand-labelled sentences and the pool the weak sentences with their
labels; a bundle run writes the model directory with its validation thresholds and leaves the test split to
`build_attribute_tagger --partner OUT` (which scores the whole tagger) or `evaluate`.

`python -m plm.finetune_bundle DIR --out OUT` then fine-tunes on any machine with torch, transformers and
scikit-learn (a GPU where torch sees one), with no Django, no Kiwi and no shared data: the same
`finetune` call, the same splits, teacher, options and stack, the model's reading taken from the bundle, so OUT
is the directory `finetune_classifier` writes. (The morpheme regression, compared and stacked beside the network,
reads the bundle's morphemes where the model reads morphemes; beside a model that reads the raw text it needs Kiwi.)
Options given on the command line (seed, learning rate, unlabelled weight, epochs, ...) replace the bundle's, so
one bundle serves a sweep; metrics.json records the bundle and what was replaced.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path

BUNDLE_FILE = "bundle.json"
ROWS_FILE = "rows.jsonl.gz"  # gzip: a pool of 20,000 reviews with their morphemes is 25 MB as plain text
POOL_FILE = "pool.jsonl.gz"
FORMAT = 1


class BundleError(Exception):
    """A folder that is not a readable fine-tuning bundle."""


def _write_jsonl(path, rows):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write(directory, rows, pool, meta):
    """The bundle's three files: rows and pool (None: no pool file, an earlier one removed) as gzipped JSONL,
    and bundle.json (meta with the format and the examples per split added); returns the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    _write_jsonl(directory / ROWS_FILE, rows)
    if pool is not None:
        _write_jsonl(directory / POOL_FILE, pool)
    elif (directory / POOL_FILE).exists():
        (directory / POOL_FILE).unlink()
    meta = {
        "format": FORMAT,
        **meta,
        "examples": {s: sum(1 for r in rows if r["split"] == s) for s in ("train", "validation", "test")},
    }
    (directory / BUNDLE_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return directory


def export(directory, model_dir, data, config, task, unlabelled=None, reader=None):
    """Write the bundle of finetune(model_dir, data, ..., config, unlabelled) to `directory`; returns its path.

    `reader` is what the model reads of a list of texts (default: `config.preprocess`'s reading)."""
    from .morphemes import preprocess

    reads = reader or (lambda texts: preprocess(config.preprocess, texts))
    if len(data.label_names) != 2 and unlabelled is not None:
        raise BundleError("a teacher-scored pool needs a 2-label task")
    read = reads(data.texts)
    rows = (
        {
            "text": text,
            "read": read[i],
            "label": int(data.labels[i]),
            "split": data.splits[i],
            "group": data.groups[i] if data.groups else "",
            "row": data.rows[i] if data.rows else {},
        }
        for i, text in enumerate(data.texts)
    )
    pool, pool_info = None, None
    if unlabelled is not None:
        texts, probabilities, pool_info = unlabelled
        pool = ({"text": t, "read": r, "probability": float(p)} for t, r, p in zip(texts, reads(texts), probabilities))
    meta = {
        "task": task,
        "label_names": list(data.label_names),
        "model": str(model_dir),
        "config": asdict(config),
        "pool": pool_info,
    }
    return _write(directory, rows, pool, meta)


def export_attributes(directory, model_dir, rows, config, weak=None, weak_target=1.0):
    """Write the bundle of `plm.attributes_model.train(model_dir, rows, ..., config, weak=weak, weak_target=...)`
    to `directory`: the hand-labelled sentences (rows.jsonl.gz, each with "read") and the weak sentences with
    their labels (pool.jsonl.gz: a phrase tagger's label dict or a teacher's probability row each)."""
    from .attributes_model import taxonomy_version
    from .morphemes import preprocess

    read = preprocess(config.preprocess, [r["text"] for r in rows])
    pool, weak_info = None, None
    if weak is not None:
        texts, labels, weak_info = weak
        weak_read = preprocess(config.preprocess, list(texts))
        pool = ({"text": t, "read": r, "labels": lab} for t, r, lab in zip(texts, weak_read, labels))
    meta = {
        "task": "attributes",
        "model": str(model_dir),
        "config": asdict(config),
        "pool": weak_info,
        "weak_target": weak_target,
        "taxonomy_version": taxonomy_version(),
    }
    return _write(directory, ({**r, "read": read[i]} for i, r in enumerate(rows)), pool, meta)


def load(directory):
    """(meta, LabelledSet, unlabelled or None, reader) from a bundle folder."""
    from .datasets import LabelledSet

    directory = Path(directory)
    if not (directory / BUNDLE_FILE).is_file() or not (directory / ROWS_FILE).is_file():
        raise BundleError(f"{directory}: no {BUNDLE_FILE} and {ROWS_FILE} (write one with --export-bundle)")
    meta = json.loads((directory / BUNDLE_FILE).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise BundleError(f"{directory}: bundle format {meta.get('format')!r}, this code reads {FORMAT}")
    rows = _read_jsonl(directory / ROWS_FILE)
    if meta["task"] == "attributes":
        return _load_attributes(directory, meta, rows)
    data = LabelledSet(
        texts=[r["text"] for r in rows],
        labels=[r["label"] for r in rows],
        label_names=meta["label_names"],
        splits=[r["split"] for r in rows],
        groups=[r["group"] for r in rows],
        rows=[r["row"] for r in rows],
    )
    readings = {r["text"]: r["read"] for r in rows}
    pool = _pool(directory, meta, readings)
    unlabelled = None if pool is None else ([r["text"] for r in pool], [r["probability"] for r in pool], meta["pool"])
    return meta, data, unlabelled, _reader(readings)


def _pool(directory, meta, readings):
    """The pool's rows (None where the bundle records none), their readings added to `readings`."""
    if meta.get("pool") is None:
        return None
    if not (directory / POOL_FILE).is_file():
        raise BundleError(f"{directory}: {BUNDLE_FILE} records a pool, and {POOL_FILE} is missing")
    pool = _read_jsonl(directory / POOL_FILE)
    readings.update((r["text"], r["read"]) for r in pool)
    return pool


def _reader(readings):
    def reader(texts):
        missing = [t for t in texts if t not in readings]
        if missing:
            raise BundleError(f"{len(missing)} text(s) not in the bundle, e.g. {missing[0][:40]!r}")
        return [readings[t] for t in texts]

    return reader


def _load_attributes(directory, meta, rows):
    """(meta, hand-labelled rows, weak (texts, labels, info) or None, reader) of an attributes bundle."""
    from .attributes_model import taxonomy_version

    if meta.get("taxonomy_version") != taxonomy_version():
        raise BundleError(
            f"{directory}: written for taxonomy version {meta.get('taxonomy_version')!r}, and this checkout's is "
            f"{taxonomy_version()!r}: export the bundle again"
        )
    readings = {r["text"]: r.pop("read") for r in rows}
    pool = _pool(directory, meta, readings)
    weak = None if pool is None else ([r["text"] for r in pool], [r["labels"] for r in pool], meta["pool"])
    return meta, rows, weak, _reader(readings)


OVERRIDES = {  # FinetuneConfig fields a run may replace, with their types (--learning-rate: learning_rate)
    "epochs": int,
    "batch_size": int,
    "learning_rate": float,
    "unlabelled_weight": float,
    "max_length": int,
    "seed": int,
    "head_seed": int,
    "patience": int,
    "threads": int,
    "device": str,
    "init": str,  # "random": the base's architecture and tokenizer, new weights
}


def run(directory, out, model=None, **overrides):
    """Fine-tune the bundle in `directory` into `out` (options in `overrides` replace the bundle's); returns
    finetune's metrics, with the bundle and what was replaced recorded in them."""
    from .finetune import FinetuneConfig, finetune

    meta, data, unlabelled, reader = load(directory)
    known = {f.name for f in fields(FinetuneConfig)}
    config = FinetuneConfig(**{k: v for k, v in meta["config"].items() if k in known})
    changed = {k: v for k, v in overrides.items() if v is not None}
    for key, value in changed.items():
        setattr(config, key, value)
    base = model or meta["model"]
    if meta["task"] == "attributes":
        from .attributes_model import train

        # the test split and the topic check are scored by build_attribute_tagger --partner OUT (or evaluate)
        weak_target = meta.get("weak_target", 1.0)
        metrics = train(
            base, data, out, config, weak=unlabelled, weak_target=weak_target, reader=reader, evaluate_test=False
        )
    else:
        metrics = finetune(base, data, out, config, task=meta["task"], unlabelled=unlabelled, reader=reader)
    metrics["bundle"] = {"path": str(directory), "model": str(base), "options_replaced": changed}
    (Path(out) / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m plm.finetune_bundle",
        description="Fine-tune from a bundle written by finetune_classifier --export-bundle (no Django, no Kiwi).",
    )
    parser.add_argument("bundle", help="the bundle folder")
    parser.add_argument("--out", required=True, help="the model directory to write")
    parser.add_argument("--model", help="the base model directory (default: the one the bundle names)")
    for name, kind in OVERRIDES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"replaces the bundle's {name}")
    args = parser.parse_args(argv)
    try:
        metrics = run(args.bundle, args.out, args.model, **{k: getattr(args, k) for k in OVERRIDES})
    except BundleError as exc:
        parser.exit(2, f"error: {exc}\n")
    if "validation_micro_f1" in metrics:
        print(f"validation micro-F1 {metrics['validation_micro_f1']:.4f} (best epoch {metrics['best_epoch']})")
    for split in ("validation", "test"):
        if split in metrics:
            m = metrics[split]
            print(
                f"{split}: AUROC {m.get('auroc') or 0:.4f}, AP {m.get('average_precision') or 0:.4f}, "
                f"ECE {m.get('ece') or 0:.4f} (best epoch {metrics['best_epoch']})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
