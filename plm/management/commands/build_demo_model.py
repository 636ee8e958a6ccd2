"""manage.py build_demo_model: the whole model pipeline at toy scale, ending in an active classifier.

corpus → WordPiece vocabulary → pretraining TFRecords → ELECTRA pretraining → port to
HuggingFace → fine-tune on the hand-labelled unused set, semi-supervised (the baseline
teacher scores the sample reviews, which the student learns from beside the hand labels)
→ check that its probabilities spread → register and activate. Every
stage is the project's own command, called with small settings, so a fresh checkout gets a
working (if weak) classifier in a few minutes on a CPU, from the text in the repository
alone. A production model is built the same way at full scale (README, "The language-model
workshop").
"""

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

DATA = Path(settings.BASE_DIR) / "data"
# Below this standard deviation of the sample's scores, every review gets nearly the same
# probability: no threshold means anything, and the queue order is noise.
LEAST_SPREAD = 0.05
CORPUS_SOURCES = {
    "sample": DATA / "sample" / "reviews.jsonl",
    "labelled": DATA / "labelled" / "unused" / "reviews.jsonl",
}


class Command(BaseCommand):
    help = (
        "Build a small unused-review classifier with the project's own pipeline (corpus, vocabulary, "
        "pretraining data, ELECTRA pretraining, port, fine-tuning) from the text in data/, then register "
        "and activate it. Does nothing when the check already has an active classifier, unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workdir",
            default=str(Path(settings.VAR_DIR) / "demo-model"),
            help="folder for every stage's output (default: var/demo-model)",
        )
        parser.add_argument("--check", default="unused")
        parser.add_argument("--vocab-size", type=int, default=8000)
        parser.add_argument("--hidden-size", type=int, default=64)
        parser.add_argument("--layers", type=int, default=2)
        parser.add_argument("--pretrain-steps", type=int, default=200)
        parser.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs")
        parser.add_argument("--force", action="store_true", help="build and activate even if a classifier is active")
        parser.add_argument("--no-register", action="store_true", help="build the model directory only")

    @staticmethod
    def sample_spread(model_dir):
        """The standard deviation of the model's (calibrated) scores on the sample reviews."""
        import statistics

        from moderation.models import join_review_text
        from moderation.scoring import load_model_dir, predict_proba

        rows = [json.loads(line) for line in CORPUS_SOURCES["sample"].read_text(encoding="utf-8").splitlines() if line]
        model, tokenizer, max_length = load_model_dir(model_dir)
        scores = predict_proba(
            model,
            tokenizer,
            [join_review_text(r.get("good_text", ""), r.get("bad_text", "")) for r in rows],
            max_length,
        )
        return statistics.pstdev(scores)

    def handle(self, *args, **options):
        from moderation.models import Check, Classifier

        try:
            check = Check.objects.filter(code=options["check"]).first()
        except DatabaseError as exc:
            raise CommandError(f"the database is not ready ({exc}): run manage.py migrate first") from exc
        if check is None:
            raise CommandError(f"no check {options['check']!r}; run manage.py migrate first")
        active = Classifier.objects.filter(moderation_check=check, is_active=True).first()
        if active and not options["force"] and not options["no_register"]:
            self.stdout.write(
                f"the {check.code} check already has an active classifier ({active.name}); "
                "nothing to do (--force builds another)"
            )
            return
        for path in CORPUS_SOURCES.values():
            if not path.exists():
                raise CommandError(f"{path} is missing: the demo model is built from the data in the repository")

        work = Path(options["workdir"])
        work.mkdir(parents=True, exist_ok=True)
        quiet = {"stdout": self.stdout, "stderr": self.stderr, "verbosity": 0}
        hidden = options["hidden_size"]
        timings = {}

        def stage(name, *command, **kwargs):
            self.stdout.write(f"[{len(timings) + 1}/7] {name} …")
            started = time.perf_counter()
            call_command(*command, **{**quiet, **kwargs})
            timings[name] = round(time.perf_counter() - started, 1)

        sources = [f"{name}=jsonl:{path}" for name, path in CORPUS_SOURCES.items()]
        stage(
            "corpus",
            "build_corpus",
            *[arg for source in sources for arg in ("--source", source)],
            "--text-fields",
            "good_text,bad_text",
            "--out",
            str(work / "corpus"),
            "--processes",
            "1",
        )
        stage(
            "vocabulary",
            "train_tokenizer",
            "--corpus",
            str(work / "corpus"),
            "--out",
            str(work / "vocab"),
            "--vocab-size",
            str(options["vocab_size"]),
            "--min-frequency",
            "2",
        )
        stage(
            "pretraining data",
            "build_pretraining_data",
            str(work / "corpus" / "shards"),
            "--tokenizer",
            str(work / "vocab"),
            "--output",
            str(work / "pretrain-data"),
            "--max-seq-length",
            "128",
            "--num-out-files",
            "2",
            "--num-processes",
            "1",
        )
        # 2e-4: at this size and batch, 5e-4 and more collapse the discriminator within 100 steps (every token
        # the same vector; evaluate_pretraining's spread near 0) and fine-tuning from it learns nothing.
        stage(
            "ELECTRA pretraining",
            "pretrain_plm",
            "--data",
            str(work / "pretrain-data"),
            "--tokenizer",
            str(work / "vocab"),
            "--output",
            str(work / "electra"),
            "--hidden-size",
            str(hidden),
            "--embedding-size",
            str(hidden),
            "--num-hidden-layers",
            str(options["layers"]),
            "--num-attention-heads",
            str(max(1, hidden // 32)),
            "--intermediate-size",
            str(4 * hidden),
            "--generator-hidden-size",
            "0.5",
            "--train-batch-size",
            "32",
            "--max-seq-length",
            "128",
            "--learning-rate",
            "2e-4",
            "--num-warmup-steps",
            str(max(1, options["pretrain_steps"] // 10)),
            "--num-train-steps",
            str(options["pretrain_steps"]),
            "--iterations-per-loop",
            "50",
            "--save-checkpoints-steps",
            str(options["pretrain_steps"]),
            "--keep-checkpoint-max",
            "1",
        )
        stage("port to HuggingFace", "port_checkpoint", str(work / "electra"), "--output", str(work / "pretrained"))
        model_dir = work / "unused-classifier"
        # Each stage is its own command line: its flag and value pairs repeat the shape of the others, not their logic.
        stage(
            "fine-tuning",
            "finetune_classifier",
            "unused",
            "--model",
            str(work / "pretrained"),
            "--output",
            str(model_dir),
            "--epochs",
            str(options["epochs"]),
            "--learning-rate",
            "5e-4",
            "--batch-size",
            "32",
            "--max-length",
            "128",
            "--patience",
            str(options["epochs"]),
            "--metric",
            "average_precision",
            "--unlabelled",
            str(CORPUS_SOURCES["sample"]),
            "--teacher",
            "baseline",
        )
        spread = self.sample_spread(model_dir)
        if spread < LEAST_SPREAD and not options["no_register"]:
            raise CommandError(
                f"{model_dir}: its probabilities on the sample reviews barely differ (standard deviation {spread:.4f}, "
                f"under {LEAST_SPREAD}), so no threshold would mean anything; not registered. Train longer or "
                "larger (--epochs, --hidden-size, --layers, --pretrain-steps), or register the shipped classifier "
                "(models/unused-electra)."
            )
        if options["no_register"]:
            timings["register"] = 0.0
        else:
            stage(
                "register and activate",
                "register_classifier",
                str(model_dir),
                "--check",
                check.code,
                "--name",
                f"demo-{time.strftime('%Y%m%d-%H%M%S')}",
                "--activate",
            )

        test = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8")).get("test", {})
        self.stdout.write(f"sample score spread (standard deviation): {spread:.3f}")
        figures = ", ".join(f"{k} {test[k]:.3f}" for k in ("auroc", "average_precision", "f1") if k in test)
        self.stdout.write(
            f"demo classifier {model_dir}: test {figures or 'metrics in metrics.json'}; "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
        )
