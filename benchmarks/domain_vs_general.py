"""Domain vs general pretraining at equal compute, the original system's table, small.

Each pretrained ELECTRA (ported with port_checkpoint), and the same architecture from random weights, is
fine-tuned with several seeds on four tasks; every model and seed sees the same rows:

    .venv/bin/python benchmarks/domain_vs_general.py prepare [--out var/dvg]
    .venv/bin/python benchmarks/domain_vs_general.py compare --domain var/dvg/hf/domain --general var/dvg/hf/general \
        [--seeds 0 1 2] [--tasks goodbad category unused nsmc] [--jobs 2] [--train 3000] [--epochs 2]

`prepare` writes the Olive Young reviews for the domain corpus without the texts the tasks validate and test
on, and a held-out check set for evaluate_pretraining; the corpora, vocabularies, TFRecords, both pretraining
runs and the ports in between are the workshop's own commands (every one in docs/pretraining.md, "Domain vs
general pretraining at equal compute").

Tasks and their measure (on the test rows):
  goodbad   AI Hub cosmetics phrases, positive vs negative: accuracy. The phrases are research-only: they are
            read from ../shared/data at run time and nothing derived from them but the figures is written.
  category  an Olive Young review's product category: micro-F1.
  unused    the hand-labelled unused set (the guideline's rows: gift and unclear left out): average precision.
  nsmc      NSMC movie-review sentiment: accuracy.

`random` is the domain model's architecture and tokenizer with new weights (seeded per run). Jobs run in
--jobs processes of one torch thread each. Prints mean ± standard deviation over the seeds per task and init,
and domain − general (difference of the means ± its standard error), and writes summary.json.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script

TASKS = {  # task: (measure on the test rows, early-stopping metric on validation)
    "goodbad": ("accuracy", "accuracy"),
    "category": ("f1_micro", "f1_micro"),
    "unused": ("average_precision", "average_precision"),
    "nsmc": ("accuracy", "accuracy"),
}
INITS = ("domain", "general", "random")
AIHUB = Path("cosmetics_aspect_phrases_aihub") / "ai_hub_data.csv"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="write the review files the two corpora and the check need")
    prepare.add_argument("--out", default=str(ROOT / "var" / "dvg"), help="folder for the two JSONL files")
    compare = commands.add_parser("compare", help="fine-tune every init with every seed on every task")
    compare.add_argument("--domain", required=True, help="HF ELECTRA directory pretrained on the domain corpus")
    compare.add_argument("--general", required=True, help="HF ELECTRA directory pretrained on the general corpus")
    compare.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    compare.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    compare.add_argument("--train", type=int, default=3000, help="train rows per task (a fixed subset)")
    compare.add_argument("--validation", type=int, default=500)
    compare.add_argument("--test", type=int, default=1500)
    compare.add_argument("--epochs", type=int, default=2)
    compare.add_argument("--batch-size", type=int, default=32)
    compare.add_argument("--learning-rate", type=float, default=3e-4)
    compare.add_argument("--max-length", type=int, default=64)
    compare.add_argument("--jobs", type=int, default=2, help="fine-tunes at once, one torch thread each")
    compare.add_argument("--output", default=str(ROOT / "var" / "benchmarks" / "domain-vs-general"))
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return args
    for name in ("domain", "general"):
        if not (Path(getattr(args, name)) / "config.json").is_file():
            compare.error(f"--{name} {getattr(args, name)}: no config.json (port a checkpoint with port_checkpoint)")
    for name in ("train", "validation", "test", "epochs", "jobs"):
        if getattr(args, name) < 1:
            compare.error(f"--{name} must be at least 1")
    return args


def held_out_texts():
    """Review texts the fine-tuning tasks validate and test on (unused and category): kept out of the corpus."""
    from plm import datasets

    texts = set()
    for data in (datasets.load_unused(), datasets.load_category(seed=0)):
        for split in ("validation", "test"):
            texts.update(data.split(split)[0])
    return texts


def prepare(out):
    """JSONL rows {"text": ...}: the Olive Young reviews for the domain corpus, held-out texts removed; and the
    check set evaluate_pretraining reads (2,000 test-split reviews and NSMC test sentences 5,000–6,999; it
    scores the pretraining objective only, so overlap with the NSMC task's sampled test rows does not matter)."""
    from plm import datasets

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    held = held_out_texts()
    kept = [text for text, *_ in datasets._oliveyoung_rows() if text not in held]
    test = set()
    for data in (datasets.load_unused(), datasets.load_category(seed=0)):
        test.update(data.split("test")[0])
    nsmc = datasets.read_table(datasets.shared_data_dir() / "nsmc" / "ratings_test.txt")[5000:7000]
    check = sorted(test)[:2000] + [row["document"] for row in nsmc]
    for name, texts in (("oliveyoung_pretraining.jsonl", kept), ("heldout.jsonl", check)):
        with open(out / name, "w", encoding="utf-8") as f:
            for text in texts:
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        print(f"{out / name}: {len(texts):,} texts")
    print(f"left out of the corpus: {len(held):,} validation and test review texts of the unused and category tasks")


def load_goodbad_phrases(seed=0):
    """AI Hub phrases with polarity 1 (good) or -1 (bad), deduplicated; phrases carrying both are dropped."""
    from plm import datasets

    polarity = {}
    for row in datasets.read_table(datasets.shared_data_dir() / AIHUB):
        text, value = (row.get("SentimentText") or "").strip(), (row.get("SentimentPolarity") or "").strip()
        if text and value in ("1", "-1"):
            polarity.setdefault(text, set()).add(value)
    rows = [
        {"text": text, "label": "good" if values == {"1"} else "bad"}
        for text, values in polarity.items()
        if len(values) == 1
    ]
    return datasets.from_rows(rows, "text", "label", ["bad", "good"], split_key=None, seed=seed)


def load(task, limits):
    from plm import datasets

    data = load_goodbad_phrases() if task == "goodbad" else datasets.load_task(task)
    return data.subsample(limits, seed=0)


_DATA = {}


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    import django

    django.setup()


def start_worker():
    import torch

    setup_django()
    torch.set_num_threads(1)


def run_one(job):
    """One fine-tune; returns its row for the table."""
    from plm import finetune

    task, init, seed, args = job["task"], job["init"], job["seed"], job["args"]
    key = (task, tuple(sorted(job["limits"].items())))
    if key not in _DATA:
        _DATA[key] = load(task, job["limits"])
    measure, metric = TASKS[task]
    config = finetune.FinetuneConfig(
        epochs=args["epochs"],
        batch_size=args["batch_size"],
        learning_rate=args["learning_rate"],
        max_length=args["max_length"],
        seed=seed,
        patience=args["epochs"],
        metric=metric,
        threads=1,
        init="random" if init == "random" else "pretrained",
        calibration="",
    )
    base = args["domain"] if init in ("domain", "random") else args["general"]
    started = time.perf_counter()
    directory = Path(args["output"]) / task / f"{init}-seed{seed}"
    metrics = finetune.finetune(base, _DATA[key], directory, config, task=task, log=lambda _: None)
    (directory / "model.safetensors").unlink()  # 36 runs' weights are a gigabyte; metrics.json stays
    return {
        "task": task,
        "init": init,
        "seed": seed,
        "measure": measure,
        "test": metrics["test"][measure],
        "validation": metrics["validation"][measure],
        "best_epoch": metrics["best_epoch"],
        "baseline_test": (metrics.get("baseline") or {}).get("test", {}).get(measure),
        "examples": metrics["examples"],
        "seconds": time.perf_counter() - started,
    }


def summarise(rows, tasks, inits=INITS):
    """Per task: mean and standard deviation per init, and domain − general with its standard error."""
    table = {}
    for task in tasks:
        entry = {}
        for init in inits:
            values = [r["test"] for r in rows if r["task"] == task and r["init"] == init]
            if values:
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                entry[init] = {"mean": statistics.fmean(values), "sd": sd, "n": len(values), "values": values}
        if "domain" in entry and "general" in entry:
            d, g = entry["domain"], entry["general"]
            entry["domain_minus_general"] = {
                "mean": d["mean"] - g["mean"],
                "se": math.sqrt(d["sd"] ** 2 / d["n"] + g["sd"] ** 2 / g["n"]),
            }
        table[task] = entry
    return table


def format_table(table):
    lines = [f"{'task':9} {'measure':18} {'domain':>15} {'general':>15} {'random':>15} {'domain − general':>18}"]
    for task, entry in table.items():
        cells = []
        for init in INITS:
            v = entry.get(init)
            cells.append(f"{v['mean']:.4f} ± {v['sd']:.4f}" if v else "–")
        diff = entry.get("domain_minus_general")
        lines.append(
            f"{task:9} {TASKS[task][0]:18} {cells[0]:>15} {cells[1]:>15} {cells[2]:>15} "
            + (f"{diff['mean']:+.4f} ± {diff['se']:.4f}" if diff else "–").rjust(18)
        )
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.command == "prepare":
        setup_django()
        return prepare(args.out)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    limits = {"train": args.train, "validation": args.validation, "test": args.test}
    shared = {**vars(args), "output": str(output)}
    jobs = [
        {"task": task, "init": init, "seed": seed, "args": shared, "limits": limits}
        for task in args.tasks
        for seed in args.seeds
        for init in INITS
    ]
    print(
        f"{len(jobs)} fine-tunes ({len(args.tasks)} tasks × {len(INITS)} inits × {len(args.seeds)} seeds), "
        f"{args.jobs} at a time"
    )
    rows, started = [], time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"), initializer=start_worker) as pool:
        for row in pool.map(run_one, jobs):
            rows.append(row)
            print(
                f"  {row['task']:9} {row['init']:8} seed {row['seed']}: test {row['measure']} {row['test']:.4f} "
                f"(validation {row['validation']:.4f}, epoch {row['best_epoch']}, {row['seconds']:.0f} s)",
                flush=True,
            )
    table = summarise(rows, args.tasks)
    print()
    print(format_table(table))
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: v for k, v in vars(args).items() if k != "command"},
        "models": {init: json.loads((Path(getattr(args, init)) / "config.json").read_text()) for init in INITS[:2]},
        "wall_seconds": time.perf_counter() - started,
        "rows": rows,
        "table": table,
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"written: {output / 'summary.json'}")


if __name__ == "__main__":
    main()
