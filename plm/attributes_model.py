"""Over 500 lines: the task's training, thresholds, three-way comparison and topic check read one taxonomy and one split.

The attribute model: a multi-label ELECTRA sentence classifier over the attribute taxonomy.

`manage.py finetune_classifier attributes` trains it (`train`); the service loads it with
`load(directory).tag(sentences)`. Beside `plm.finetune` (which it reuses: model loading,
encoding, padded batches, the optimiser schedule, predictions), only the task's own parts live here:

- **Outputs** (`label_layout`): per attribute with polarity a "pos" and a "neg" sigmoid, per
  presence-only attribute one "present" sigmoid, named "<attribute id>:<value>" in config.json's
  `id2label` (`problem_type` multi_label_classification). Loss: binary cross-entropy, per example
  the mean over outputs, weighted (weak labels count less than hand labels).
- **Decoding** (`decode`): an attribute is present when the largest of its outputs reaches the
  attribute's threshold; its polarity is the larger output, its probability that output.
- **Thresholds** (`choose_thresholds`): per attribute, the grid value (0.05–0.95) that maximises
  that attribute's presence F1 on the validation split (0.5 when validation has no mention of it);
  saved in `attributes.json` (with the taxonomy version and the label layout) and, per label, in
  `thresholds.json` (what `attributes.taggers` reads).
- **Evaluation** (`evaluate`): micro precision / recall / F1 of attribute presence over (sentence,
  attribute) pairs, per-attribute F1, and polarity accuracy (of the pairs both gold and prediction
  mark present, on attributes with polarity), for the model, the phrase tagger and a TF-IDF +
  logistic regression per output (`fit_tfidf`) on the same rows: all test rows and the random-only
  ones, with bootstrap intervals of each micro-F1 and of model − phrase tagger and model − TF-IDF + LR
  (`plm.evaluation.paired_bootstrap_micro_f1` on `row_counts`, resampled by product). `topic_check`
  is the outside check on `oliveyoung_cream_reviews`' 5-way topic label.
- **Weak labels** (`weak_sentences`): the phrase tagger's tags on review sentences of train-split
  products only (never a validation or test product, never a hand-labelled text).

No torch, transformers, sklearn or kiwipiepy import at module level.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ROOT / "data" / "labelled" / "attributes" / "sentences.jsonl"
FRACTIONS = (0.70, 0.15, 0.15)  # the labelled set's product split (data/labelled/attributes/build.py)
MIN_CHARS = 6
ATTRIBUTES_JSON = "attributes.json"
GRID = [round(0.05 * i, 2) for i in range(1, 20)]
PROBLEM_TYPE = "multi_label_classification"
# oliveyoung_cream_reviews' label column: 0 보습, 1 진정, 2 사용감, 3 자극, 4 기타
TOPICS = {"0": "보습", "1": "진정", "2": "사용감", "3": "자극", "4": "기타"}
# Which tags speak for which topic: an attribute, or one polarity of it. A gentle product ("순해요",
# "자극 없어요", "트러블 없이") is the 진정 topic's subject (sensitive skin, soothing); stinging or
# breaking out is 자극's.
TOPIC_ATTRIBUTES = {
    "보습": ("moisture",),
    "진정": ("soothing", "irritation:pos", "breakouts:pos"),
    "자극": ("irritation:neg", "breakouts:neg"),
    "사용감": ("absorption", "stickiness", "oiliness", "spreadability", "lightness"),
}
TOPIC_TIES = ("보습", "진정", "자극", "사용감")
FEEL_TOPIC = "사용감"  # the texture topic: a review's topic only where it names no effect


class AttributeModelError(Exception):
    """A labelled file, model directory or option the attribute model cannot use."""


# --- labels ------------------------------------------------------------------------------------


def label_layout(taxonomy):
    """["moisture:pos", "moisture:neg", ..., "cooling:present", ...] in taxonomy order."""
    return [f"{a.id}:{value}" for a in taxonomy for value in a.allowed_values()]


def targets(labels, layout):
    """A 0/1 vector over the layout for one sentence's {attribute: value}."""
    wanted = {f"{a}:{v}" for a, v in labels.items()}
    return [1.0 if name in wanted else 0.0 for name in layout]


def output_groups(layout):
    """{attribute: [(output index, value)]} in layout order."""
    groups = {}
    for i, name in enumerate(layout):
        attribute, _, value = name.partition(":")
        groups.setdefault(attribute, []).append((i, value))
    return groups


def decode(row, layout, thresholds):
    """{attribute: (value, probability)} for one row of output probabilities."""
    out = {}
    for attribute, outputs in output_groups(layout).items():
        i, value = max(outputs, key=lambda o: row[o[0]])
        if row[i] >= thresholds.get(attribute, 0.5):
            out[attribute] = (value, float(row[i]))
    return out


def _value(v):
    return v[0] if isinstance(v, (tuple, list)) else v


def split_rows(rows):
    """{"train": [...], "validation": [...], "test": [...]}: the labelled sentences by their split."""
    return {name: [r for r in rows if r["split"] == name] for name in ("train", "validation", "test")}


def load_sentences(path=None, taxonomy=None):
    """The hand-labelled sentences (data/labelled/attributes/sentences.jsonl), labels checked."""
    from .attributes import load_taxonomy
    from .datasets import DatasetError, jsonl_records

    path = Path(path) if path else SENTENCES
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    allowed = {a.id: a.allowed_values() for a in taxonomy}
    try:
        records = list(jsonl_records(path))
    except DatasetError as exc:
        raise AttributeModelError(f"the labelled sentences: {exc}") from None
    rows = []
    for n, row in records:
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("labels"), dict):
            raise AttributeModelError(f"{path}:{n}: needs a 'text' string and a 'labels' object")
        if row.get("split") not in ("train", "validation", "test"):
            raise AttributeModelError(
                f"{path}:{n}: 'split' must be train, validation or test, not {row.get('split')!r}"
            )
        for attribute, value in row["labels"].items():
            if attribute not in allowed:
                raise AttributeModelError(f"{path}:{n}: unknown attribute {attribute!r}")
            if value not in allowed[attribute]:
                raise AttributeModelError(
                    f"{path}:{n}: {attribute} takes {'/'.join(allowed[attribute])}, not {value!r}"
                )
        rows.append(row)
    return rows


# --- thresholds and evaluation -----------------------------------------------------------------


def _f1(tp, fp, fn):
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def choose_thresholds(gold, probabilities, layout, grid=GRID):
    """{attribute: threshold}: the grid value maximising the attribute's presence F1 on these rows
    (ties: the one nearest 0.5); 0.5 for an attribute no row mentions."""
    thresholds = {}
    for attribute, outputs in output_groups(layout).items():
        truth = [attribute in g for g in gold]
        if not any(truth):
            thresholds[attribute] = 0.5
            continue
        scores = [max(row[i] for i, _ in outputs) for row in probabilities]
        best = None
        for t in grid:
            tp = sum(1 for y, s in zip(truth, scores) if y and s >= t)
            fp = sum(1 for y, s in zip(truth, scores) if not y and s >= t)
            fn = sum(truth) - tp
            key = (round(_f1(tp, fp, fn)[2], 9), -abs(t - 0.5))
            if best is None or key > best[0]:
                best = (key, t)
        thresholds[attribute] = best[1]
    return thresholds


def evaluate(gold, predicted, attribute_ids, polarity_ids=None):
    """Presence and polarity figures of predicted against gold ({attribute: value or (value, p)} per row).

    micro precision/recall/F1 over (row, attribute) pairs; per attribute F1 with its support;
    polarity accuracy over the pairs both mark present, for attributes in `polarity_ids` (default:
    every attribute whose gold value is pos or neg)."""
    if len(gold) != len(predicted):
        raise AttributeModelError(f"{len(gold)} gold rows but {len(predicted)} predictions")
    tp, fp, fn = Counter(), Counter(), Counter()
    agree = pairs = 0
    for g, p in zip(gold, predicted):
        for a in attribute_ids:
            if a in g and a in p:
                tp[a] += 1
                gv, pv = _value(g[a]), _value(p[a])
                if (polarity_ids is None and gv in ("pos", "neg")) or (polarity_ids is not None and a in polarity_ids):
                    pairs += 1
                    agree += gv == pv
            elif a in p:
                fp[a] += 1
            elif a in g:
                fn[a] += 1
    precision, recall, f1 = _f1(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    per_attribute = {}
    for a in attribute_ids:
        ap, ar, af = _f1(tp[a], fp[a], fn[a])
        per_attribute[a] = {
            "f1": af,
            "precision": ap,
            "recall": ar,
            "support": tp[a] + fn[a],
            "predicted": tp[a] + fp[a],
        }
    return {
        "examples": len(gold),
        "micro_f1": f1,
        "precision": precision,
        "recall": recall,
        "tp": sum(tp.values()),
        "fp": sum(fp.values()),
        "fn": sum(fn.values()),
        "polarity_accuracy": agree / pairs if pairs else None,
        "polarity_pairs": pairs,
        "per_attribute": per_attribute,
    }


def row_counts(gold, predicted, attribute_ids):
    """[(true positives, false positives, false negatives)] of attribute presence per row: `evaluate`'s
    micro counts, row by row (for the bootstrap)."""
    return [
        (
            sum(1 for a in attribute_ids if a in g and a in p),
            sum(1 for a in attribute_ids if a in p and a not in g),
            sum(1 for a in attribute_ids if a in g and a not in p),
        )
        for g, p in zip(gold, predicted)
    ]


# --- the TF-IDF baseline -----------------------------------------------------------------------


class TfidfBaseline:
    """Char 2-4-gram TF-IDF (the project's baseline features) + one logistic regression per output."""

    NAME = "char 2-4-gram TF-IDF + logistic regression per output (one-vs-rest)"

    def __init__(self, vectorizer, models, layout):
        self.vectorizer, self.models, self.layout = vectorizer, models, layout

    def probabilities(self, texts):
        import numpy as np

        texts = list(texts)
        if not texts:
            return []
        x = self.vectorizer.transform(texts)
        columns = [m.predict_proba(x)[:, 1] if m is not None else np.zeros(len(texts)) for m in self.models]
        return np.stack(columns, axis=1).tolist()


def fit_tfidf(texts, labels, layout):
    """The baseline fitted on hand-labelled texts and their label dicts (outputs without a positive: 0)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .baseline import BASELINE_PARAMS as P

    vectorizer = TfidfVectorizer(
        analyzer=P["analyzer"],
        ngram_range=P["ngram_range"],
        sublinear_tf=P["sublinear_tf"],
        min_df=P["min_df"] if len(texts) >= 20 else 1,
    )
    x = vectorizer.fit_transform(list(texts))
    y = [targets(lab, layout) for lab in labels]
    return TfidfBaseline(vectorizer, fit_columns(x, [[int(row[j]) for row in y] for j in range(len(layout))]), layout)


def fit_columns(x, columns):
    """One logistic regression (the baseline's settings) per 0/1 column over the rows of x; None for a
    column with one class only."""
    from sklearn.linear_model import LogisticRegression

    from .baseline import BASELINE_PARAMS as P

    return [
        LogisticRegression(C=P["C"], class_weight=P["class_weight"], max_iter=5000).fit(x, column)
        if len(set(column)) > 1
        else None
        for column in columns
    ]


# --- weak labels -------------------------------------------------------------------------------


def weak_sentences(labelled_rows, taxonomy, limit=None, seed=42, data_dir=None, log=print, teacher=None):
    """(texts, labels, info): the phrase tagger's tags (label dicts) on sentences of train-split products'
    reviews, or with `teacher` (a tagger with `probabilities`, e.g. the back-off tagger) its probability
    rows over the label layout, as soft targets.

    Reviews of `plm.beauty` whose product is in the train split (FRACTIONS, as the labelled set);
    every product a labelled row puts in validation or test is dropped too, and so is every
    hand-labelled text. At most `limit` sentences (a seeded sample), 6 characters or more, unique."""
    from .attributes import PhraseTagger, split_many
    from .beauty import dedupe, load_reviews
    from .shared import shared_data_dir
    from .splits import stable_split

    data_dir = Path(data_dir) if data_dir else shared_data_dir()
    try:
        reviews = dedupe(load_reviews(data_dir))
    except (FileNotFoundError, OSError) as exc:
        raise AttributeModelError(f"weak labels need the shared review sets: {exc}") from None
    held_out = {r["product_id"] for r in labelled_rows if r["split"] != "train"}
    labelled_texts = {r["text"] for r in labelled_rows}
    train = [
        r for r in reviews if stable_split(r["product_id"], FRACTIONS) == "train" and r["product_id"] not in held_out
    ]
    rng = random.Random(seed)
    rng.shuffle(train)
    if limit:  # about 3.5 sentences a review: split only what the sample needs
        train = train[: max(1, limit // 2)]
    seen, texts = set(labelled_texts), []
    for sentences in split_many([r["text"] for r in train]):
        for s in sentences:
            if len(s) >= MIN_CHARS and s not in seen:
                seen.add(s)
                texts.append(s)
    rng.shuffle(texts)
    texts = texts[:limit] if limit else texts
    info = {
        "source": f"plm.beauty reviews of train-split products ({len(train)} reviews read)",
        "sentences": len(texts),
        "left_out": "validation/test-split products and every hand-labelled text",
    }
    if teacher is None:
        tagger = PhraseTagger(taxonomy)
        labels = [tagger.tag(t) for t in texts]
        info.update(teacher="phrase tagger (hard tags)", tagged=sum(1 for lab in labels if lab))
    else:
        labels = [[float(v) for v in row] for row in teacher.probabilities(texts)] if texts else []
        info.update(
            teacher=f"{getattr(teacher, 'name', type(teacher).__name__)} (probabilities as soft targets)",
            tagged=sum(1 for row in labels if max(row, default=0.0) >= 0.5),
        )
    log(
        f"weak labels: {len(texts)} sentences of train-split products from the {info['teacher']}, "
        f"{info['tagged']} with a tag (or a probability of 0.5 or more)"
    )
    return texts, labels, info


# --- training ----------------------------------------------------------------------------------


def _bce(logits, batch_targets, weights=None):
    import torch

    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), batch_targets, reduction="none").mean(
        dim=-1
    )
    if weights is None:
        return losses.mean()
    return (losses * weights).sum() / weights.sum()


def _bce_value(probabilities, gold_targets):
    """Mean binary cross-entropy of probabilities against 0/1 targets (the validation loss)."""
    total, n = 0.0, 0
    for row, target in zip(probabilities, gold_targets):
        for p, y in zip(row, target):
            p = min(max(p, 1e-7), 1 - 1e-7)
            total -= y * math.log(p) + (1 - y) * math.log(1 - p)
            n += 1
    return total / n if n else 0.0


def train(
    model_dir,
    rows,
    output,
    config=None,
    taxonomy=None,
    weak=None,
    weak_target=1.0,
    log=print,
    compare=True,
    topic_data=None,
    reader=None,
    evaluate_test=True,
):
    """Fine-tune a multi-label head on the hand-labelled rows' train split (plus weak labels), pick
    the epoch and the per-attribute thresholds on validation, evaluate on test, write the directory.

    reader: what the model reads of a list of texts where it was worked out beforehand (a bundle's morphemes,
    `plm.finetune_bundle`); evaluate_test False leaves the test split and the topic check to a later
    `build_attribute_tagger` or `evaluate` (they score with the saved model, which reads as it was trained).

    weak: (texts, labels, info) from `weak_sentences`, learnt with weight config.unlabelled_weight; a
    label dict's tagged outputs get the target `weak_target`, a teacher's probability row is the target
    itself. Returns metrics (also in metrics.json)."""
    import torch

    from . import finetune as ft
    from .attributes import load_taxonomy
    from .morphemes import CONFIG_KEY, check, preprocess

    config = config or ft.FinetuneConfig()
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    layout = label_layout(taxonomy)
    if config.threads:
        torch.set_num_threads(config.threads)
    split = split_rows(rows)
    if not split["train"] or not split["validation"]:
        raise ft.FinetuneError(
            f"the attribute model needs train and validation sentences (has "
            f"{len(split['train'])} train, {len(split['validation'])} validation)"
        )
    ft.set_seed(config.seed)
    tokenizer, model = ft.load_model(model_dir, layout, config.init, problem_type=PROBLEM_TYPE)
    check(config.preprocess)
    setattr(model.config, CONFIG_KEY, config.preprocess or None)
    reads = reader or (lambda texts: preprocess(config.preprocess, texts))

    train_texts = [r["text"] for r in split["train"]]
    train_targets = [targets(r["labels"], layout) for r in split["train"]]
    weights = [1.0] * len(train_texts)
    if weak is not None:
        weak_texts, weak_labels, _ = weak
        train_texts += list(weak_texts)
        train_targets += [
            [weak_target * v for v in targets(lab, layout)] if isinstance(lab, dict) else list(lab)
            for lab in weak_labels
        ]
        weights += [config.unlabelled_weight] * len(weak_texts)
        log(
            f"training on {len(split['train'])} hand-labelled and {len(weak_texts)} weakly labelled sentences "
            f"(weight {config.unlabelled_weight}, target {weak_target})"
        )
    train_encoded = ft.encode(tokenizer, reads(train_texts), config.max_length)
    # Start every output at its label's prior (log-odds of its share among the hand labels), so the head
    # does not spend its first steps learning that most outputs are 0 and the gradient goes to the text.
    hand = train_targets[: len(split["train"])]
    head = getattr(getattr(model, "classifier", None), "out_proj", None)
    if head is not None and head.bias is not None:
        with torch.no_grad():
            priors = [(sum(t[i] for t in hand) + 0.5) / (len(hand) + 1.0) for i in range(len(layout))]
            head.bias.copy_(torch.tensor([math.log(p / (1 - p)) for p in priors]))
    model.to(ft.pick_device(config.device))  # a GPU where torch sees one (FinetuneConfig.device)
    val_gold = [r["labels"] for r in split["validation"]]
    val_encoded = ft.encode(tokenizer, reads([r["text"] for r in split["validation"]]), config.max_length)
    zeros = [0] * len(train_encoded)

    def validation_probabilities():
        return ft.predict(
            model, tokenizer, val_encoded, [0] * len(val_encoded), config.eval_batch_size, activation="sigmoid"
        )

    optimizer, scheduler, steps_per_epoch = ft.optimizer_and_schedule(model, config, len(train_encoded))
    rng = random.Random(config.seed)
    weighted = any(w != 1.0 for w in weights)
    attribute_ids = [a.id for a in taxonomy]

    # A tie on micro-F1 goes to the lower validation loss: the score is (micro-F1, -validation loss).
    stopping, history, train_seconds = ft.EarlyStopping(config.patience, floor=(-1.0, 0.0)), [], 0.0
    for epoch in range(1, config.epochs + 1):
        losses, _, seconds = ft.train_epoch(
            model,
            ft.batches(
                train_encoded,
                zeros,
                config.batch_size,
                tokenizer,
                True,
                rng,
                train_targets,
                weights if weighted else None,
            ),
            lambda logits, batch: _bce(logits, batch["targets"], batch["weights"]),
            optimizer,
            scheduler,
            steps_per_epoch,
            f"epoch {epoch}/{config.epochs}",
        )
        train_seconds += seconds
        probabilities = validation_probabilities()
        thresholds = choose_thresholds(val_gold, probabilities, layout)
        score = evaluate(val_gold, [decode(p, layout, thresholds) for p in probabilities], attribute_ids)["micro_f1"]
        val_loss = _bce_value(probabilities, [targets(g, layout) for g in val_gold])
        history.append(
            {
                "epoch": epoch,
                "train_loss": sum(losses) / len(losses),
                "validation_micro_f1": score,
                "validation_loss": val_loss,
            }
        )
        log(
            f"epoch {epoch}: train loss {history[-1]['train_loss']:.4f}, validation micro-F1 {score:.4f} "
            f"(thresholds chosen on validation), validation loss {val_loss:.4f}"
        )
        if stopping.stop(model, epoch, (score, -val_loss)):
            log(
                f"early stop: no better validation micro-F1 for {stopping.waited} epoch(s); "
                f"keeping epoch {stopping.epoch}"
            )
            break
    model.load_state_dict(stopping.state)
    best_epoch, best = stopping.epoch, stopping.score
    thresholds = choose_thresholds(val_gold, validation_probabilities(), layout)

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output))
    tokenizer.save_pretrained(str(output))
    version = taxonomy_version()
    save_thresholds(output, layout, thresholds, version)

    metrics = {
        "task": "attributes",
        "base_model": str(model_dir),
        "init": config.init,
        "preprocess": config.preprocess or None,
        "labels": layout,
        "taxonomy_version": version,
        "examples": {name: len(split[name]) for name in split},
        "best_epoch": best_epoch,
        "validation_micro_f1": best[0],
        "thresholds": thresholds,
        "weak_labels": weak[2] if weak is not None else None,
        "weak_target": weak_target if weak else None,
        "train_seconds": train_seconds,
        "history": history,
        "config": asdict(config),
    }
    if evaluate_test:
        tagger = load(output)
        metrics.update(evaluate_all(tagger, split, taxonomy, compare=compare, log=log))
        if topic_data is not None:
            metrics["topic_check"] = topic_check(tagger, taxonomy, topic_data, log=log)
    (output / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return metrics


def taxonomy_version(path=None):
    import tomllib

    from .attributes import TAXONOMY_FILE

    with open(path or TAXONOMY_FILE, "rb") as fh:
        return tomllib.load(fh).get("version")


def save_thresholds(output, layout, thresholds, version):
    output = Path(output)
    info = {
        "taxonomy_version": version,
        "problem_type": PROBLEM_TYPE,
        "labels": layout,
        "decoding": "present when max(outputs of the attribute) >= its threshold; polarity = the larger output",
        "thresholds": thresholds,
    }
    (output / ATTRIBUTES_JSON).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    per_label = {name: thresholds.get(name.partition(":")[0], 0.5) for name in layout}
    (output / "thresholds.json").write_text(json.dumps(per_label, ensure_ascii=False, indent=2), encoding="utf-8")


SUBSETS = (("all", lambda r: True), ("random", lambda r: r.get("selected_by") == "random"))
BOOTSTRAP_ROUNDS = 1000


def evaluate_all(tagger, split, taxonomy, compare=True, log=print, bootstrap=BOOTSTRAP_ROUNDS):
    """{"evaluation": {"subsets": {subset: {system: figures}}, "bootstrap": {subset: intervals}, ...}} on the
    test split (validation when there is no test), for the model, the phrase tagger and the TF-IDF baseline
    (fitted on train, thresholds on validation).

    `bootstrap` resamples (seed 0; 0: none) give each system's micro-F1 interval and the paired differences
    model − phrase tagger and model − TF-IDF + LR, drawn by product when every row has one, else by sentence."""
    from .attributes import PhraseTagger
    from .evaluation import paired_bootstrap_micro_f1, product_groups

    attribute_ids = [a.id for a in taxonomy]
    rows = split.get("test") or split["validation"]
    texts = [r["text"] for r in rows]
    predicted = {"model": tagger.tag(texts)}
    if compare:
        phrases = PhraseTagger(taxonomy)
        predicted["phrase_tagger"] = [phrases.tag(t) for t in texts]
        layout = label_layout(taxonomy)
        baseline = fit_tfidf([r["text"] for r in split["train"]], [r["labels"] for r in split["train"]], layout)
        val = split["validation"]
        cut = choose_thresholds([r["labels"] for r in val], baseline.probabilities([r["text"] for r in val]), layout)
        predicted["tfidf_lr"] = [decode(p, layout, cut) for p in baseline.probabilities(texts)]
    result, intervals = {}, {}
    for subset, keep in SUBSETS:
        indices = [i for i, r in enumerate(rows) if keep(r)]
        gold = [rows[i]["labels"] for i in indices]
        result[subset] = {name: evaluate(gold, [p[i] for i in indices], attribute_ids) for name, p in predicted.items()}
        if bootstrap and indices:
            groups, unit = product_groups([rows[i].get("product_id") for i in indices], "sentence")
            counts = {name: row_counts(gold, [p[i] for i in indices], attribute_ids) for name, p in predicted.items()}
            intervals[subset] = paired_bootstrap_micro_f1(
                counts, "model", rounds=bootstrap, groups=groups, seed=0, unit=unit
            )
    evaluation = {
        "split": "test" if split.get("test") else "validation",
        "subsets": result,
        "tfidf_lr": TfidfBaseline.NAME if compare else None,
    }
    if bootstrap:
        evaluation["bootstrap"] = intervals
    log(report_table(evaluation))
    return {"evaluation": evaluation}


NAMES = {"model": "model", "phrase_tagger": "phrase tagger", "tfidf_lr": "TF-IDF + LR"}


def report_table(evaluation):
    """The printed comparison: micro P/R/F1 and polarity accuracy per system and subset (with the bootstrap's
    micro-F1 intervals and paired differences when the evaluation holds them), then per-attribute F1."""
    from .evaluation import format_bootstrap

    lines = []
    for subset, systems in evaluation["subsets"].items():
        n = next(iter(systems.values()))["examples"]
        lines.append(
            f"{evaluation['split']} split, {subset} rows ({n} sentences): presence micro-F1, P, R; polarity accuracy"
        )
        for name, m in systems.items():
            pol = "     -" if m["polarity_accuracy"] is None else f"{m['polarity_accuracy']:6.3f}"
            lines.append(
                f"  {NAMES.get(name, name):15}{m['micro_f1']:7.3f}{m['precision']:7.3f}{m['recall']:7.3f}"
                f"   {pol} ({m['polarity_pairs']} pairs)"
            )
        if evaluation.get("bootstrap", {}).get(subset):
            lines.append(format_bootstrap(evaluation["bootstrap"][subset], NAMES, indent="  "))
    systems = evaluation["subsets"]["all"]
    lines.append("per-attribute F1 (all test rows; support): " + " / ".join(NAMES.get(s, s) for s in systems))
    first = next(iter(systems.values()))["per_attribute"]
    for a in first:
        lines.append(
            f"  {a:15}{first[a]['support']:4d}  "
            + "  ".join(f"{systems[s]['per_attribute'][a]['f1']:.3f}" for s in systems)
        )
    return "\n".join(lines)


# --- the outside check: review topics -----------------------------------------------------------


def load_topic_reviews(data_dir=None):
    """oliveyoung_cream_reviews' reviews with their topic (보습/진정/사용감/자극/기타), product and split."""
    import csv

    from .beauty import _name_id
    from .shared import shared_data_dir
    from .splits import stable_split

    path = Path(data_dir or shared_data_dir()) / "oliveyoung_cream_reviews" / "train_data_fixed.csv"
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise AttributeModelError(f"the topic check needs {path}: {exc}") from None
    out = []
    for n, r in enumerate(rows, start=1):
        if r.get("label") not in TOPICS:
            continue
        product = _name_id("oy-creamname", r["product_name"])
        out.append(
            {
                "text": (r["review"] or "").strip(),
                "topic": TOPICS[r["label"]],
                "product_id": product,
                "split": stable_split(product, FRACTIONS),
                "source_ref": f"{path.name}:{n}",
            }
        )
    return out


def _tag_topic(attribute, value):
    """The topic one sentence tag speaks for, or None."""
    polarity = value[0] if isinstance(value, (tuple, list)) else value
    for topic, keys in TOPIC_ATTRIBUTES.items():
        if attribute in keys or f"{attribute}:{polarity}" in keys:
            return topic
    return None


def review_topic(sentence_tags):
    """The topic of a review from its sentences' {attribute: value or (value, p)}: the effect (보습, 진정,
    자극) named by the most sentences, and the feel (사용감) only where no sentence names an effect (each
    sentence counts a topic once, with its strongest probability; a phrase tagger's 1.0; a tie goes to
    보습, 진정, 자극 in that order), as a review's topic is the effect it reports and texture remarks ride
    along; None when no sentence speaks for a topic. (Chosen on the reviews of train-split products,
    2026-12-03: counting the feel like an effect agreed with the given topic on 45.5 % of them, this on
    58.0 %.)"""
    score = Counter()
    for tags in sentence_tags:
        strongest = {}
        for attribute, value in tags.items():
            topic = _tag_topic(attribute, value)
            if topic is not None:
                p = value[1] if isinstance(value, (tuple, list)) else 1.0
                strongest[topic] = max(strongest.get(topic, 0.0), p)
        for topic, p in strongest.items():
            score[topic] += p
    if not score:
        return None
    effects = [t for t in score if t != FEEL_TOPIC] or [FEEL_TOPIC]
    return max(effects, key=lambda t: (score[t], -TOPIC_TIES.index(t)))


TOPIC_FILE = "topic.json"  # the learned topic aggregation saved beside a tagger
TOPIC_C = 1.0  # chosen by 5-fold cross-validation on the train-split products' reviews (2026-12-03)


def tag_features(sentence_tags, layout):
    """A review as log(1 + count) of each `<attribute>:<value>` over its sentences, and its sentence
    count: what the learned aggregation of the topic check read until 2026-12-03."""
    import numpy as np

    index = {key: i for i, key in enumerate(layout)}
    x = np.zeros(len(layout) + 1)
    for tags in sentence_tags:
        for attribute, value in tags.items():
            key = f"{attribute}:{value[0] if isinstance(value, (tuple, list)) else value}"
            if key in index:
                x[index[key]] += 1
    x[-1] = len(sentence_tags)
    return np.log1p(x)


def tag_probabilities(sentence_tags, layout):
    """[sentences, outputs] rows from tags alone (a tagged output its probability, 1.0 for a phrase
    tagger's bare value; the rest 0): for a tagger without `probabilities`."""
    index = {key: i for i, key in enumerate(layout)}
    rows = []
    for tags in sentence_tags:
        row = [0.0] * len(layout)
        for attribute, value in tags.items():
            polarity, p = (value[0], float(value[1])) if isinstance(value, (tuple, list)) else (value, 1.0)
            if f"{attribute}:{polarity}" in index:
                row[index[f"{attribute}:{polarity}"]] = p
        rows.append(row)
    return rows


def topic_features(sentence_tags, sentence_probabilities, layout):
    """A review for the learned topic aggregation: `tag_features`, then the largest and the mean
    probability of each output over the review's sentences (what a tagger said below its thresholds
    too)."""
    import numpy as np

    p = np.asarray(sentence_probabilities, dtype=np.float64).reshape(-1, len(layout))
    largest = p.max(axis=0) if len(p) else np.zeros(len(layout))
    mean = p.mean(axis=0) if len(p) else np.zeros(len(layout))
    return np.concatenate([tag_features(sentence_tags, layout), largest, mean])


class TopicAggregation:
    """A review's topic (보습 / 진정 / 사용감 / 자극) from its sentences' tags and probabilities: a
    multinomial logistic regression over `topic_features`, fitted on topic-labelled reviews. Saved as
    plain JSON (`topic.json`) beside the tagger; numpy only to apply."""

    def __init__(self, layout, classes, coef, intercept, info=None):
        import numpy as np

        self.layout, self.classes = [str(x) for x in layout], [str(c) for c in classes]
        self.coef, self.intercept = np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)
        self.info = dict(info or {})
        if self.coef.shape != (len(self.classes), 3 * len(self.layout) + 1) or self.intercept.shape != (
            len(self.classes),
        ):
            raise AttributeModelError(
                f"topic aggregation: coefficients {self.coef.shape} and intercepts {self.intercept.shape} do not "
                f"fit {len(self.classes)} topics over {len(self.layout)} outputs"
            )

    @classmethod
    def fit(cls, layout, features, topics, c=TOPIC_C, info=None):
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=5000).fit(features, topics)
        coef, intercept = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = [-coef[0] / 2, coef[0] / 2], [-intercept[0] / 2, intercept[0] / 2]
        return cls(layout, model.classes_, coef, intercept, dict(info or {}, C=c))

    def predict(self, features):
        """The topic of each feature row."""
        import numpy as np

        scores = np.asarray(features, dtype=np.float64) @ self.coef.T + self.intercept
        return [self.classes[i] for i in scores.argmax(axis=1)]

    def review_topic(self, sentence_tags, sentence_probabilities):
        return self.predict([topic_features(sentence_tags, sentence_probabilities, self.layout)])[0]

    def save(self, directory):
        data = {
            "layout": self.layout,
            "classes": self.classes,
            "features": "log1p tag counts per output + sentence count; max and mean probability per output",
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            **self.info,
        }
        path = Path(directory) / TOPIC_FILE
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory):
        """The aggregation saved in a directory, None when it has none; AttributeModelError when it
        does not load."""
        path = Path(directory) / TOPIC_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            info = {k: v for k, v in data.items() if k not in ("layout", "classes", "coef", "intercept")}
            return cls(data["layout"], data["classes"], data["coef"], data["intercept"], info)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AttributeModelError(f"{path}: not a topic aggregation ({type(exc).__name__}: {exc})") from None


def learned_topic_agreement(layout, tags, reviews, probabilities=None):
    """How much topic a tagger's outputs carry, beyond the fixed mapping: a `TopicAggregation` fitted
    on the reviews of train-split products and scored on the others, beside the majority topic's share
    there. `tags` and `probabilities` hold each review's sentences' (probabilities default to the tags'
    own). Returns (figures, the fitted aggregation), or (None, None) with too little to fit."""
    from .attributes import wilson

    train = [r["split"] == "train" for r in reviews]
    if probabilities is None:
        probabilities = [tag_probabilities(t, layout) for t in tags]
    x = [topic_features(t, p, layout) for t, p in zip(tags, probabilities)]
    fit_x = [v for v, keep in zip(x, train) if keep]
    fit_y = [r["topic"] for r, keep in zip(reviews, train) if keep]
    held = [(v, r["topic"]) for v, r, keep in zip(x, reviews, train) if not keep]
    if len(set(fit_y)) < 2 or not held:
        return None, None
    aggregation = TopicAggregation.fit(layout, fit_x, fit_y, info={"fitted_on": len(fit_y)})
    predicted = aggregation.predict([v for v, _ in held])
    truth = [t for _, t in held]
    majority = Counter(fit_y).most_common(1)[0][0]
    agree = sum(p == t for p, t in zip(predicted, truth))
    aggregation.info["held_out_agreement"] = agree / len(held)
    figures = {
        "fitted_on": len(fit_y),
        "reviews": len(held),
        "agreement": float(agree / len(held)),
        "interval_95": list(wilson(agree, len(held))),
        "majority_topic": majority,
        "majority_share": truth.count(majority) / len(held),
        "confusion": dict(Counter(f"{t}->{p}" for p, t in zip(predicted, truth)).most_common()),
    }
    return figures, aggregation


def topic_reviews_for(mode, log=print):
    """The topic check's reviews for a command's --topic-check: "no" -> None; "auto" -> None (said) when
    oliveyoung_cream_reviews is not in the shared data; "yes" -> AttributeModelError then."""
    if mode == "no":
        return None
    try:
        return load_topic_reviews()
    except AttributeModelError:
        if mode == "yes":
            raise
        log("topic check skipped: oliveyoung_cream_reviews is not in the shared data")
        return None


def topic_check(tagger, taxonomy, reviews, log=print, aggregations=None):
    """Agreement of the review-level topic with the given one where it is not 기타, for the model and the
    phrase tagger: by the fixed mapping (`review_topic`) on reviews of validation/test products (never
    trained on) and on all reviews, and by the learned aggregation (`TopicAggregation`, fitted on the
    train-split products' reviews) on the others. `aggregations`, a dict, receives each tagger's fitted
    aggregation."""
    from .attributes import PhraseTagger, split_many

    reviews = [r for r in reviews if r["topic"] != "기타"]
    sentences = split_many([r["text"] for r in reviews])
    flat = [s for ss in sentences for s in ss]
    phrases = PhraseTagger(taxonomy)
    layout = label_layout(taxonomy)
    # one pass of the model: its tags are its probabilities decoded, as its tag() does
    model_p = tagger.probabilities(flat) if hasattr(tagger, "probabilities") and hasattr(tagger, "thresholds") else None
    model_tags = (
        [decode(row, layout, tagger.thresholds) for row in model_p] if model_p is not None else tagger.tag(flat)
    )
    tags = {"model": model_tags, "phrase_tagger": [phrases.tag(s) for s in flat]}
    probabilities = {"model": model_p, "phrase_tagger": None}
    result = {
        "mapping": {t: list(a) for t, a in TOPIC_ATTRIBUTES.items()},
        "aggregation": review_topic.__doc__.split(":")[0],
    }
    for subset, keep in (("held_out_products", lambda r: r["split"] != "train"), ("all", lambda r: True)):
        result[subset] = {}
        for name, flat_tags in tags.items():
            position, agree, covered, n, confusion = 0, 0, 0, 0, Counter()
            for review, ss in zip(reviews, sentences):
                own = flat_tags[position : position + len(ss)]
                position += len(ss)
                if not keep(review):
                    continue
                topic = review_topic(own)
                n += 1
                covered += topic is not None
                agree += topic == review["topic"]
                confusion[f"{review['topic']}->{topic or '-'}"] += 1
            result[subset][name] = {
                "reviews": n,
                "agreement": agree / n if n else None,
                "with_a_mapped_attribute": covered / n if n else None,
                "agreement_where_mapped": agree / covered if covered else None,
                "confusion": dict(confusion.most_common()),
            }
    result["learned"] = {}
    for name, flat_tags in tags.items():
        flat_p = probabilities[name] if probabilities[name] is not None else tag_probabilities(flat_tags, layout)
        per_review, per_review_p, position = [], [], 0
        for ss in sentences:
            per_review.append(flat_tags[position : position + len(ss)])
            per_review_p.append(flat_p[position : position + len(ss)])
            position += len(ss)
        figures, aggregation = learned_topic_agreement(layout, per_review, reviews, per_review_p)
        result["learned"][name] = figures
        if aggregations is not None and aggregation is not None:
            aggregations[name] = aggregation
    for subset in ("held_out_products", "all"):
        log(
            f"topic check ({subset}, topic not 기타): "
            + ", ".join(
                f"{NAMES.get(k, k)} {v['agreement']:.3f} of {v['reviews']} ({v['agreement_where_mapped']:.3f} where it tags "
                f"a mapped attribute, {v['with_a_mapped_attribute']:.2f} do)"
                for k, v in result[subset].items()
                if v["reviews"]
            )
        )
    log(
        "topic check, aggregation learned on train-split products (held-out products): "
        + ", ".join(
            f"{NAMES.get(k, k)} {v['agreement']:.3f} of {v['reviews']} (95 % {v['interval_95'][0]:.3f}–"
            f"{v['interval_95'][1]:.3f}; majority topic {v['majority_share']:.3f})"
            for k, v in result["learned"].items()
            if v
        )
    )
    return result


# --- the loader for the service -----------------------------------------------------------------


def _read_thresholds(tagger, directory):
    """Set `tagger`'s directory, thresholds, layout and taxonomy version from DIR/attributes.json."""
    tagger.directory = Path(directory)
    path = tagger.directory / ATTRIBUTES_JSON
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        tagger.thresholds = {str(k): float(v) for k, v in info["thresholds"].items()}
        tagger.layout = [str(x) for x in info["labels"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AttributeModelError(f"{path}: not an attribute model's thresholds file: {exc}") from None
    tagger.taxonomy_version = info.get("taxonomy_version")


class AttributeTagger:
    """A trained attribute model directory: `tag(sentences)` -> [{attribute: (polarity, probability)}]."""

    runtime = "torch"

    def __init__(self, directory, batch_size=64, max_length=128):
        from transformers import AutoModelForSequenceClassification

        from .vocab import load_tokenizer

        _read_thresholds(self, directory)
        try:
            self.tokenizer = load_tokenizer(self.directory)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                str(self.directory), use_safetensors=True, trust_remote_code=False
            ).eval()
        except Exception as exc:  # transformers raises many kinds here
            raise AttributeModelError(f"{self.directory}: the model does not load: {exc}") from exc
        labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        if labels != self.layout:
            raise AttributeModelError(
                f"{self.directory}: config.json's id2label does not match attributes.json's labels"
            )
        self.preprocess = getattr(self.model.config, "hwadmin_preprocess", None)
        self.batch_size = batch_size
        self.max_length = min(max_length, self.model.config.max_position_embeddings or max_length)

    def probabilities(self, sentences):
        """[n, outputs] sigmoid probabilities, in input order (batched, length-sorted)."""
        import torch

        from .morphemes import preprocess

        sentences = [str(s or "") for s in sentences]
        if not sentences:
            return []
        reads = preprocess(self.preprocess, sentences)
        encoded = self.tokenizer(reads, truncation=True, max_length=self.max_length)["input_ids"]
        out = [None] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                part = order[start : start + self.batch_size]
                batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in part]}, return_tensors="pt")
                logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                for i, row in zip(part, torch.sigmoid(logits.float()).tolist()):
                    out[i] = row
        return out

    def tag(self, sentences):
        """Per sentence {attribute id: (polarity, probability)}; polarity "pos"/"neg", or "present"."""
        return [decode(row, self.layout, self.thresholds) for row in self.probabilities(sentences)]


class OnnxAttributeTagger:
    """The same directory's int8 ONNX export (`export_int8`, model.int8.onnx) in ONNX Runtime: the same
    contract as AttributeTagger, without torch or transformers (tokenizers, onnxruntime, numpy)."""

    runtime = "onnx"

    def __init__(self, directory, batch_size=64, max_length=128):
        from moderation.onnx_scoring import ModelLoadError, open_int8

        from .morphemes import CONFIG_KEY, PreprocessError, check

        _read_thresholds(self, directory)
        try:
            self.session, self.tokenizer, self.pad_id, config = open_int8(self.directory, len(self.layout))
        except ModelLoadError as exc:
            raise AttributeModelError(str(exc)) from None
        id2label = config.get("id2label") or {}
        if [id2label.get(str(i)) for i in range(len(self.layout))] != self.layout:
            raise AttributeModelError(
                f"{self.directory}: config.json's id2label does not match attributes.json's labels"
            )
        try:
            self.preprocess = check(config.get(CONFIG_KEY))
        except PreprocessError as exc:
            raise AttributeModelError(f"{self.directory}: {exc}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.batch_size = batch_size
        self.max_length = min(max_length, config.get("max_position_embeddings") or max_length)

    def probabilities(self, sentences):
        """[n, outputs] sigmoid probabilities, in input order (batched, length-sorted, as AttributeTagger)."""
        import numpy as np

        from moderation.onnx_scoring import batch_logits

        from .morphemes import preprocess

        sentences = [str(s or "") for s in sentences]
        if not sentences:
            return []
        self.tokenizer.enable_truncation(self.max_length)
        encodings = self.tokenizer.encode_batch(preprocess(self.preprocess, sentences))
        ids, type_ids = [e.ids for e in encodings], [e.type_ids for e in encodings]
        out = [None] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            logits = batch_logits(
                self.session, self.input_names, self.pad_id, [ids[i] for i in part], [type_ids[i] for i in part]
            )
            for i, row in zip(part, (1.0 / (1.0 + np.exp(-logits.astype("float64")))).tolist()):
                out[i] = row
        return out

    def tag(self, sentences):
        """Per sentence {attribute id: (polarity, probability)}; polarity "pos"/"neg", or "present"."""
        return [decode(row, self.layout, self.thresholds) for row in self.probabilities(sentences)]


RUNTIMES = ("torch", "onnx")


def load(directory, batch_size=64, runtime="torch"):
    """The attribute model of a directory `train` wrote (attributes.json beside the safetensors): in torch,
    or with runtime "onnx" its int8 export (`export_int8`) in ONNX Runtime."""
    if not (Path(directory) / ATTRIBUTES_JSON).exists():
        raise AttributeModelError(f"{directory}: no {ATTRIBUTES_JSON}; not an attribute model directory")
    if runtime not in RUNTIMES:
        raise AttributeModelError(f"runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
    if runtime == "onnx":
        return OnnxAttributeTagger(directory, batch_size=batch_size)
    return AttributeTagger(directory, batch_size=batch_size)


def export_int8(directory, model=None):
    """DIR/model.int8.onnx from the directory's torch model, or `model` when given
    (`moderation.onnx_scoring.export_int8`: the graph fused, the weights dynamically quantised to int8); its path."""
    from moderation.onnx_scoring import export_int8 as export

    return export(model if model is not None else AttributeTagger(directory).model, directory)


def remeasure(directory, path=None, log=print):
    """Measure a trained attribute model again on the labelled sentences as they are now (a test split that
    grew, a corrected label) and write the new `evaluation` into its metrics.json, keeping the record of how it
    was trained; `remeasured` says when, on how many test sentences, and what the figure was before. Nothing
    is written when the figures did not change. The model's new `evaluation`."""
    import datetime

    from .attributes import load_taxonomy

    metrics_path = Path(directory) / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AttributeModelError(f"{metrics_path}: {exc}") from None
    if metrics.get("task") != "attributes" or "evaluation" not in metrics:
        raise AttributeModelError(f"{metrics_path}: not the metrics of an attribute model (no task or evaluation)")
    taxonomy = load_taxonomy()
    rows = load_sentences(path, taxonomy=taxonomy)
    split = split_rows(rows)
    evaluation = evaluate_all(load(directory), split, taxonomy, log=log)["evaluation"]
    before = metrics["evaluation"]["subsets"]["all"]["model"]
    if evaluation["subsets"] == metrics["evaluation"]["subsets"]:
        log(f"{directory}: the figures did not change; metrics.json left as it is")
        return evaluation
    metrics["remeasured"] = {
        "on": datetime.date.today().isoformat(),
        "test_sentences": len(split["test"] or split["validation"]),
        "before": {"test_sentences": metrics.get("examples", {}).get("test"), "micro_f1": before["micro_f1"]},
    }
    metrics["evaluation"] = evaluation
    metrics.setdefault("examples", {})["test"] = len(split["test"])
    metrics_path.write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    log(
        f"{metrics_path}: test micro-F1 {evaluation['subsets']['all']['model']['micro_f1']:.3f} (was {before['micro_f1']:.3f})"
    )
    return evaluation


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m plm.attributes_model",
        description="remeasure DIR: an attribute model's test figures again, on the labelled sentences as they are now",
    )
    parser.add_argument("command", choices=["remeasure"])
    parser.add_argument("directory")
    parser.add_argument("--data", help="labelled sentences (default: data/labelled/attributes/sentences.jsonl)")
    args = parser.parse_args()
    try:
        remeasure(args.directory, args.data)
    except AttributeModelError as exc:
        parser.exit(2, f"error: {exc}\n")
