"""Measuring a classifier honestly: metrics, a threshold table, calibration, plots, a keyword rule.

`classification_metrics` is what `finetune_classifier` writes to metrics.json;
`binary_report` is what `evaluate_classifier` prints and saves: AUROC, average
precision, precision@k, expected calibration error and, for each threshold,
the precision, recall and share of reviews at or above it (the evidence behind
a one-click "blind everything above p" threshold). The keyword rule is the
baseline a model must beat; it is evaluated on the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from typing import TypeAlias

    # One value per example, as a list or a numpy array: labels (0/1 or class ids) and scores.
    _Labels: TypeAlias = Sequence[int] | np.ndarray
    _Scores: TypeAlias = Sequence[float] | np.ndarray

# Phrases that say the writer has not used the product (yet). A review matching
# any of them is scored 1 by the rule, every other review 0.
UNUSED_CUES = [
    r"아직\s*(안|못)\s*(써|사용|발라|뜯|열어|개봉)",
    r"아직\s*(사용|개봉)\s*(전|안|하지|못)",
    r"사용\s*전",
    r"개봉\s*(전|안\s*했)",
    r"미개봉",
    r"(써|사용해|발라)\s*보고\s*(후기|리뷰)",
    r"후기\s*(는|은)?\s*(나중에|다음에|추후)",
    r"(후기|리뷰)\s*(남길|남기겠|수정할|추가할|다시\s*남길)",
    r"쟁여\s*(놨|놓|둡|뒀|둘)",
]
_CUE_PATTERN = re.compile("|".join(f"(?:{cue})" for cue in UNUSED_CUES))

DEFAULT_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 1.0, 0.05))
DEFAULT_KS = (10, 50, 100, 500)


def keyword_rule_scores(texts: Iterable[str | None]) -> list[float]:
    """1.0 for a text with an unused-review cue phrase, else 0.0."""
    return [1.0 if _CUE_PATTERN.search(text or "") else 0.0 for text in texts]


# --- metrics -----------------------------------------------------------------


def classification_metrics(
    labels: _Labels, probabilities: Sequence[Sequence[float]] | np.ndarray, label_names: Sequence[str] | None = None
) -> dict[str, float]:
    """Accuracy and F1 for any task; micro/macro F1 when multi-class; AUROC and AP when binary.

    `probabilities` is [n, classes] (softmax outputs); predictions are the argmax.
    """
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=1)
    metrics = {"examples": int(len(labels)), "accuracy": float(accuracy_score(labels, predictions))}
    if probabilities.shape[1] == 2:
        metrics["f1"] = float(f1_score(labels, predictions, zero_division=0))
        if len(set(labels.tolist())) == 2:
            metrics["auroc"] = float(roc_auc_score(labels, probabilities[:, 1]))
            metrics["average_precision"] = float(average_precision_score(labels, probabilities[:, 1]))
    else:
        classes = list(range(probabilities.shape[1]))
        metrics["f1_micro"] = float(f1_score(labels, predictions, labels=classes, average="micro", zero_division=0))
        metrics["f1_macro"] = float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0))
        metrics["f1"] = metrics["f1_micro"]
    return metrics


def precision_at_k(labels: _Labels, scores: _Scores, k: int) -> float:
    """Share of positives among the k highest-scoring examples (ties broken by input order)."""
    labels = np.asarray(labels)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    top = order[: min(k, len(order))]
    return float(labels[top].mean()) if len(top) else 0.0


def calibration_bins(labels: _Labels, probabilities: _Scores, bins: int = 10) -> list[dict[str, float | None]]:
    """Equal-width bins over [0, 1]: (lower, upper, count, mean predicted, fraction positive)."""
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges[1:-1], probabilities, side="right"), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        rows.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_probability": float(probabilities[members].mean()) if count else None,
                "fraction_positive": float(labels[members].mean()) if count else None,
            }
        )
    return rows


def expected_calibration_error(labels: _Labels, probabilities: _Scores, bins: int = 10) -> float:
    """Σ_b (n_b / n) · |fraction positive in b − mean predicted probability in b|."""
    n = len(labels)
    return (
        float(
            sum(
                row["count"] / n * abs(row["fraction_positive"] - row["mean_probability"])
                for row in calibration_bins(labels, probabilities, bins)
                if row["count"]
            )
        )
        if n
        else 0.0
    )


def threshold_table(
    labels: _Labels, probabilities: _Scores, thresholds: Iterable[float] = DEFAULT_THRESHOLDS
) -> list[dict[str, float]]:
    """For each threshold t: precision, recall and F1 of "p ≥ t", and the share and count at or above t."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    rows = []
    for t in thresholds:
        flagged = (probabilities >= t).astype(int)
        precision, recall, f1, _ = precision_recall_fscore_support(labels, flagged, average="binary", zero_division=0)
        rows.append(
            {
                "threshold": float(t),
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "share_above": float(flagged.mean()) if len(flagged) else 0.0,
                "count_above": int(flagged.sum()),
            }
        )
    return rows


def binary_report(
    labels: _Labels,
    probabilities: _Scores,
    ks: Iterable[int] = DEFAULT_KS,
    thresholds: Iterable[float] = DEFAULT_THRESHOLDS,
    bins: int = 10,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Everything evaluate_classifier reports for one scorer on one labelled file."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = (probabilities >= threshold).astype(int)
    both = len(set(labels.tolist())) == 2
    return {
        "examples": int(len(labels)),
        "positives": int(labels.sum()),
        "threshold": threshold,
        "accuracy": float(accuracy_score(labels, predictions)),
        "precision": float(precision_score(labels, predictions, zero_division=0)),
        "recall": float(recall_score(labels, predictions, zero_division=0)),
        "f1": float(f1_score(labels, predictions, zero_division=0)),
        "auroc": float(roc_auc_score(labels, probabilities)) if both else None,
        "average_precision": float(average_precision_score(labels, probabilities)) if both else None,
        "precision_at_k": {str(k): precision_at_k(labels, probabilities, k) for k in ks if k <= len(labels)},
        "ece": expected_calibration_error(labels, probabilities, bins),
        "calibration": calibration_bins(labels, probabilities, bins),
        "thresholds": threshold_table(labels, probabilities, thresholds),
    }


# --- plots ----------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(
    curves: Mapping[str, tuple[_Labels, _Scores]], path: str | Path, title: str = "Precision–recall"
) -> Path:
    """curves: {name: (labels, scores)}; one line per scorer, AP in the legend."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120)
    for name, (labels, scores) in curves.items():
        precision, recall, _ = precision_recall_curve(labels, scores)
        ax.step(recall, precision, where="post", label=f"{name} (AP {average_precision_score(labels, scores):.3f})")
    base = float(np.mean(next(iter(curves.values()))[0])) if curves else 0.0
    ax.axhline(base, color="grey", linestyle=":", label=f"share positive {base:.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_reliability(
    calibration: Sequence[Mapping[str, Any]], path: str | Path, ece: float | None = None, title: str = "Reliability"
) -> Path:
    plt = _pyplot()
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), dpi=120, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    filled = [row for row in calibration if row["count"]]
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.plot([r["mean_probability"] for r in filled], [r["fraction_positive"] for r in filled], "o-", label="model")
    ax.set(ylabel="fraction positive", ylim=(0, 1), title=title + (f" (ECE {ece:.3f})" if ece is not None else ""))
    ax.legend(loc="upper left", fontsize=8)
    width = calibration[0]["upper"] - calibration[0]["lower"]
    hist.bar(
        [r["lower"] for r in calibration],
        [r["count"] for r in calibration],
        width=width,
        align="edge",
        edgecolor="black",
    )
    hist.set(xlabel="predicted probability", ylabel="reviews", xlim=(0, 1), yscale="log")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


# --- the whole evaluation ----------------------------------------------------------------


def evaluate(
    labels: _Labels,
    probabilities: _Scores,
    texts: Sequence[str],
    output_dir: str | Path | None = None,
    name: str = "model",
    ks: Sequence[int] = DEFAULT_KS,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    bins: int = 10,
    threshold: float = 0.5,
    baseline: _Scores | None = None,
    uncalibrated: _Scores | None = None,
) -> dict[str, Any]:
    """Model, baseline (when its scores are given) and keyword rule on the same examples.

    `uncalibrated`: the model's raw softmax scores, to report the calibration error before
    calibration beside the one after. With output_dir: evaluation.json, predictions.jsonl (the
    scores behind every number), pr_curve.png and reliability.png.
    """
    rule = keyword_rule_scores(texts)
    result = {
        "model": binary_report(labels, probabilities, ks, thresholds, bins, threshold),
        "keyword_rule": binary_report(labels, rule, ks, thresholds=(0.5,), bins=bins, threshold=0.5),
        "keyword_rule_cues": UNUSED_CUES,
    }
    if baseline is not None:
        result["baseline"] = binary_report(labels, baseline, ks, thresholds, bins, threshold)
    if uncalibrated is not None:
        result["model"]["ece_uncalibrated"] = expected_calibration_error(labels, uncalibrated, bins)
    if output_dir:
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / "evaluation.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
        with open(output / "predictions.jsonl", "w", encoding="utf-8") as f:
            for i, (text, label, p, r) in enumerate(zip(texts, labels, probabilities, rule)):
                row = {"text": text, "label": int(label), "probability": float(p), "keyword_rule": r}
                if baseline is not None:
                    row["baseline"] = float(baseline[i])
                if uncalibrated is not None:
                    row["uncalibrated"] = float(uncalibrated[i])
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        if len(set(np.asarray(labels).tolist())) == 2:
            curves = {name: (labels, probabilities)}
            if baseline is not None:
                curves["baseline (char n-gram LR)"] = (labels, baseline)
            curves["keyword rule"] = (labels, rule)
            plot_pr_curves(curves, output / "pr_curve.png")
        plot_reliability(result["model"]["calibration"], output / "reliability.png", result["model"]["ece"], name)
    return result


def format_report(result: Mapping[str, Any]) -> str:
    """The evaluation as text for the terminal."""
    model = result["model"]

    def f(value):
        return "   -  " if value is None else f"{value:6.3f}"

    def row(name, r):
        return (
            f"{name:14}{f(r['auroc'])} {f(r['average_precision'])} {f(r['f1'])} {f(r['precision'])} "
            f"{f(r['recall'])} {f(r['ece'])}"
        )

    lines = [
        f"{model['examples']} examples, {model['positives']} positive",
        f"{'':14}{'AUROC':>7}{'AP':>7}{'F1':>7}{'prec':>7}{'recall':>7}{'ECE':>7}",
        row("model", model),
    ]
    if "baseline" in result:
        lines.append(row("baseline", result["baseline"]))
    lines += [
        row("keyword rule", result["keyword_rule"]),
        "precision@k: " + ", ".join(f"@{k} {v:.3f}" for k, v in model["precision_at_k"].items()),
    ]
    if model.get("ece_uncalibrated") is not None:
        lines.append(
            f"calibration error (ECE): {model['ece_uncalibrated']:.3f} before calibration, {model['ece']:.3f} after"
        )
    lines += [
        "",
        f"{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'share ≥ t':>10} {'count':>6}",
    ]
    for row in model["thresholds"]:
        lines.append(
            f"{row['threshold']:9.2f} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} "
            f"{row['share_above']:10.3f} {row['count_above']:6d}"
        )
    return "\n".join(lines)
