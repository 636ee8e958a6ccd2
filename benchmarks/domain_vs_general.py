"""Over 500 lines: the comparison's three stages (prepare, compare, ship) share its tasks, rows and tables.

Domain vs general pretraining at equal compute, the original system's table, small.

Each pretrained ELECTRA (ported with port_checkpoint), and the same architecture from random weights, is
fine-tuned with several seeds on four tasks; every model and seed sees the same rows:

    .venv/bin/python benchmarks/domain_vs_general.py prepare [--out var/dvg]
    .venv/bin/python benchmarks/domain_vs_general.py compare --domain var/dvg/hf/domain --general var/dvg/hf/general \
        [--inits domain general random] [--seeds 0 1 2] [--tasks goodbad category unused nsmc] [--jobs 2] \
        [--train 3000] [--epochs 2]
    .venv/bin/python benchmarks/domain_vs_general.py ship [--summary FILE ...] [--init general|domain] \
        [--output models/pretrained-electra]

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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="write the review files the two corpora and the check need")
    prepare.add_argument("--out", default=str(ROOT / "var" / "dvg"), help="folder for the two JSONL files")
    compare = commands.add_parser("compare", help="fine-tune every init with every seed on every task")
    compare.add_argument("--domain", help="HF ELECTRA directory pretrained on the domain corpus")
    compare.add_argument("--general", help="HF ELECTRA directory pretrained on the general corpus")
    compare.add_argument(
        "--inits",
        nargs="+",
        default=list(INITS),
        choices=list(INITS),
        help="which starts to fine-tune (default all three; random takes the domain model's architecture, or the "
        "general one's without --domain)",
    )
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
    ship = commands.add_parser("ship", help="port the better run into models/ with its card")
    ship.add_argument(
        "--summary",
        nargs="+",
        default=[str(ROOT / "var" / "benchmarks" / "domain-vs-general" / "summary.json")],
        help="compare's summary.json; several (inits fine-tuned apart, with the same settings) are joined",
    )
    ship.add_argument("--work", default=str(ROOT / "var" / "dvg"), help="the runs, corpora and vocabularies")
    ship.add_argument("--output", default=str(ROOT / "models" / "pretrained-electra"))
    ship.add_argument(
        "--init",
        choices=["domain", "general"],
        help="the run to ship (default: the better of the two in --summary; needed when it compares only one)",
    )
    args = parser.parse_args(argv)
    if args.command in ("prepare", "ship"):
        return args
    needed = {init for init in args.inits if init != "random"}
    if "random" in args.inits and not needed:
        needed.add("domain" if args.domain else "general")
    for name in sorted(needed):
        if getattr(args, name) is None:
            compare.error(f"--{name} DIR is needed for --inits {' '.join(args.inits)}")
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
    if init == "random":
        base = args["domain"] or args["general"]
    else:
        base = args[init]
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


def summarise(rows, tasks, inits=INITS, split="test"):
    """Per task: mean and standard deviation per init of `split`'s measure, and domain − general with its
    standard error."""
    table = {}
    for task in tasks:
        entry = {}
        for init in inits:
            values = [r[split] for r in rows if r["task"] == task and r["init"] == init]
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


def better_init(validation_table):
    """domain or general: ahead on the validation rows in more tasks (a tie: the larger summed lead)."""
    wins, lead = {"domain": 0, "general": 0}, 0.0
    for entry in validation_table.values():
        difference = entry["domain"]["mean"] - entry["general"]["mean"]
        lead += difference
        if difference:
            wins["domain" if difference > 0 else "general"] += 1
    if wins["domain"] != wins["general"]:
        return max(wins, key=wins.get)
    return "domain" if lead > 0 else "general"


def relative(value):
    """A path inside the checkout as a relative one (shipped files name no machine's folders); anything else as is."""
    if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_relative_to(ROOT):
        return str(Path(value).relative_to(ROOT))
    return value


def training_seconds(run):
    """Seconds spent in train steps, summed over train_log.jsonl's loops (each logs its examples per second)."""
    config = json.loads((run / "pretraining_config.json").read_text(encoding="utf-8"))
    seconds, previous, steps = 0.0, 0, 0
    for line in (run / "train_log.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        done = record["step"] - previous if record["step"] > previous else record["step"]
        seconds += done * config["train_batch_size"] / record["examples_per_second"]
        previous, steps = record["step"], record["step"]
    return seconds, steps, config


SETTINGS = ("seeds", "train", "validation", "test", "epochs", "batch_size", "learning_rate", "max_length")


def join_summaries(summaries):
    """One summary from several compare runs of the same settings (say, random weights fine-tuned while the
    pretraining still ran): their rows joined, the tables computed again; the newest date."""
    first = summaries[0]
    for other in summaries[1:]:
        differ = [k for k in SETTINGS if other["args"].get(k) != first["args"].get(k)]
        if differ:
            raise SystemExit(f"the summaries were fine-tuned with different settings ({', '.join(differ)})")
    if len(summaries) == 1:
        return first
    rows = [row for summary in summaries for row in summary["rows"]]
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    args = {k: v for summary in summaries for k, v in summary["args"].items() if v is not None}
    args["inits"] = [init for init in INITS if any(row["init"] == init for row in rows)]
    return {
        "date": max(summary["date"] for summary in summaries),
        "args": args,
        "rows": rows,
        "table": summarise(rows, tasks),
        "validation_table": summarise(rows, tasks, split="validation"),
    }


def ship(args):
    """Port the run that measured better on the validation rows into --output (float16 storage), with its
    check, its corpus statistics, the comparison and a model card."""
    import io
    import shutil

    from django.core.management import call_command

    summary = join_summaries([json.loads(Path(p).read_text(encoding="utf-8")) for p in args.summary])
    both = all({"domain", "general"} <= set(entry) for entry in summary["validation_table"].values())
    if args.init is None and not both:
        raise SystemExit(f"{' '.join(args.summary)} compare not both pretrained runs: pass --init domain|general")
    winner = args.init or better_init(summary["validation_table"])
    work, output = Path(args.work), Path(args.output)
    run = work / "runs" / winner
    out = io.StringIO()
    call_command(
        "port_checkpoint", str(run), "--output", str(output), "--storage-dtype", "float16", "--verify", stdout=out
    )
    print(out.getvalue().strip())
    shutil.copy2(work / "corpus" / winner / "stats.json", output / "corpus_stats.json")
    shutil.copy2(run / "pretraining_config.json", output / "pretraining_config.json")
    # the check's figures per step, without this machine's paths
    evaluation = json.loads((run / "evaluation.json").read_text(encoding="utf-8"))
    check = {
        "batches": evaluation["batches"],
        "batch_size": evaluation["batch_size"],
        "results": [{k: v for k, v in r.items() if k != "checkpoint"} for r in evaluation["results"]],
    }
    (output / "pretraining_check.json").write_text(json.dumps(check, indent=2), encoding="utf-8")
    seconds, steps, config = training_seconds(run)
    beats_random = {
        task: entry[winner]["mean"] > entry["random"]["mean"]
        for task, entry in summary["validation_table"].items()
        if winner in entry and "random" in entry
    }
    comparison = {
        "shipped": winner,
        "chosen_by": "validation: ahead of the other pretrained model in more tasks"
        if both and args.init is None
        else f"--init {winner} (the comparison of both runs in docs/pretraining.md)",
        "beats_random_on_validation": beats_random,
        "training_seconds": round(seconds),
        "steps": steps,
        "args": {k: relative(v) for k, v in summary["args"].items() if k != "output"},
        **{k: summary[k] for k in ("date", "table", "validation_table")},
    }
    (output / "comparison.json").write_text(json.dumps(comparison, indent=2, ensure_ascii=False), encoding="utf-8")
    corpus = json.loads((output / "corpus_stats.json").read_text(encoding="utf-8"))
    (output / "README.md").write_text(model_card(winner, comparison, config, corpus, check, output), encoding="utf-8")
    print(f"{output}: the {winner} run, {steps:,} steps, {seconds / 3600:.1f} h of training on one core")


def model_card(winner, comparison, config, corpus, check, output):
    """The shipped pretrained discriminator's card: corpus, vocabulary, steps, compute, the fine-tuned table."""
    size = (output / "model.safetensors").stat().st_size / 1e6
    random_like = "domain" if comparison["args"].get("domain") else winner
    if comparison["args"].get("domain"):
        rebuild = (
            "`make pretrained-model` (`benchmarks/domain_vs_general.sh`: corpora, vocabularies, TFRecords, both runs "
            "side by side, their checks and ports, the comparison, then `benchmarks/domain_vs_general.py ship`); "
            "nothing is downloaded."
        )
    else:
        tasks = " ".join(comparison["table"])
        rebuild = (
            f'`RUNS={winner} TASKS="{tasks}" benchmarks/domain_vs_general.sh`: the corpora, vocabularies and '
            f"TFRecords, this one run, its check and port, its fine-tunes against random weights, then `ship`; "
            f"nothing is downloaded. `make pretrained-model` runs both corpora's runs and ships the better."
        )
    share = comparison["steps"] * config["train_batch_size"] * config["max_seq_length"] / (1e6 * 128 * 128)
    sources = "\n".join(
        f"| {name} | {s['documents_out']:,} | {s['chars_out']:,} |" for name, s in corpus["sources"].items()
    )
    final = max(check["results"], key=lambda r: r["step"])
    rows = []
    for task, entry in comparison["table"].items():
        cells = [f"{entry[i]['mean']:.3f} ± {entry[i]['sd']:.3f}" if i in entry else "–" for i in INITS]
        diff = entry.get("domain_minus_general")
        cells.append(f"{diff['mean']:+.3f} ± {diff['se']:.3f}" if diff else "–")
        rows.append(f"| {task} | {TASKS[task][0]} | " + " | ".join(cells) + " |")
    validation = ", ".join(
        f"{task} {entry[winner]['mean']:.3f} vs {entry['random']['mean']:.3f}"
        for task, entry in comparison["validation_table"].items()
        if winner in entry and "random" in entry
    )
    helps = [task for task, yes in comparison["beats_random_on_validation"].items() if yes]
    licences = (
        "NSMC and its extra reviews CC0 1.0; KLUE, KorNLI/KorSTS and the hate-speech comments CC BY-SA 4.0; the "
        "chatbot pairs MIT; the 2017 petitions state no licence (public posts)"
        + ("; the Olive Young reviews state none (user reviews of oliveyoung.co.kr)" if winner == "domain" else "")
    )
    return f"""---
language: ko
license: other
library_name: transformers
tags: [electra, pretraining]
---

# pretrained-electra: a compact Korean ELECTRA discriminator pretrained on a CPU

The **{winner}** run of the project's domain-vs-general comparison (docs/pretraining.md, "Domain vs general
pretraining at equal compute"), chosen by {comparison["chosen_by"]}. `manage.py finetune_classifier` starts from
it when no `--model` is given.

- **Architecture**: ELECTRA discriminator (`ElectraForPreTraining`), hidden {config["hidden_size"]}, \
{config["num_hidden_layers"]} layers, {config["num_attention_heads"]} heads, intermediate {config["intermediate_size"]}, \
embedding {config["embedding_size"]}; vocabulary {config["vocab_size"]:,} (cased WordPiece, `train_tokenizer \
--vocab-size {config["vocab_size"]} --min-frequency 9`); {size:.1f} MB: the weights are stored in float16 and load as float32
  (`config.json` says float32).
- **Pretraining**: replaced-token detection with a generator of hidden \
{round(config["hidden_size"] * config["generator_hidden_size"])}, {comparison["steps"]:,} steps of batch {config["train_batch_size"]} × {config["max_seq_length"]} \
tokens, learning rate {config["learning_rate"]} ({config["num_warmup_steps"]} warm-up steps, linear decay), seed \
{config["seed"]}; `pretrain_plm` on one CPU core (TensorFlow 2.20, float32): \
{comparison["training_seconds"] / 3600:.2f} hours in train steps.
- **Check** (`evaluate_pretraining` on held-out text, final checkpoint): discriminator AUC on generator \
replacements {final["discriminator_auc"]:.3f}, on random replacements \
{final["random_replacement_auc"]:.3f}, representation spread {final["representation_spread"]:.3f} \
(`pretraining_check.json`; a spread near 0 would mean a collapsed model).

## Corpus

`build_corpus` (profile `{"review" if winner == "domain" else "public"}`), {corpus["documents_out"]:,} documents, \
{corpus["chars_out"]:,} characters after cleaning (`corpus_stats.json`):

| source | documents | characters |
|---|---:|---:|
{sources}

Licences of the sources: {licences}. Every review text that the fine-tuning tasks validate or test on was left
out. For research and this project's own fine-tuning; not for redistribution.

## Fine-tuned (test rows; mean ± standard deviation over seeds {", ".join(map(str, comparison["args"]["seeds"]))})

The same {comparison["args"]["train"]:,} train / {comparison["args"]["validation"]} validation rows per task for \
every model, {comparison["args"]["epochs"]} epochs, batch {comparison["args"]["batch_size"]}, learning rate \
{comparison["args"]["learning_rate"]}, {comparison["args"]["max_length"]} tokens (`benchmarks/domain_vs_general.py \
compare`, {comparison["date"][:10]}; `comparison.json`). `random` is the {random_like} model's architecture and tokenizer \
from new weights.

| task | measure | domain | general | random | domain − general |
|---|---|---:|---:|---:|---:|
{chr(10).join(rows)}

On the validation rows, this model against random weights: {validation}. It starts better than random \
weights on: {", ".join(helps) or "none of the four"}.

## Intended use and limits

A starting point for fine-tuning short Korean texts (reviews, comments) on a CPU, where it measures better than
random weights on the task's own validation data. Its pretraining saw {share:.2%} of the tokens of
ELECTRA-Small's published run (1M steps of 128 × 128): it is a small, weakly pretrained model, not a general
Korean encoder. The project's shipped
classifiers are built by their own recipes (`models/unused-electra`, `models/attributes-backoff`), which measure
better than a fine-tune of this model.

## Rebuild

{rebuild}
"""


def main():
    args = parse_args()
    if args.command == "prepare":
        setup_django()
        return prepare(args.out)
    if args.command == "ship":
        setup_django()
        return ship(args)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    limits = {"train": args.train, "validation": args.validation, "test": args.test}
    shared = {**vars(args), "output": str(output)}
    jobs = [
        {"task": task, "init": init, "seed": seed, "args": shared, "limits": limits}
        for task in args.tasks
        for seed in args.seeds
        for init in args.inits
    ]
    print(
        f"{len(jobs)} fine-tunes ({len(args.tasks)} tasks × {len(args.inits)} inits × {len(args.seeds)} seeds), "
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
    table = summarise(rows, args.tasks, args.inits)
    print()
    print(format_table(table))
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: v for k, v in vars(args).items() if k != "command"},
        "models": {
            init: json.loads((Path(getattr(args, init)) / "config.json").read_text())
            for init in ("domain", "general")
            if getattr(args, init)
        },
        "wall_seconds": time.perf_counter() - started,
        "rows": rows,
        "table": table,
        "validation_table": summarise(rows, args.tasks, args.inits, split="validation"),
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"written: {output / 'summary.json'}")


if __name__ == "__main__":
    main()
