"""Fine-tuning benchmark: the project's pretrained ELECTRA vs the same architecture randomly initialised.

Both models are fine-tuned with identical settings on the same fixed NSMC
subset (Naver movie-review sentiment, ../shared/data/nsmc beside the repository,
or $HWADMIN_SHARED_DATA/nsmc) and measured on the same test examples: accuracy,
F1, and examples per second for training and for inference. The ratio
pretrained / random is the value of pretraining, measured in this run.

    .venv/bin/python benchmarks/finetune.py --pretrained var/plm/pretrained-small
    .venv/bin/python benchmarks/finetune.py --pretrained DIR --train 20000 --test 5000 --epochs 2

--pretrained is a HuggingFace ELECTRA directory (port_checkpoint's output).
The defaults (2,000 train / 300 validation / 1,000 test, 1 epoch, 64 tokens)
are sized for 2 shared CPU cores; use --train 20000 --test 5000 where there is
more compute.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only")  # DEBUG is off by default, and then settings need one


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pretrained",
        default=str(ROOT / "var" / "plm" / "pretrained-small"),
        help="HF ELECTRA directory to fine-tune (default: var/plm/pretrained-small)",
    )
    parser.add_argument("--train", type=int, default=2000, help="train examples (fixed subset of ratings_train)")
    parser.add_argument("--validation", type=int, default=300, help="validation examples (for early stopping)")
    parser.add_argument("--test", type=int, default=1000, help="test examples (fixed subset of ratings_test)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default=str(ROOT / "var" / "benchmarks" / "finetune"))
    return parser.parse_args()


def random_twin(pretrained, directory, seed):
    """The pretrained model's exact architecture and tokenizer, with random weights."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, ElectraForSequenceClassification

    config = AutoConfig.from_pretrained(pretrained, num_labels=2)
    torch.manual_seed(seed)
    model = ElectraForSequenceClassification(config)
    model.save_pretrained(str(directory))
    AutoTokenizer.from_pretrained(pretrained).save_pretrained(str(directory))
    return directory, sum(p.numel() for p in model.parameters())


def main():
    args = parse_args()
    import django

    django.setup()
    import torch

    from plm import datasets, finetune

    pretrained = Path(args.pretrained)
    if not (pretrained / "config.json").exists():
        sys.exit(
            f"{pretrained}: no pretrained model. Port one first (manage.py port_checkpoint CHECKPOINT --output DIR) "
            "and pass --pretrained DIR."
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    output = Path(args.output)
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    data = datasets.load_nsmc(seed=args.seed).subsample(
        {"train": args.train, "validation": args.validation, "test": args.test}, seed=args.seed
    )
    random_dir, parameters = random_twin(pretrained, output / "random-init-base", args.seed)
    print(f"NSMC subset: {data.counts()}")
    print(
        f"model: {pretrained} ({parameters / 1e6:.1f}M parameters); {args.epochs} epoch(s), batch {args.batch_size}, "
        f"lr {args.learning_rate}, max length {args.max_length}, {torch.get_num_threads()} torch threads, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    config = finetune.FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        seed=args.seed,
        patience=args.epochs,
        metric="accuracy",
        threads=args.threads,
    )
    results = {}
    for name, base in (("pretrained", pretrained), ("random init", random_dir)):
        started = time.perf_counter()
        metrics = finetune.finetune(
            base,
            data,
            output / name.replace(" ", "-"),
            config,
            task="nsmc",
            log=lambda line, name=name: print(f"  [{name}] {line}"),
        )
        metrics["wall_seconds"] = time.perf_counter() - started
        results[name] = metrics

    print()
    print(
        f"{'model':12} {'test acc':>9} {'test F1':>8} {'val acc':>8} {'train ex/s':>11} {'infer ex/s':>11} {'wall s':>7}"
    )
    for name, m in results.items():
        print(
            f"{name:12} {m['test']['accuracy']:9.4f} {m['test']['f1']:8.4f} {m['validation']['accuracy']:8.4f} "
            f"{m['train_examples_per_second']:11.1f} {m['test']['examples_per_second']:11.1f} {m['wall_seconds']:7.0f}"
        )
    gain = results["pretrained"]["test"]["accuracy"] / results["random init"]["test"]["accuracy"]
    print(
        f"pretrained / random-init test accuracy: {gain:.3f}x "
        f"({results['pretrained']['test']['accuracy'] - results['random init']['test']['accuracy']:+.4f})"
    )
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "subset": data.counts(),
        "parameters": parameters,
        "cpu_count": os.cpu_count(),
        "results": {
            name: {k: m[k] for k in ("test", "validation", "train_examples_per_second", "wall_seconds")}
            for name, m in results.items()
        },
        "accuracy_ratio": gain,
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"written: {output / 'summary.json'}")


if __name__ == "__main__":
    main()
