"""Several fine-tuning runs of one bundle side by side, and averaged: what more seeds would buy.

    python benchmarks/seed_average.py BUNDLE RUN_DIR RUN_DIR... [--weights] [--json OUT]

Each RUN_DIR is a directory `python -m plm.finetune_bundle BUNDLE --out RUN_DIR --seed S` wrote (or
`benchmarks/finetune_sweep.py` with `--keep`). From their `predictions.jsonl` (the network's probabilities, the
stack's, the companion's margin and the baselines', per validation and test row) it prints, on validation, on
test and, for the unused task, on the guideline's test rows (gift reviews left out):

- each run: the network alone and its stack (network and morpheme regression, as shipped);
- the ensemble: the networks' logit margins averaged (one forward pass per run at scoring time);
- the ensemble stacked: the averaged margin and the regression, one Platt fit on validation (`plm.calibration`);
- the morpheme regression and the char regression (the issue's baseline) on the same rows.

`--weights` also averages the runs' weights into one network (`model.safetensors`, or the float16
`model.fp16.safetensors`), scores it on the bundle's readings and prints it as one more row. That only means
something for runs that started from the same weights: runs of one `--head-seed` and the same base (checked).
Needs numpy and scikit-learn; `--weights` also torch and transformers (no Django, no Kiwi).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plm import calibration, finetune_bundle  # noqa: E402

SPLITS = ("validation", "test", "guideline")  # guideline: the test rows without the gift reviews


class AverageError(Exception):
    """Runs that cannot be compared or averaged."""


def _margins(probabilities):
    return np.array([calibration.margin(p) for p in probabilities])


def read_runs(bundle, runs):
    """{split: {"labels", "runs": {name: {...}}, "morph", "char", "companion", "index"}} from the runs' predictions,
    aligned on the bundle's rows (every run must hold the same rows in the same order)."""
    rows = finetune_bundle._read_jsonl(Path(bundle) / finetune_bundle.ROWS_FILE)
    table, order = {}, None
    for run in runs:
        file = Path(run) / "predictions.jsonl"
        if not file.is_file():
            raise AverageError(
                f"{run}: no predictions.jsonl (not a directory finetune_classifier or a bundle run wrote)"
            )
        predictions = [json.loads(line) for line in open(file, encoding="utf-8") if line.strip()]
        if not predictions or any(
            not {"split", "index", "text", "label", "probabilities"} <= set(p) for p in predictions
        ):
            raise AverageError(f"{run}: predictions.jsonl lacks a row's split, index, text, label or probabilities")
        keys = [(p["split"], p["index"]) for p in predictions]
        if order is None:
            order = keys
            for p in predictions:
                if rows[p["index"]]["text"] != p["text"]:
                    raise AverageError(f"{run}: row {p['index']} is not the bundle's ({bundle}): another bundle?")
        elif keys != order:
            raise AverageError(f"{run}: its predictions cover other rows than {runs[0]}'s")
        for split in ("validation", "test"):
            part = [p for p in predictions if p["split"] == split]
            entry = table.setdefault(split, {"runs": {}})
            if "labels" not in entry:
                entry["labels"] = np.array([p["label"] for p in part])
                entry["index"] = [p["index"] for p in part]
                entry["companion"] = np.array([p.get("companion_margin", 0.0) for p in part])
                entry["morph"] = np.array([p.get("morph_baseline", np.nan) for p in part])
                entry["char"] = np.array([p.get("baseline", np.nan) for p in part])
            entry["runs"][Path(run).name] = {
                "network": np.array([p["probabilities"][1] for p in part]),
                "stack": np.array([p.get("calibrated", p["probabilities"][1]) for p in part]),
            }
    test = table["test"]
    keep = np.array([(rows[i]["row"] or {}).get("label") != "gift" for i in test["index"]])
    if not keep.all():
        table["guideline"] = {
            "labels": test["labels"][keep],
            "index": [i for i, k in zip(test["index"], keep) if k],
            **{key: test[key][keep] for key in ("companion", "morph", "char")},
            "runs": {name: {k: v[keep] for k, v in r.items()} for name, r in test["runs"].items()},
            "mask": keep,
        }
    return table, rows


def figures(labels, scores):
    from sklearn.metrics import average_precision_score, roc_auc_score

    if np.isnan(scores).any() or len(set(labels.tolist())) < 2:
        return None
    return {"auroc": float(roc_auc_score(labels, scores)), "ap": float(average_precision_score(labels, scores))}


def average_weights(runs):
    """The runs' weights averaged (float32), with the first run's config; refuses runs that did not start alike."""
    import torch
    from safetensors.torch import load_file

    starts = set()
    states = []
    for run in runs:
        metrics = json.loads((Path(run) / "metrics.json").read_text(encoding="utf-8"))
        starts.add((metrics.get("base_model"), (metrics.get("config") or {}).get("head_seed")))
        files = [Path(run) / name for name in ("model.safetensors", "model.fp16.safetensors")]
        file = next((f for f in files if f.is_file()), None)
        if file is None:
            raise AverageError(f"{run}: no model.safetensors to average (a sweep keeps the weights of --keep runs)")
        states.append(load_file(file))
    if len(starts) != 1 or next(iter(starts))[1] is None:
        raise AverageError(
            f"averaging weights needs runs from one base and one --head-seed; these started from {sorted(map(str, starts))}"
        )
    return {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}


def score_weights(state, run, rows, table, max_length, base):
    """The averaged network's probabilities on each split's rows, read as the bundle's readings."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from plm.finetune import encode, predict

    tokenizer = AutoTokenizer.from_pretrained(run if (Path(run) / "tokenizer.json").is_file() else base)
    model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(run))
    model.load_state_dict(state)
    model.eval()
    out = {}
    for split in ("validation", "test"):
        entry = table[split]
        encoded = encode(tokenizer, [rows[i]["read"] for i in entry["index"]], max_length)
        out[split] = np.array(predict(model, tokenizer, encoded, list(entry["labels"]), 64))[:, 1]
    if "guideline" in table:
        out["guideline"] = out["test"][table["guideline"]["mask"]]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="the bundle the runs were fine-tuned from")
    parser.add_argument("runs", nargs="+", help="the runs' model directories")
    parser.add_argument("--weights", action="store_true", help="also average the runs' weights into one network")
    parser.add_argument("--json", help="write the figures here as JSON")
    args = parser.parse_args(argv)
    try:
        table, rows = read_runs(args.bundle, args.runs)
        meta = json.loads((Path(args.bundle) / finetune_bundle.BUNDLE_FILE).read_text(encoding="utf-8"))
        averaged = None
        if args.weights:
            state = average_weights(args.runs)
            max_length = meta["config"].get("max_length", 128)
            averaged = score_weights(state, args.runs[0], rows, table, max_length, meta["model"])
    except (AverageError, OSError) as exc:
        parser.exit(2, f"error: {exc}\n")
    validation = table["validation"]
    ensemble = {s: np.mean([_margins(r["network"]) for r in e["runs"].values()], 0) for s, e in table.items()}
    stacked = calibration.fit(ensemble["validation"], validation["labels"], companion=validation["companion"])
    result = {}
    for split, entry in table.items():
        y, rows_out = entry["labels"], {}
        for name, run in entry["runs"].items():
            rows_out[name] = {"network": figures(y, run["network"]), "stack": figures(y, run["stack"])}
        rows_out["ensemble"] = {"network": figures(y, ensemble[split])}
        stack = [calibration.apply(stacked, d, m) for d, m in zip(ensemble[split], entry["companion"])]
        rows_out["ensemble"]["stack"] = figures(y, np.array(stack))
        if averaged is not None:
            rows_out["weights averaged"] = {"network": figures(y, averaged[split])}
        rows_out["morpheme regression"] = {"network": figures(y, entry["morph"])}
        rows_out["char regression (baseline)"] = {"network": figures(y, entry["char"])}
        result[split] = {"examples": int(len(y)), "positives": int(y.sum()), "rows": rows_out}
    print(f"{len(args.runs)} runs of {args.bundle}; AUROC / AP of the network alone and of the stack")
    for split, part in result.items():
        print(f"\n{split} ({part['examples']} rows, {part['positives']} positive) | network | stack")
        for name, row in part["rows"].items():
            cells = [f"{f['auroc']:.4f} / {f['ap']:.4f}" if f else "–" for f in (row["network"], row.get("stack"))]
            print(f"{name} | {cells[0]} | {cells[1]}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
