"""manage.py finetune_classifier: fine-tune an ELECTRA model directory into a classifier directory."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# The pretrained discriminator the project ships (docs/pretraining.md, "Domain vs general pretraining"): where
# a fine-tune starts when no --model is given.
SHIPPED_BASE = Path(settings.BASE_DIR) / "models" / "pretrained-electra"


def finetune_config(options, **task_fields):
    """The FinetuneConfig of the options every task shares, with `task_fields` (metric, unlabelled weight,
    calibration) as the task sets them."""
    from plm import finetune

    return finetune.FinetuneConfig(
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        learning_rate=options["learning_rate"],
        max_length=options["max_length"],
        seed=options["seed"],
        patience=options["patience"],
        threads=options["threads"],
        device=options["device"],
        init=options["init"],
        preprocess="" if options["preprocess"] == "none" else options["preprocess"],
        **task_fields,
    )


def start_model(options, flag, log=print):
    """The model directory to fine-tune: --model; with --init random and --tokenizer a new architecture
    written into --output; else the shipped pretrained discriminator (its weights, or with --init random its
    architecture and tokenizer). `flag` is the option's name the error message asks for."""
    from plm import finetune

    if options["model"] is not None:
        return options["model"]
    if options["init"] == "random" and options["tokenizer"]:
        return str(
            finetune.write_architecture(
                options["tokenizer"], options["output"], options["hidden_size"], options["layers"]
            )
        )
    if (SHIPPED_BASE / "config.json").is_file():
        how = "its architecture and tokenizer, new weights" if options["init"] == "random" else "its weights"
        log(f"starting from the shipped pretrained model {SHIPPED_BASE} ({how}; {flag} DIR picks another)")
        return str(SHIPPED_BASE)
    raise CommandError(
        f"pass {flag} DIR, or --init random with --tokenizer DIR (no pretrained model is shipped in {SHIPPED_BASE})"
    )


class Command(BaseCommand):
    help = (
        "Fine-tune a ported (or any local HuggingFace ELECTRA) model on a task: unused (the hand-labelled set), "
        "goodbad (Olive Young 4-5 vs 1-2 stars), category (Olive Young product category), nsmc, or any "
        "JSONL/CSV/TSV file (--data with --text-column/--label-column). Writes a model directory for "
        "register_classifier with metrics.json, predictions.jsonl and a model card."
    )

    # help and add_arguments have the shape every command has; the options are this command's own.
    def add_arguments(self, parser):
        parser.add_argument("task", choices=["unused", "goodbad", "category", "nsmc", "file", "attributes"])
        parser.add_argument(
            "--model",
            "--base-model",
            dest="model",
            help="the model directory to start from (port_checkpoint's output; default: the shipped "
            "models/pretrained-electra); with --init random, only its architecture and tokenizer are used",
        )
        parser.add_argument(
            "--init",
            choices=["pretrained", "random"],
            default="pretrained",
            help="pretrained: the model's weights (default); random: new weights, the architecture "
            "of --model or of --tokenizer with --hidden-size/--layers",
        )
        parser.add_argument("--tokenizer", help="with --init random and no --model: the tokenizer directory")
        parser.add_argument("--hidden-size", type=int, default=128, help="with --tokenizer: hidden size (default 128)")
        parser.add_argument("--layers", type=int, default=4, help="with --tokenizer: encoder layers (default 4)")
        parser.add_argument(
            "--unlabelled",
            help="semi-supervised: unlabelled reviews for the teacher to score: "
            "'shared' (the beauty review sets of the shared data), 'reviews' "
            "(the Review table) or a JSONL file; test-split products and "
            "labelled texts are always left out",
        )
        parser.add_argument(
            "--teacher",
            default="baseline",
            help="with --unlabelled: 'baseline' (the character n-gram baseline fitted on the train "
            "split), a classifier directory, or several comma-separated (their mean)",
        )
        parser.add_argument("--max-unlabelled", type=int, help="use at most this many unlabelled reviews")
        parser.add_argument(
            "--sentence-crops",
            type=int,
            default=0,
            metavar="N",
            help="with --unlabelled: add up to N crops (runs of sentences) of each pooled review for the "
            "teacher to score too (default 0)",
        )
        parser.add_argument(
            "--unlabelled-weight",
            type=float,
            default=1.0,
            help="loss weight of a teacher-scored review against a hand label (default 1)",
        )
        parser.add_argument(
            "--preprocess",
            choices=["none", "kiwi-morphemes"],
            default="none",
            help="what the model reads: the text (default) or its Kiwi morphemes (stems and "
            "endings split; saved in config.json and applied by the workers)",
        )
        parser.add_argument(
            "--calibration",
            choices=["platt", "temperature", "isotonic", "none"],
            default="platt",
            help="calibration fitted on validation for 2-label tasks (default platt)",
        )
        parser.add_argument(
            "--companion",
            choices=["none", "morph-baseline"],
            default="none",
            help="2-label tasks: stack the morpheme regression (fitted on the train split, saved as "
            "companion.json) with the network in the platt calibration; the workers apply both",
        )
        parser.add_argument("--output", required=True, help="directory for the fine-tuned classifier")
        parser.add_argument("--data", help="labelled file: for 'file', or another labelled set for 'unused'")
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--label-column", default="label")
        parser.add_argument(
            "--group-column",
            help="split by this column (e.g. product_id) when the file has no "
            "split column, so no group spans two splits",
        )
        parser.add_argument(
            "--gift-as",
            choices=["unused", "used"],
            help="unused task: count gift reviews as this label (default: leave them out)",
        )
        parser.add_argument(
            "--weak-labels",
            type=int,
            default=0,
            help="attributes: this many phrase-tagger-labelled sentences of train-split products' "
            "reviews beside the hand labels (default 0: none)",
        )
        parser.add_argument(
            "--weak-weight",
            type=float,
            default=0.3,
            help="attributes: loss weight of a weakly labelled sentence (default 0.3)",
        )
        parser.add_argument(
            "--weak-target",
            type=float,
            default=1.0,
            help="attributes: target of a tagged output in a weak label, 0-1 (default 1: hard)",
        )
        parser.add_argument(
            "--weak-teacher",
            help="attributes: a back-off tagger directory (manage.py build_attribute_tagger) whose probabilities "
            "are the weak labels' soft targets (default: the phrase tagger's hard tags)",
        )
        parser.add_argument(
            "--topic-check",
            choices=["auto", "yes", "no"],
            default="auto",
            help="attributes: the oliveyoung_cream_reviews topic check (auto: when the shared data is there)",
        )
        parser.add_argument("--epochs", type=int, default=3)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--learning-rate", type=float, default=5e-5)
        parser.add_argument("--max-length", type=int, default=128)
        parser.add_argument(
            "--patience",
            type=int,
            default=2,
            help="epochs without a better validation metric before stopping (default: 2)",
        )
        parser.add_argument(
            "--metric",
            choices=["accuracy", "f1", "f1_micro", "f1_macro", "auroc", "average_precision"],
            help="validation metric for early stopping (default: f1 when binary, else f1_micro)",
        )
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--max-train", type=int, help="use at most this many train examples (a fixed subset)")
        parser.add_argument("--max-eval", type=int, help="use at most this many validation and test examples each")
        parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
        parser.add_argument(
            "--device",
            default="",
            help="torch device to train on (default: a CUDA GPU where torch sees one, else the CPU)",
        )
        parser.add_argument(
            "--export-bundle",
            metavar="DIR",
            help="write what fine-tuning needs (the labelled set and the teacher-scored pool, or the attribute "
            "sentences and the weak ones, each text beside what the model reads of it, and the options) to DIR and "
            "stop, for "
            "`python -m plm.finetune_bundle DIR` on a machine without Django, Kiwi or the shared data (a GPU)",
        )

    def handle(self, *args, **options):
        from plm import datasets, finetune, semisupervised

        if options["task"] == "attributes":
            return self.attributes(options)
        for name in ("weak_labels", "weak_teacher"):
            if options[name]:
                raise CommandError(f"--{name.replace('_', '-')} applies to the attributes task only")

        # The call evaluate_classifier makes too: both commands read a labelled set from the same options.
        try:
            data = datasets.load_task(
                options["task"],
                options["data"],
                options["text_column"],
                options["label_column"],
                group_column=options["group_column"],
                gift_as=options["gift_as"],
                seed=options["seed"],
            )
        except datasets.DatasetError as exc:
            raise CommandError(f"{options['task']}: {exc}") from exc
        full = data  # the pool leaves out the whole set's test products and texts, subsampled or not
        limits = {"train": options["max_train"], "validation": options["max_eval"], "test": options["max_eval"]}
        if any(limits.values()):
            data = data.subsample(limits, seed=options["seed"])
        for split, counts in data.counts().items():
            self.stdout.write(f"{split}: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
        config = finetune_config(
            options,
            metric=options["metric"] or "",
            unlabelled_weight=options["unlabelled_weight"],
            calibration="" if options["calibration"] == "none" else options["calibration"],
            companion="" if options["companion"] == "none" else options["companion"],
            gift_as=options["gift_as"] or "",
        )
        try:
            model = start_model(options, "--model", self.stdout.write)
            unlabelled = None
            if options["unlabelled"]:
                pool, info = semisupervised.build_pool(
                    options["unlabelled"],
                    full,
                    options["max_unlabelled"],
                    seed=options["seed"],
                    crops=options["sentence_crops"],
                )
                self.stdout.write(
                    f"unlabelled pool {info['source']}: {info['size']} reviews (read {info['read']}; "
                    + ", ".join(f"{k} {v}" for k, v in info["dropped"].items())
                    + " left out)"
                )
                texts = [row["text"] for row in pool]
                probabilities, teacher = semisupervised.teacher_probabilities(
                    options["teacher"], data, texts, log=self.stdout.write
                )
                info.update(teacher)
                unlabelled = (texts, probabilities, info)
            if options["export_bundle"]:
                from plm import finetune_bundle

                written = finetune_bundle.export(
                    options["export_bundle"], model, data, config, options["task"], unlabelled
                )
                self.stdout.write(
                    self.style.SUCCESS(
                        f"bundle written: {written} (fine-tune it where torch runs: python -m plm.finetune_bundle "
                        f"{written} --out DIR)"
                    )
                )
                return
            metrics = finetune.finetune(
                model,
                data,
                options["output"],
                config,
                task=options["task"],
                log=self.stdout.write,
                unlabelled=unlabelled,
            )
        except (finetune.FinetuneError, semisupervised.PoolError) as exc:
            raise CommandError(str(exc)) from exc
        for split in ("validation", "test"):
            if split in metrics:
                m = metrics[split]
                shown = [
                    k
                    for k in ("accuracy", "f1", "f1_micro", "auroc", "average_precision", "ece")
                    if m.get(k) is not None
                ]
                self.stdout.write(f"{split}: " + ", ".join(f"{k} {m[k]:.4f}" for k in shown))
        if "baseline" in metrics:
            self.stdout.write(finetune.comparison_table(metrics))
        self.stdout.write(
            self.style.SUCCESS(
                f"written: {options['output']} (register it: manage.py register_classifier --check unused "
                f"{options['output']} --activate)"
                if options["task"] == "unused"
                else f"written: {options['output']}"
            )
        )

    def attributes(self, options):
        """The multi-label attribute model (plm.attributes_model) on the hand-labelled attribute sentences."""
        from plm import attributes_model, finetune
        from plm.attributes import TaxonomyError, load_taxonomy

        if options["weak_labels"] < 0 or not 0 < options["weak_target"] <= 1 or options["weak_weight"] <= 0:
            raise CommandError("--weak-labels must be 0 or more, --weak-target in (0, 1], --weak-weight above 0")
        for name in ("unlabelled", "group_column", "gift_as", "max_train", "max_eval"):
            if options[name]:
                raise CommandError(f"--{name.replace('_', '-')} does not apply to the attributes task")
        try:
            taxonomy = load_taxonomy()
            rows = attributes_model.load_sentences(options["data"], taxonomy)
            counts = {s: sum(1 for r in rows if r["split"] == s) for s in ("train", "validation", "test")}
            self.stdout.write(", ".join(f"{s}: {n} sentences" for s, n in counts.items()))
            config = finetune_config(options, unlabelled_weight=options["weak_weight"], calibration="")
            model = start_model(options, "--base-model", self.stdout.write)
            weak = teacher = None
            if options["weak_teacher"]:
                from plm import attribute_backoff

                if not options["weak_labels"]:
                    raise CommandError("--weak-teacher needs --weak-labels N (how many sentences it labels)")
                try:
                    teacher = attribute_backoff.load(options["weak_teacher"], taxonomy)
                except attribute_backoff.BackoffError as exc:
                    raise CommandError(f"--weak-teacher: {exc}") from None
                teacher.name = f"back-off tagger {options['weak_teacher']}"
            if options["weak_labels"]:
                weak = attributes_model.weak_sentences(
                    rows, taxonomy, options["weak_labels"], seed=options["seed"], log=self.stdout.write, teacher=teacher
                )
            if options["export_bundle"]:
                from plm import finetune_bundle

                written = finetune_bundle.export_attributes(
                    options["export_bundle"], model, rows, config, weak, options["weak_target"]
                )
                self.stdout.write(
                    self.style.SUCCESS(
                        f"bundle written: {written} (train it where torch runs: python -m plm.finetune_bundle "
                        f"{written} --out DIR; then build_attribute_tagger --partner DIR scores the test split)"
                    )
                )
                return
            topics = attributes_model.topic_reviews_for(options["topic_check"], log=self.stdout.write)
            metrics = attributes_model.train(
                model,
                rows,
                options["output"],
                config,
                taxonomy,
                weak=weak,
                weak_target=options["weak_target"],
                log=self.stdout.write,
                topic_data=topics,
            )
        except (finetune.FinetuneError, attributes_model.AttributeModelError, TaxonomyError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"written: {options['output']} (best epoch {metrics['best_epoch']}, validation micro-F1 "
                f"{metrics['validation_micro_f1']:.4f})"
            )
        )
