"""A sweep of fine-tuning recipes on bundles (`finetune_classifier --export-bundle`), ranked on validation.

Every run is `python -m plm.finetune_bundle BUNDLE --out DIR` with its options replaced (base model, seed, learning
rate, unlabelled weight, epochs); runs go `--jobs` at a time (one GPU takes several: the classifiers are small), seeds
in the outer loop so that a sweep stopped by `--seconds` holds whole recipes. It needs no Django and no Kiwi:
copy `plm/`, the base model and the bundles to a GPU machine and run it there.

    python benchmarks/finetune_sweep.py var/bundles/unused-morph var/bundles/unused-mean \\
        --seeds 42 7 1 --learning-rates 3e-4 1e-4 --unlabelled-weights 0.5 1 --jobs 8 --out var/sweep

It prints one row per recipe: the network alone and the stack, on validation (what a recipe is chosen by) and on
test, as means over the seeds that ran, each beside the first recipe (the control, measured in the same run).
`summary.json` holds every run; `--keep N` packs the N runs with the best validation AP (the stack's, the
network's breaking ties) as `best-K.tar.gz` (the model directory, ready to register).
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parent.parent
KEEP_OUT = ("model.safetensors",)  # what a run's folder loses once it is measured, unless it is kept


def figures(metrics):
    """The run's validation and test figures: the stack (the model) and the network alone."""
    out = {"best_epoch": metrics.get("best_epoch")}
    for split in ("validation", "test"):
        m = metrics.get(split) or {}
        alone = m.get("network_alone") or m
        out[split] = {
            "auroc": m.get("auroc"),
            "ap": m.get("average_precision"),
            "ece": m.get("ece"),
            "network_auroc": alone.get("auroc"),
            "network_ap": alone.get("average_precision"),
        }
    out["baseline_test_ap"] = (metrics.get("baseline") or {}).get("test", {}).get("average_precision")
    out["history"] = [round(h["validation"].get("average_precision") or 0, 4) for h in metrics.get("history", [])]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--models", nargs="+", default=[""], help="base model directories to start from (default: the bundle's own)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--learning-rates", nargs="+", type=float, default=[3e-4])
    parser.add_argument("--unlabelled-weights", nargs="+", type=float, default=[0.5])
    parser.add_argument("--epochs", nargs="+", type=int, default=[3])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per run")
    parser.add_argument("--seconds", type=float, default=0, help="start no run after this many seconds (0: all)")
    parser.add_argument(
        "--kill-after", type=float, default=0, help="stop the runs still going after this many seconds (0: never)"
    )
    parser.add_argument("--keep", type=int, default=0, help="pack the N best runs by validation AP")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recipes = list(
        itertools.product(args.bundles, args.models, args.learning_rates, args.unlabelled_weights, args.epochs)
    )
    queue = [(seed, *recipe) for seed in args.seeds for recipe in recipes]
    started, running, done = time.perf_counter(), [], []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}

    def name_of(seed, bundle, model, lr, uw, epochs):
        base = f"-{Path(model).name}" if model else ""
        return f"{Path(bundle).name}{base}-lr{lr:g}-uw{uw:g}-e{epochs}-s{seed}"

    while queue or running:
        while queue and len(running) < args.jobs:
            if args.seconds and time.perf_counter() - started > args.seconds:
                print(f"{len(queue)} run(s) not started: --seconds {args.seconds:g} reached", flush=True)
                queue = []
                break
            seed, bundle, model, lr, uw, epochs = queue.pop(0)
            name = name_of(seed, bundle, model, lr, uw, epochs)
            command = [
                sys.executable, "-m", "plm.finetune_bundle", bundle, "--out", str(out / name),
                "--seed", str(seed), "--learning-rate", str(lr), "--unlabelled-weight", str(uw),
                "--epochs", str(epochs), "--patience", str(epochs), "--threads", str(args.threads),
            ]  # fmt: skip
            command += ["--model", model] if model else []
            log = open(out / f"{name}.log", "w")
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            running.append((process, log, name, (bundle, model, lr, uw, epochs), seed, time.perf_counter()))
        time.sleep(1)
        if args.kill_after and time.perf_counter() - started > args.kill_after and running:
            print(f"{len(running)} run(s) stopped: --kill-after {args.kill_after:g} reached", flush=True)
            for process, *_ in running:
                process.kill()
            queue = []
        for entry in list(running):
            process, log, name, recipe, seed, began = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            log.close()
            metrics_file = out / name / "metrics.json"
            if process.returncode or not metrics_file.is_file():
                print(f"{name}: failed ({process.returncode}); see {name}.log", flush=True)
                continue
            row = {"name": name, "recipe": list(recipe), "seed": seed, "seconds": round(time.perf_counter() - began)}
            row.update(figures(json.loads(metrics_file.read_text(encoding="utf-8"))))
            done.append(row)
            (out / "summary.json").write_text(json.dumps({"runs": done}, indent=2), encoding="utf-8")
            v, t = row["validation"], row["test"]
            print(
                f"{name}: {row['seconds']} s; validation AP {v['ap']:.4f} (network {v['network_ap']:.4f}), "
                f"test AUROC {t['auroc']:.4f} AP {t['ap']:.4f} (network {t['network_auroc']:.4f} / "
                f"{t['network_ap']:.4f}); epochs {row['history']}",
                flush=True,
            )
    done.sort(key=lambda r: (-(r["validation"]["ap"] or 0), -(r["validation"]["network_ap"] or 0)))
    kept = []
    for rank, row in enumerate(done[: args.keep], start=1):
        archive = out / f"best-{rank}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(out / row["name"], arcname=row["name"])
        kept.append({"rank": rank, "name": row["name"], "archive": archive.name})
    for row in done:
        if row["name"] not in {k["name"] for k in kept}:
            for name in KEEP_OUT:
                (out / row["name"] / name).unlink(missing_ok=True)
    summary = {"runs": done, "kept": kept, "seconds": round(time.perf_counter() - started)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")

    print("\nrecipe (bundle, base model, lr, unlabelled weight, epochs) | seeds | validation AP stack / network | "
          "test AUROC stack / network | test AP stack / network")  # fmt: skip
    control = None
    for recipe in recipes:
        rows = [r for r in done if tuple(r["recipe"]) == recipe]
        if not rows:
            continue
        avg = {
            key: mean(r[split][field] for r in rows)
            for key, (split, field) in {
                "v_ap": ("validation", "ap"),
                "v_net": ("validation", "network_ap"),
                "t_auroc": ("test", "auroc"),
                "t_net_auroc": ("test", "network_auroc"),
                "t_ap": ("test", "ap"),
                "t_net_ap": ("test", "network_ap"),
            }.items()
        }
        control = control or avg
        delta = " (control)" if avg is control else f" (Δ validation network AP {avg['v_net'] - control['v_net']:+.4f})"
        print(
            f"{Path(recipe[0]).name} {Path(recipe[1]).name or '(bundle)'} {recipe[2]:g} {recipe[3]:g} {recipe[4]} | "
            f"{len(rows)} | "
            f"{avg['v_ap']:.4f} / {avg['v_net']:.4f} | {avg['t_auroc']:.4f} / {avg['t_net_auroc']:.4f} | "
            f"{avg['t_ap']:.4f} / {avg['t_net_ap']:.4f}{delta}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
