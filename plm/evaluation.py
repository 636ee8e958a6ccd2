"""Over 500 lines: one classifier measurement (metrics, thresholds, calibration, plots, keyword rule, intervals).

Measuring a classifier honestly: metrics, a threshold table, calibration, plots, a keyword rule.

`classification_metrics` is what `finetune_classifier` writes to metrics.json;
`binary_report` is what `evaluate_classifier` prints and saves: AUROC, average
precision, precision@k, expected calibration error and, for each threshold,
the precision, recall and share of reviews at or above it (the evidence behind
a one-click "blind everything above p" threshold). The keyword rule is the
baseline a model must beat; it is evaluated on the same file.

`paired_bootstrap` puts percentile intervals on AUROC and AP and on each scorer's difference
from a reference scorer, every scorer measured on the same resamples; `paired_bootstrap_micro_f1`
does the same for set-valued micro-F1 from per-row counts. With `groups` (the product of each row,
the unit the labelled splits are drawn by) whole groups are resampled. Differences read
reference − system: `model − baseline` is positive where the model is ahead.
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
    bootstrap: int = 0,
    groups: Sequence[Any] | None = None,
    parts: Mapping[str, _Scores] | None = None,
) -> dict[str, Any]:
    """Model, baseline (when its scores are given) and keyword rule on the same examples.

    `parts`: a stacked model's inputs scored alone (e.g. {"network": raw softmax, "companion": the companion
    regression's margins}), put beside the model in the bootstrap: does the stack beat each of its parts?

    `uncalibrated`: the model's raw softmax scores, to report the calibration error before
    calibration beside the one after. `bootstrap`: that many resamples (`paired_bootstrap`, by the
    `groups`' products when given, else by review) for AUROC / AP intervals and the model's paired
    differences from the baseline and the rule. With output_dir: evaluation.json, predictions.jsonl
    (the scores behind every number), pr_curve.png and reliability.png.
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
    if bootstrap:
        scorers = {
            "model": probabilities,
            **(parts or {}),
            **({"baseline": baseline} if baseline is not None else {}),
            "keyword_rule": rule,
        }
        unit = "product" if groups is not None else "review"
        result["bootstrap"] = paired_bootstrap(labels, scorers, "model", rounds=bootstrap, groups=groups, unit=unit)
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
                for part, scores in (parts or {}).items():
                    row.setdefault(part, float(scores[i]))
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
    if result.get("bootstrap"):
        lines += ["", format_bootstrap(result["bootstrap"], BOOTSTRAP_NAMES)]
    return "\n".join(lines)


# --- intervals: a paired bootstrap ---------------------------------------------------------

METRIC_NAMES = {"auroc": "AUROC", "average_precision": "AP", "micro_f1": "micro-F1"}
BOOTSTRAP_NAMES = {"keyword_rule": "keyword rule", "network": "network alone", "companion": "companion regression"}
_CELLS = 4_000_000  # resamples × rows held in memory at once


def product_groups(groups: Sequence[Any] | None, row_unit: str) -> tuple[list[Any] | None, str]:
    """(groups, unit) for a bootstrap: whole products when every row has one (the unit the labelled splits are
    drawn by), else single rows, named `row_unit` ("review", "sentence")."""
    groups = list(groups or [])
    return (groups, "product") if groups and all(groups) else (None, row_unit)


def resample_indices(n: int, rounds: int, groups: Sequence[Any] | None = None, seed: int = 0) -> list[np.ndarray]:
    """`rounds` resamples of n rows drawn with replacement, as row index arrays (the same for a seed).

    With `groups` (one id per row, e.g. its product): a cluster bootstrap that draws as many groups as
    there are, with replacement, and takes every row of each drawn group (so the sizes vary)."""
    if n < 1 or rounds < 1:
        raise ValueError(f"a bootstrap needs rows and rounds (has {n} rows, {rounds} rounds)")
    rng = np.random.default_rng(seed)
    if groups is None:
        return list(rng.integers(0, n, size=(rounds, n)))
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} rows")
    codes = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)[1].ravel()
    order = np.argsort(codes, kind="stable")  # the rows, group by group
    sizes = np.bincount(codes)
    starts = np.cumsum(sizes) - sizes
    resamples = []
    for drawn in rng.integers(0, len(sizes), size=(rounds, len(sizes))):
        counts = sizes[drawn]
        ends = np.cumsum(counts)
        resamples.append(order[np.arange(ends[-1]) + np.repeat(starts[drawn] - (ends - counts), counts)])
    return resamples


def _weights(indices: Sequence[np.ndarray], n: int) -> Iterable[np.ndarray]:
    """The resamples as [resamples, n] row multiplicities, a chunk at a time."""
    step = max(1, _CELLS // n)
    for start in range(0, len(indices), step):
        yield np.stack([np.bincount(i, minlength=n) for i in indices[start : start + step]]).astype(np.float64)


def _auroc_ap(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and AP for each row of `weights` (row multiplicities, both classes present), as scikit-learn
    computes them on the repeated rows: one point per distinct score, the trapezoid for AUROC, Σ ΔR·P for AP."""
    order = np.argsort(-scores, kind="stable")
    positive = labels[order] == 1
    w = weights[:, order]
    last = np.r_[np.flatnonzero(np.diff(scores[order])), len(order) - 1]  # each distinct score's last row
    tp = np.cumsum(w * positive, axis=1)[:, last]
    fp = np.cumsum(w * ~positive, axis=1)[:, last]
    tpr, fpr = tp / tp[:, -1:], fp / fp[:, -1:]
    tpr0, fpr0 = np.pad(tpr, ((0, 0), (1, 0))), np.pad(fpr, ((0, 0), (1, 0)))
    auroc = np.sum(np.diff(fpr0, axis=1) * (tpr0[:, 1:] + tpr0[:, :-1]) / 2, axis=1)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    return auroc, np.sum(np.diff(tpr0, axis=1) * precision, axis=1)


def _summary(points, samples, reference, rounds, used, groups, level, seed, unit, n) -> dict[str, Any]:
    """Point, interval and paired differences (reference − system) from per-resample values."""
    if reference is None:
        reference = next(iter(points))
    if reference not in points:
        raise ValueError(f"reference {reference!r} is not one of {', '.join(points)}")
    q = [(1 - level) / 2, (1 + level) / 2]

    def interval(values, point):
        if point is None or not len(values):
            return {"point": point, "low": None, "high": None}
        low, high = np.quantile(values, q)
        return {"point": point, "low": float(low), "high": float(high)}

    differences = {}
    for name in points:
        if name != reference:
            differences[name] = {}
            for m, value in points[name].items():
                ours, theirs = samples[reference][m], samples[name][m]
                base = points[reference][m]
                entry = interval(ours - theirs, None if base is None or value is None else base - value)
                entry["share_better"] = float(np.mean(ours > theirs)) if len(ours) else None
                differences[name][m] = entry
    return {
        "rounds": rounds,
        "used": used,
        "level": level,
        "seed": seed,
        "resampled_by": unit or ("group" if groups is not None else "row"),
        "units": len({str(g) for g in groups}) if groups is not None else n,
        "reference": reference,
        "difference": "reference − system; share_better: share of the used resamples where the reference is higher",
        "systems": {name: {m: interval(samples[name][m], v) for m, v in ms.items()} for name, ms in points.items()},
        "differences": differences,
    }


def paired_bootstrap(
    labels: _Labels,
    scores: Mapping[str, _Scores],
    reference: str | None = None,
    metrics: Sequence[str] = ("auroc", "average_precision"),
    rounds: int = 1000,
    groups: Sequence[Any] | None = None,
    level: float = 0.95,
    seed: int = 0,
    unit: str | None = None,
) -> dict[str, Any]:
    """Percentile intervals of AUROC / AP for each scorer and of its difference from `reference` (default:
    the first scorer), every scorer on the same resamples (`resample_indices`).

    Points are scikit-learn's on all rows. A resample holding one class only is skipped (`used` counts the
    others). `differences[name]` is reference − name, `share_better` the share of used resamples where the
    reference is strictly higher. `unit` names what was resampled ("product", "review")."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    known = {"auroc": roc_auc_score, "average_precision": average_precision_score}
    if set(metrics) - set(known):
        raise ValueError(f"metrics must be among {', '.join(known)}, not {', '.join(set(metrics) - set(known))}")
    y = np.asarray(labels).astype(int)
    arrays = {name: np.asarray(s, dtype=np.float64) for name, s in scores.items()}
    both = len(set(y.tolist())) == 2
    points = {name: {m: float(known[m](y, s)) if both else None for m in metrics} for name, s in arrays.items()}
    parts: dict[str, dict[str, list[np.ndarray]]] = {name: {m: [] for m in metrics} for name in arrays}
    for w in _weights(resample_indices(len(y), rounds, groups, seed), len(y)):
        positives = w @ y
        w = w[(positives > 0) & (positives < w.sum(axis=1))]
        for name, s in arrays.items():
            values = dict(zip(("auroc", "average_precision"), _auroc_ap(y, s, w)))
            for m in metrics:
                parts[name][m].append(values[m])
    samples = {name: {m: np.concatenate(v) for m, v in ms.items()} for name, ms in parts.items()}
    used = len(next(iter(next(iter(samples.values())).values())))
    return _summary(points, samples, reference, rounds, used, groups, level, seed, unit, len(y))


def micro_f1(counts: np.ndarray) -> np.ndarray:
    """2TP / (2TP + FP + FN) over the last axis's (TP, FP, FN); 0 where there is nothing to count."""
    counts = np.asarray(counts, dtype=np.float64)
    tp, denominator = 2 * counts[..., 0], 2 * counts[..., 0] + counts[..., 1] + counts[..., 2]
    return np.divide(tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def paired_bootstrap_micro_f1(
    counts: Mapping[str, Sequence[Sequence[int]] | np.ndarray],
    reference: str | None = None,
    rounds: int = 1000,
    groups: Sequence[Any] | None = None,
    level: float = 0.95,
    seed: int = 0,
    unit: str | None = None,
) -> dict[str, Any]:
    """`paired_bootstrap` for set-valued (multi-label) micro-F1: `counts[system]` holds each row's
    (true positives, false positives, false negatives); a resample's micro-F1 is that of its summed counts."""
    arrays = {name: np.asarray(c, dtype=np.float64).reshape(-1, 3) for name, c in counts.items()}
    n = len(next(iter(arrays.values())))
    if any(len(c) != n for c in arrays.values()):
        raise ValueError("every system needs counts for the same rows")
    points = {name: {"micro_f1": float(micro_f1(c.sum(axis=0)))} for name, c in arrays.items()}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in arrays}
    for w in _weights(resample_indices(n, rounds, groups, seed), n):
        for name, c in arrays.items():
            parts[name].append(micro_f1(w @ c))
    samples = {name: {"micro_f1": np.concatenate(v)} for name, v in parts.items()}
    return _summary(points, samples, reference, rounds, rounds, groups, level, seed, unit, n)


def format_bootstrap(result: Mapping[str, Any], names: Mapping[str, str] | None = None, indent: str = "") -> str:
    """The intervals as text: one line per system, then one per difference and metric, e.g.
    `model − baseline: AP +0.062 (95 % +0.031 to +0.094), higher in 99.7 % of 1000 resamples by product`."""
    show = (lambda key: names.get(key, key)) if names else (lambda key: key)
    level, by = f"{result['level'] * 100:g} %", result["resampled_by"]

    def number(value, sign=False):
        return "-" if value is None else (f"{value:+.3f}".replace("-", "−") if sign else f"{value:.3f}")

    skipped = result["rounds"] - result["used"]
    lines = [
        f"{level} bootstrap intervals: {result['rounds']} resamples by {by} ({result['units']} {by}s)"
        + (f", {skipped} holding one class left out" if skipped else "")
    ]
    width = max(len(show(name)) for name in result["systems"]) + 2
    for name, metrics in result["systems"].items():
        cells = [
            f"{METRIC_NAMES.get(m, m)} {number(v['point'])} ({level} {number(v['low'])}–{number(v['high'])})"
            for m, v in metrics.items()
        ]
        lines.append(f"  {show(name):{width}}" + "   ".join(cells))
    for name, metrics in result["differences"].items():
        for m, v in metrics.items():
            share = "-" if v["share_better"] is None else f"{v['share_better'] * 100:.1f} %"
            lines.append(
                f"  {show(result['reference'])} − {show(name)}: {METRIC_NAMES.get(m, m)} {number(v['point'], True)} "
                f"({level} {number(v['low'], True)} to {number(v['high'], True)}), higher in {share} of "
                f"{result['used']} resamples by {by}"
            )
    return "\n".join(indent + line for line in lines)
