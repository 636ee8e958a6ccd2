"""manage.py evaluate_classifier: a classifier and the keyword rule on one labelled file."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# Each resample is held as an index array while the intervals are computed: 100,000 of them over a few
# thousand reviews is a few gigabytes, and the percentiles stop moving long before.
MAX_BOOTSTRAP = 100_000


class Command(BaseCommand):
    help = (
        "Evaluate a registered or local 2-class classifier on a labelled file: AUROC, average precision, "
        "precision@k, expected calibration error (before and after the directory's calibration) and a threshold "
        "table, beside the baseline (character n-gram TF-IDF + logistic regression, fitted on the file's train "
        "split) and the keyword rule, with bootstrap intervals resampled by product; "
        "writes evaluation.json, pr_curve.png and reliability.png."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "model",
            help="a model directory, or the id of a registered classifier, or 'active' "
            "(the active classifier of --check)",
        )
        parser.add_argument(
            "--data",
            help="labelled file (JSONL/CSV/TSV); default: the unused-review set, data/labelled/unused/reviews.jsonl",
        )
        parser.add_argument(
            "--task",
            default="unused",
            choices=["unused", "file"],
            help="unused: labels unused/used (the labelled-set format); file: 0/1 labels in "
            "--label-column (default: unused)",
        )
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--label-column", default="label")
        parser.add_argument(
            "--split",
            default="test",
            choices=["train", "validation", "test", "all"],
            help="which split to evaluate on (default: test)",
        )
        parser.add_argument(
            "--gift-as", choices=["unused", "used"], help="count gift reviews as this label (default: leave them out)"
        )
        parser.add_argument("--check", default="unused", help="check code for 'active' (default: unused)")
        parser.add_argument(
            "--output", help="directory for evaluation.json and the PNGs (default: var/evaluations/<model name>)"
        )
        parser.add_argument("--k", type=int, nargs="+", default=[10, 50, 100, 500], help="k for precision@k")
        parser.add_argument("--bins", type=int, default=10, help="calibration bins (default: 10)")
        parser.add_argument("--threshold", type=float, default=0.5, help="threshold for accuracy/F1 (default: 0.5)")
        parser.add_argument(
            "--bootstrap",
            type=int,
            default=1000,
            metavar="N",
            help="resamples for 95%% intervals of AUROC and AP and of model − baseline and model − keyword rule, "
            "drawn by product (by review when a row has no product); 0 turns them off, at most 100000 "
            "(default: 1000)",
        )

    def handle(self, *args, **options):
        from plm import datasets, evaluation

        if not 0 <= options["bootstrap"] <= MAX_BOOTSTRAP:
            raise CommandError(
                f"--bootstrap must be 0 (no intervals) or a number of resamples up to {MAX_BOOTSTRAP:,}, "
                f"not {options['bootstrap']}"
            )
        path, name = self.model_path(options)
        try:
            data = datasets.load_task(
                options["task"],
                options["data"],
                options["text_column"],
                options["label_column"],
                gift_as=options["gift_as"],
            )
        except datasets.DatasetError as exc:
            raise CommandError(f"{options['data'] or 'the unused-review set'}: {exc}") from exc
        if len(data.label_names) != 2:
            raise CommandError(f"the file has {len(data.label_names)} labels {data.label_names}; evaluation needs 2")
        texts, labels, indices = data.texts, data.labels, range(len(data.texts))
        if options["split"] != "all":
            texts, labels, indices = data.split(options["split"])
        # resampled by product, the unit the split is drawn by; by review where a row has no product
        groups, _unit = evaluation.product_groups([data.groups[i] for i in indices] if data.groups else [], "review")
        if not texts:
            raise CommandError(f"no examples in the {options['split']} split; pass --split all")
        probabilities, uncalibrated, parts = self.score(path, texts)
        baseline = self.baseline(data, texts)
        output = Path(options["output"] or Path(settings.VAR_DIR) / "evaluations" / name)
        result = evaluation.evaluate(
            labels,
            probabilities,
            texts,
            output,
            name=name,
            ks=options["k"],
            bins=options["bins"],
            threshold=options["threshold"],
            baseline=baseline,
            uncalibrated=uncalibrated,
            bootstrap=options["bootstrap"],
            groups=groups,
            parts=parts,
        )
        self.stdout.write(f"{name} on {options['data'] or 'the unused-review set'} ({options['split']})")
        self.stdout.write(evaluation.format_report(result))
        self.stdout.write(self.style.SUCCESS(f"written: {output}/evaluation.json, pr_curve.png, reliability.png"))

    def model_path(self, options):
        from moderation.models import Check, Classifier

        model = options["model"]
        if model == "active" or model.isdigit():
            if model == "active":
                check = Check.objects.filter(code=options["check"]).first()
                classifier = check.active_classifier if check else None
                if classifier is None:
                    raise CommandError(f"no active classifier for the check {options['check']!r}")
            else:
                classifier = Classifier.objects.filter(pk=int(model)).first()
                if classifier is None:
                    raise CommandError(f"no registered classifier #{model}; `manage.py register_classifier` lists them")
            return classifier.path, f"classifier-{classifier.pk}"
        if not Path(model).is_dir():
            raise CommandError(f"{model}: neither a model directory nor a registered classifier id")
        return model, Path(model).resolve().name

    def score(self, path, texts):
        from tqdm import tqdm

        from moderation.scoring import ModelLoadError, load_model_dir, predict_proba

        try:
            model, tokenizer, max_length = load_model_dir(path)
        except ModelLoadError as exc:
            raise CommandError(str(exc)) from exc
        from plm import calibration

        raw, step = [], 256
        for start in tqdm(range(0, len(texts), step), desc="scoring", unit="batch", disable=len(texts) <= step):
            raw += predict_proba(model, tokenizer, texts[start : start + step], max_length, calibrated=False)
        if model.calibration is None:
            return raw, None, None
        # a stacking calibration adds its companion regression's margins (companion.json); the stack's two
        # inputs are then scored alone too, beside it in the bootstrap
        if model.companion is None:
            return calibration.apply_probabilities(model.calibration, raw), raw, None
        companion = model.companion.margins(texts)
        stacked = calibration.apply_probabilities(model.calibration, raw, companion)
        return stacked, raw, {"network": raw, "companion": companion}

    def baseline(self, data, texts):
        """The character n-gram baseline fitted on the file's train split, scoring the same texts."""
        from plm.baseline import BaselineError, fit_baseline

        train_texts, train_labels, _ = data.split("train")
        try:
            return fit_baseline(train_texts, train_labels).scores(texts)
        except BaselineError as exc:
            self.stderr.write(f"no baseline: {exc} (its train split)")
            return None
