"""manage.py build_unused_model: rebuild the shipped unused-review classifier (models/unused-electra).

The recipe, every step one of the project's own commands or functions:

1. the unlabelled pool: the beauty reviews of the shared data, less every test-split
   product and every labelled text (`plm.semisupervised.build_pool`);
2. a WordPiece vocabulary trained on that pool, as the model reads it (`train_tokenizer`);
3. round 1: a compact ELECTRA from random weights that reads Kiwi morphemes, fine-tuned on
   the hand labels plus the pool scored by the teacher (`finetune_classifier --unlabelled
   shared --teacher morph-baseline --preprocess kiwi-morphemes`);
4. with --rounds 2 or more: the same student trained again with the mean of the teacher and
   the previous round as its teacher;
5. the round with the best validation average precision is copied to --output with its
   calibration, metrics, predictions and a model card.

With --extra-labels (the monthly retrain), labelled-set files such as export_decisions' reviewers' decisions
join the hand labels' train and validation splits (`plm.datasets.merge_extra_labels`); the hand-labelled
test split stays the measure. Nothing is downloaded; it needs the shared data and about 15 minutes on two cores.

With --export-bundle DIR it stops after writing round 1's inputs (`plm.finetune_bundle`) for a GPU machine, where
`python -m plm.finetune_bundle DIR --out MODEL` trains them into the directory finetune_classifier writes (this
command's card, rounds and guideline figures are its own, written where it runs).
"""

import io
import json
import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

SHIPPED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "calibration.json",
    "companion.json",
    "metrics.json",
    "predictions.jsonl",
    "pr_curve.png",
)


class Command(BaseCommand):
    help = (
        "Rebuild the shipped unused-review classifier from the shared beauty reviews and the hand-labelled "
        "set: vocabulary, semi-supervised rounds from random weights, best round copied to --output."
    )

    # help and add_arguments have the shape every command has; the options are this command's own.
    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(Path(settings.BASE_DIR) / "models" / "unused-electra"))
        parser.add_argument("--workdir", default=str(Path(settings.VAR_DIR) / "unused-model"))
        parser.add_argument(
            "--base-model",
            metavar="DIR",
            help="start every round from this pretrained ELECTRA (its tokenizer, reading text: pass --preprocess "
            "none) instead of a new vocabulary and random weights (default)",
        )
        parser.add_argument("--vocab-size", type=int, default=16000)
        parser.add_argument("--hidden-size", type=int, default=128)
        parser.add_argument("--layers", type=int, default=4)
        parser.add_argument(
            "--rounds",
            type=int,
            default=1,
            help="teacher rounds (default 1; round n > 1 is taught by the mean of the first teacher and round n - 1)",
        )
        parser.add_argument(
            "--teacher",
            default="morph-baseline",
            help="round 1's teacher: morph-baseline (default), baseline, or both comma-separated",
        )
        parser.add_argument(
            "--preprocess",
            choices=["kiwi-morphemes", "none"],
            default=None,
            help="what the model reads (default: Kiwi morphemes; with --base-model, what the base was pretrained on)",
        )
        parser.add_argument("--epochs", type=int, default=3)
        parser.add_argument(
            "--sentence-crops",
            type=int,
            default=0,
            metavar="N",
            help="sentence crops per pooled review for the teacher to label too (finetune_classifier --sentence-crops)",
        )
        parser.add_argument(
            "--companion",
            choices=["morph-baseline", "none"],
            default="morph-baseline",
            help="stack the morpheme regression with the network in the calibration (default; none: the network alone)",
        )
        parser.add_argument(
            "--max-unlabelled",
            type=int,
            default=0,
            metavar="N",
            help="a fixed random N of the pool for the vocabulary and the teacher (default 0: all; for quick trials)",
        )
        parser.add_argument(
            "--gift-as",
            choices=["used", "leave-out"],
            default="used",
            help="gift reviews (bought for someone else, not used by the writer): used (default) = learnt as "
            "negatives, so the queue does not rank them as unused; leave-out = not in the labelled splits",
        )
        parser.add_argument("--learning-rate", type=float, default=3e-4)
        parser.add_argument("--unlabelled-weight", type=float, default=0.5)
        parser.add_argument("--max-length", type=int, default=128)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--threads", type=int, default=0)
        parser.add_argument(
            "--export-bundle",
            metavar="DIR",
            help="write round 1's fine-tuning bundle (finetune_classifier --export-bundle: the labelled set, the "
            "teacher-scored pool and their morphemes, this recipe's options) to DIR and stop, for python -m "
            "plm.finetune_bundle on a GPU machine",
        )
        parser.add_argument(
            "--extra-labels",
            action="append",
            default=[],
            metavar="FILE",
            help="labelled-set JSONL to learn from beside the hand labels, e.g. export_decisions' reviewers' "
            "decisions (repeatable; a later file's row wins). Train and validation rows only: the hand-labelled "
            "test split stays the measure, and a text it already labels keeps its hand label",
        )

    def handle(self, *args, **options):
        from plm import datasets, semisupervised
        from plm.beauty import norm_space

        base = options["base_model"]
        if base and not (Path(base) / "config.json").is_file():
            raise CommandError(f"--base-model {base}: no config.json (a port_checkpoint directory is expected)")
        if base:  # the base reads text as it was pretrained: its config.json says how (no key: the raw text)
            from plm.morphemes import CONFIG_KEY

            shape = json.loads((Path(base) / "config.json").read_text(encoding="utf-8"))
            pretrained_on = shape.get(CONFIG_KEY) or "none"
            if options["preprocess"] not in (None, pretrained_on):
                raise CommandError(
                    f"--base-model reads text as it was pretrained: pass --preprocess {pretrained_on} "
                    f"(not {options['preprocess']})"
                )
            options["preprocess"] = pretrained_on
        options["preprocess"] = options["preprocess"] or "kiwi-morphemes"
        work = Path(options["workdir"])
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        try:
            labels_file, extra = self.labels_file(work, options["extra_labels"])
            data = datasets.load_unused(labels_file)
            pool, info = semisupervised.build_pool(
                "shared", data, options["max_unlabelled"] or None, seed=options["seed"]
            )
        except (datasets.DatasetError, semisupervised.PoolError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"pool: {info['size']} unlabelled reviews ({info['dropped']} left out)")
        quiet = {"stdout": self.stdout, "stderr": self.stderr}
        if base:  # the pretrained model's own vocabulary and weights
            start = ["--model", base]
        else:  # a vocabulary of the pool as the model reads it, and random weights
            from plm.morphemes import preprocess

            kind = "" if options["preprocess"] == "none" else options["preprocess"]
            lines = preprocess(kind, [norm_space(r["text"]) for r in pool])
            pool_tokenizer(lines, work / "pool.txt", work / "tokenizer", options["vocab_size"], **quiet)
            start = ["--init", "random", "--tokenizer", str(work / "tokenizer")]
            start += ["--hidden-size", str(options["hidden_size"]), "--layers", str(options["layers"])]
        teacher, rounds = options["teacher"], []
        for number in range(1, options["rounds"] + 1):
            out = work / f"round-{number}"
            self.stdout.write(f"round {number}: teacher {teacher}")
            # Flag and value pairs, the shape of build_demo_model's stages; the recipe is this command's own.
            call_command(
                "finetune_classifier",
                "unused",
                *start,
                "--output",
                str(out),
                "--unlabelled",
                "shared",
                "--teacher",
                teacher,
                "--unlabelled-weight",
                str(options["unlabelled_weight"]),
                "--sentence-crops",
                str(options["sentence_crops"]),
                *(["--max-unlabelled", str(options["max_unlabelled"])] if options["max_unlabelled"] else []),
                "--epochs",
                str(options["epochs"]),
                "--patience",
                str(options["epochs"]),
                "--learning-rate",
                str(options["learning_rate"]),
                "--batch-size",
                "32",
                "--max-length",
                str(options["max_length"]),
                "--metric",
                "average_precision",
                "--seed",
                str(options["seed"]),
                "--threads",
                str(options["threads"]),
                "--preprocess",
                options["preprocess"],
                "--companion",
                options["companion"],
                *(["--gift-as", options["gift_as"]] if options["gift_as"] != "leave-out" else []),
                *(["--data", str(labels_file)] if labels_file else []),
                *(["--export-bundle", options["export_bundle"]] if options["export_bundle"] else []),
                **quiet,
            )
            if options["export_bundle"]:  # the recipe's inputs, for a GPU machine; nothing trained here
                return
            metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            rounds.append((metrics["validation"]["average_precision"], number, out, metrics))
            teacher = f"{options['teacher']},{out}"
        best_ap, best_round, best_dir, metrics = max(rounds, key=lambda r: (r[0], -r[1]))
        output = Path(options["output"])
        output.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED_FILES:
            if (best_dir / name).exists():
                shutil.copy2(best_dir / name, output / name)
        metrics["rounds"] = [
            {
                "round": n,
                "validation_average_precision": ap,
                "test_average_precision": m["test"]["average_precision"],
                "test_auroc": m["test"]["auroc"],
                "teachers": [t["teacher"] for t in m["semi_supervised"]["teachers"]],
            }
            for ap, n, _, m in rounds
        ]
        metrics["shipped_round"] = best_round
        if extra:
            metrics["extra_labels"] = extra
        # a path inside the checkout is recorded relative to it: the shipped files name no machine's folders
        base = Path(metrics.get("base_model", ""))
        if base.is_absolute() and base.is_relative_to(Path(settings.BASE_DIR)):
            metrics["base_model"] = str(base.relative_to(Path(settings.BASE_DIR)))
        if options["gift_as"] == "used":
            metrics["test_gift_left_out"] = guideline_test_figures(output)
        metrics["build_seconds"] = round(time.perf_counter() - started)
        (output / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
        (output / "README.md").write_text(model_card(metrics, options), encoding="utf-8")
        self.stdout.write(
            self.style.SUCCESS(
                f"{output}: round {best_round} (validation AP {best_ap:.3f}; test AUROC {metrics['test']['auroc']:.3f}, "
                f"AP {metrics['test']['average_precision']:.3f}, baseline AP "
                f"{metrics['baseline']['test']['average_precision']:.3f}) in {metrics['build_seconds']} s"
            )
        )

    def labels_file(self, work, extra_files):
        """(path, report): with --extra-labels, the hand labels and the extra rows merged into one labelled-set
        file in the work folder (`plm.datasets.merge_extra_labels`); (None, None) without."""
        from plm import datasets

        if not extra_files:
            return None, None
        hand = datasets.read_table(datasets.unused_set_dir() / "reviews.jsonl")
        rows, report = datasets.merge_extra_labels(hand, extra_files)
        root = Path(settings.BASE_DIR).resolve()  # files inside the checkout are named relative to it
        report["files"] = [
            str(Path(f).resolve().relative_to(root)) if Path(f).resolve().is_relative_to(root) else f
            for f in report["files"]
        ]
        path = work / "labels.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        left_out = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in report["left_out"].items())
        self.stdout.write(
            f"extra labels: {report['read']} rows read from {len(extra_files)} file(s); "
            f"{report['added']['train']} train and {report['added']['validation']} validation rows added "
            f"(left out: {left_out})"
        )
        return path, report


def pool_tokenizer(lines, corpus, out, vocab_size, **streams):
    """The vocabulary of the pool as the model reads it: `lines` written to `corpus`, then `train_tokenizer`
    (WordPiece, pieces seen at least twice) into `out`. build_domain_pretraining trains its base's the same way."""
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    call_command(
        "train_tokenizer",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--vocab-size",
        str(vocab_size),
        "--min-frequency",
        "2",
        verbosity=0,
        **streams,
    )


def guideline_test_figures(directory):
    """The model on the guideline's unused-vs-used test split (gift reviews left out, as the figures of models
    built without them are), by evaluate_classifier: the figures stay comparable across the two recipes."""
    with tempfile.TemporaryDirectory() as tmp:
        call_command("evaluate_classifier", str(directory), "--output", tmp, stdout=io.StringIO())
        report = json.loads((Path(tmp) / "evaluation.json").read_text(encoding="utf-8"))
    return {
        who: {k: report[who][k] for k in ("examples", "auroc", "average_precision", "ece") if k in report[who]}
        for who in ("model", "baseline", "keyword_rule")
    }


def model_card(metrics, options):
    """The shipped model's card, from its metrics.json: data, figures beside the baseline and rule, use, rebuild."""
    base, base_card = options.get("base_model"), ""
    if base:
        shape = json.loads((Path(base) / "config.json").read_text(encoding="utf-8"))
        network = (
            f"An ELECTRA sequence classifier fine-tuned from the pretrained `{base}` ({shape['num_hidden_layers']} "
            f"layers, hidden {shape['hidden_size']}, its WordPiece vocabulary of {shape['vocab_size']:,}"
        )
        start, start_flags = f"no vocabulary of its own (`--base-model {base}`)", f"--model {base}"
        if (Path(base) / "README.md").is_file():  # a shipped base: its own card says how it was pretrained
            base_card = (
                f" The base's own card, `{base}/README.md`, gives its corpus, its pretraining and how to rebuild it."
            )
        make_line = (
            f".venv/bin/python manage.py build_unused_model --base-model {base} --preprocess {options['preprocess']}"
        )
    else:
        # the vocabulary the tokenizer holds: the trainer stops short of the size asked where the pool has no
        # more pieces seen twice
        held = json.loads((Path(options["output"]) / "config.json").read_text(encoding="utf-8"))["vocab_size"]
        asked = "" if held == options["vocab_size"] else f" (asked for {options['vocab_size']:,})"
        network = (
            f"An ELECTRA sequence classifier ({options['layers']} layers, hidden {options['hidden_size']}, "
            f"WordPiece vocabulary of {held:,}{asked}"
        )
        start = f"`train_tokenizer --vocab-size {options['vocab_size']}`"
        start_flags = f"--init random --hidden-size {options['hidden_size']} --layers {options['layers']}"
        make_line = (
            "make unused-model     # = .venv/bin/python manage.py build_unused_model --output models/unused-electra"
        )
    extra, extra_line = metrics.get("extra_labels"), ""
    if extra:
        extra_line = (
            f"\n- **Extra labels** (`--extra-labels`): {extra['added']['train']} train and "
            f"{extra['added']['validation']} validation rows from {', '.join(f'`{f}`' for f in extra['files'])} "
            f"(reviewers' decisions or later labelling rounds), beside the hand labels; left out: "
            f"{', '.join(f'{n} {why}' for why, n in extra['left_out'].items())}. The test split is the hand-labelled one."
        )
        if not base:  # the make target takes no files: the command itself
            make_line = ".venv/bin/python manage.py build_unused_model --output models/unused-electra"
        make_line += "".join(f" --extra-labels {f}" for f in extra["files"])
    from plm.finetune import comparison_table

    test, semi, cal = metrics["test"], metrics["semi_supervised"], metrics.get("calibration") or {}
    labels = (
        "unused vs used, with `gift` reviews (bought for someone else) counted as used: the queue holds them, and "
        "a reviewer does not blind them as unused; `unclear` left out"
        if metrics["config"].get("gift_as") == "used"
        else "unused vs used; gift and unclear left out"
    )
    reads = (
        ", over Kiwi morphemes: `config.json`'s `hwadmin_preprocess` makes the workers split each review "
        "into stems and endings before tokenising"
        if metrics.get("preprocess")
        else ""
    )
    suggested = metrics.get("suggested_threshold")
    rows = "\n".join(
        f"| {r['round']} | {' + '.join(Path(t).name if '/' in t else t for t in r['teachers'])} | "
        f"{r['validation_average_precision']:.3f} | {r['test_auroc']:.3f} | {r['test_average_precision']:.3f} |"
        for r in metrics["rounds"]
    )
    threshold_line = ""
    if suggested:
        threshold_line = (
            f"- Suggested one-click threshold: **p ≥ {suggested['threshold']:.2f}** (the lowest whose validation "
            f"precision reaches {suggested['target_precision']}); on the test split it flags "
            f"{suggested['test']['count_above']} reviews at precision {suggested['test']['precision']:.3f}, recall "
            f"{suggested['test']['recall']:.3f}.\n"
        )
    left_out_line = ""
    if metrics.get("test_gift_left_out"):
        figures = metrics["test_gift_left_out"]
        left_out_line = (
            f"- The guideline's unused-vs-used test split ({figures['model']['examples']} reviews, gift left out, "
            f"`evaluate_classifier`): AUROC {figures['model']['auroc']:.3f}, AP "
            f"{figures['model']['average_precision']:.3f}, ECE {figures['model']['ece']:.3f}; baseline "
            f"{figures['baseline']['auroc']:.3f} / {figures['baseline']['average_precision']:.3f}.\n"
        )
    companion = metrics.get("companion")
    stack = (
        f"\n\n**A stack.** The probability combines two models fitted on the same hand labels: the network and the "
        f"{companion['name']} (fitted on the train split, `companion.json`: vocabulary, idf weights and coefficients "
        f"as plain JSON). One Platt fit on the validation split weighs both margins and calibrates them: "
        f"p = σ(a·d + c·m + b), d the network's logit margin, m the regression's log-odds "
        f"(a = {cal.get('scale', 0):.3f}, c = {cal.get('companion_scale', 0):.3f}, b = {cal.get('bias', 0):.3f}). "
        f"The workers, `evaluate_classifier` and the registration gate score both. The network alone is reported "
        f"beside the stack (`network alone`)."
        if companion
        else ""
    )
    return f"""---
language: ko
license: other
library_name: transformers
pipeline_tag: text-classification
---

# unused-electra: 미사용 리뷰 (unused-review) classifier

{network}{reads}) that gives the probability that a Korean beauty review was written by someone who has not
used the product. Label 1 = `unused`, 0 = `used`. Its scores are calibrated: `calibration.json`
({cal.get("method", "none")}, fitted on the validation split) maps the logit margin to the probability, and the
workers apply it when they score.{stack}

## Data and licences

- **Hand labels**: `data/labelled/unused/reviews.jsonl`, real Olive Young reviews read and labelled by
  `docs/labelling_guideline.md`, split by product: {metrics["examples"]["train"]} train,
  {metrics["examples"]["validation"]} validation, {metrics["examples"]["test"]} test reviews ({labels}).{extra_line}
- **Teacher**: {", ".join(t["teacher"] + " (" + t.get("name", "a classifier directory") + ", fitted on the train split)" if "name" in t else t["teacher"] for t in semi["teachers"])}.
- **Unlabelled pool**: {semi["size"]:,} reviews of the four Olive Young review sets in the shared data
  (`oliveyoung_cream_essence_reviews`, `oliveyoung_cream_reviews`, `oliveyoung_suncare_reviews`,
  `oliveyoung_sunscreen_reviews_2026`), less every test-split product ({semi["dropped"]["test_product"]:,} reviews)
  and every labelled text ({semi["dropped"]["labelled_text"]:,}); scored by the teacher and learnt as soft targets.
- **Licences**: none of the review sources states a licence (user reviews published on oliveyoung.co.kr). The
  model and its labels are for this project's internal moderation and research; do not redistribute them.

## Figures (labelled test split, the same rows for each)

```
{comparison_table(metrics)}
```

{left_out_line}- ECE {test["ece_uncalibrated"]:.3f} before calibration, {test["ece"]:.3f} after.
{threshold_line}- Rounds (round 1: taught by `{options["teacher"]}`; a later round: by the mean of that teacher and the previous
  round):

| round | teacher | validation AP | test AUROC | test AP |
|---|---|---|---|---|
{rows}

Shipped: round {metrics["shipped_round"]} (best validation AP). `metrics.json` holds every figure and
`predictions.jsonl` the validation and test predictions they were computed from (raw, calibrated, baseline and
keyword rule per review).

## Using it outside the workers

The directory loads with `AutoModelForSequenceClassification` and `AutoTokenizer`, but the tokenizer expects
the text the model was trained on: {"Kiwi morphemes (`plm.morphemes.morpheme_text(texts)`, forms joined by spaces)" if metrics.get("preprocess") else "the raw review"},
and the probability is `plm.calibration.apply(calibration, z_unused - z_used{", companion_margin" if companion else ""})`{" with the margin of `plm.baseline.load_companion(DIR).margins(texts)`" if companion else ""}.
`moderation.scoring.load_model_dir` and `predict_proba` do all of it.

## Intended use and limits

- Ranks the reviewer queue of the `unused` check and suggests a blind threshold; a reviewer decides. It is not
  meant to blind reviews on its own.
- Trained on Olive Young creams, essences and sun care; other categories or platforms will score less reliably.
- Short reviews that only praise ("좋아요") carry no evidence either way and get low, uncertain scores.
- The test split holds {test["examples"]} reviews: differences of a couple of hundredths in AP between models are
  within noise (a few reviews).

## Rebuild

From a checkout with the shared data beside it (`../shared/data`), about
{max(1, round(metrics.get("build_seconds", 0) / 60))} minutes on two cores:

```sh
{make_line}
```

which runs: the pool (`plm.semisupervised.build_pool`), {start}, then
{options["rounds"]} × `finetune_classifier unused {start_flags} --unlabelled shared --teacher {options["teacher"]}[,previous round] --preprocess
{options["preprocess"]} --epochs {options["epochs"]} --learning-rate
{options["learning_rate"]} --unlabelled-weight {options["unlabelled_weight"]} --companion {options["companion"]}
{"--gift-as used " if options["gift_as"] == "used" else ""}--metric average_precision --seed {options["seed"]}`.{base_card}
"""
