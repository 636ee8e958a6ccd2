"""manage.py build_attribute_tagger --output DIR [--data SENTENCES] [--topic-check auto|yes|no]
                                    [--partner ELECTRA_DIR [--partner-weight W] [--partner-runtime onnx|torch]]

The back-off attribute tagger (plm.attribute_backoff): the taxonomy's phrases, backed off to a char
n-gram regression fitted on the hand-labelled train sentences, thresholds chosen on validation. With
--partner, an ELECTRA attribute model of the same labels (`finetune_classifier attributes`) is copied into
DIR/partner/ and its probabilities are averaged with the regression's (the ELECTRA's share W, 0.5) before
the phrases decide; the thresholds are chosen for that mean. By default the partner runs as its int8 ONNX
export (made here, in DIR/partner/model.int8.onnx, and compared with torch on the validation sentences), so
the tagger needs no torch. Prints
it beside the phrase tagger and the regression alone on the test sentences, writes DIR (backoff.json,
backoff.safetensors, metrics.json, and with the topic check the learned topic aggregation, topic.json);
register it with `manage.py register_attribute_model DIR --activate`.
"""

import contextlib
import shutil
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


def _shown(path):
    """The path relative to the project when it lies inside it (a model card does not name this machine)."""
    from django.conf import settings

    path = Path(path).resolve()
    base = Path(settings.BASE_DIR).resolve()
    return str(path.relative_to(base)) if base in path.parents else str(path)


class Command(BaseCommand):
    help = (
        "Build the back-off attribute tagger (phrases first, a char n-gram regression for the rest) from the "
        "hand-labelled attribute sentences, and compare it with the phrase tagger on the test split."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="the directory to write")
        parser.add_argument(
            "--data", help="labelled sentences JSONL (default: data/labelled/attributes/sentences.jsonl)"
        )
        parser.add_argument(
            "--partner",
            help="an ELECTRA attribute model directory (finetune_classifier attributes) to average with the "
            "regression; copied into DIR/partner/",
        )
        parser.add_argument(
            "--partner-weight",
            type=float,
            help="the partner's share of the mean, between 0 and 1 (default 0.5)",
        )
        parser.add_argument(
            "--partner-runtime",
            choices=["onnx", "torch"],
            default="onnx",
            help="how the tagger runs its partner: its int8 ONNX export, made here (default), or torch",
        )
        parser.add_argument(
            "--topic-check",
            choices=["auto", "yes", "no"],
            default="auto",
            help="the oliveyoung_cream_reviews topic check (auto: when the shared data is there)",
        )

    def handle(self, *args, **options):
        output = Path(options["output"])
        if output.exists() and not output.is_dir():
            raise CommandError(f"--output {output}: exists and is not a directory")
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            self.build(options, output, started, stack)

    def load_partner(self, path, runtime, validation, stack):
        """The partner the tagger averages with: the directory's model in torch, or (default) its int8 ONNX
        export, made in a temporary copy (the source is left as it is) and compared with torch on the
        validation sentences (`verification`: the largest probability difference)."""
        from moderation.onnx_scoring import INT8_FILENAME
        from plm import attributes_model

        try:
            partner = attributes_model.load(path)
        except attributes_model.AttributeModelError as exc:
            raise CommandError(f"--partner: {exc}") from None
        if runtime == "torch":
            return partner
        copy = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hwadmin-partner-")))
        for item in sorted(Path(path).iterdir()):
            if item.is_file() and item.name != INT8_FILENAME:
                shutil.copyfile(item, copy / item.name)
        attributes_model.export_int8(copy, partner.model)
        exported = attributes_model.load(copy, runtime="onnx")
        texts = [r["text"] for r in validation]
        if texts:
            import numpy as np

            gap = float(
                np.max(np.abs(np.asarray(exported.probabilities(texts)) - np.asarray(partner.probabilities(texts))))
            )
            exported.verification = {"int8_max_probability_difference": round(gap, 6), "verified_on": len(texts)}
            self.stdout.write(
                f"partner exported to int8 ONNX: largest probability difference from torch {gap:.4f} on "
                f"{len(texts)} validation sentences"
            )
        return exported

    def build(self, options, output, started, stack):
        from plm import attribute_backoff, attributes_model
        from plm.attributes import TaxonomyError, load_taxonomy

        try:
            taxonomy = load_taxonomy()
            rows = attributes_model.load_sentences(options["data"], taxonomy)
            split = attributes_model.split_rows(rows)
            if not split["train"] or not split["validation"]:
                raise CommandError(
                    f"the back-off tagger needs train and validation sentences (has {len(split['train'])} train, "
                    f"{len(split['validation'])} validation)"
                )
            if options["partner_weight"] is not None and not options["partner"]:
                raise CommandError("--partner-weight needs --partner")
            partner = None
            if options["partner"]:
                partner = self.load_partner(options["partner"], options["partner_runtime"], split["validation"], stack)
                metrics_partner = {
                    "source": _shown(options["partner"]),
                    "runtime": partner.runtime,
                    **getattr(partner, "verification", {}),
                }
            topics = attributes_model.topic_reviews_for(options["topic_check"], log=self.stdout.write)
            tagger = attribute_backoff.fit(
                split, taxonomy, log=self.stdout.write, partner=partner, partner_weight=options["partner_weight"]
            )
            name = attribute_backoff.NAME + (
                f"; averaged with an ELECTRA partner (weight {tagger.partner_weight})" if partner else ""
            )
            self.stdout.write(f"model = {name}")
            metrics = {
                "task": "attributes",
                "tagger": "backoff",
                "name": name,
                "partner": {**metrics_partner, "weight": tagger.partner_weight} if partner else None,
                "taxonomy_version": attributes_model.taxonomy_version(),
                "labels": tagger.layout,
                "examples": {name: len(part) for name, part in split.items()},
                "thresholds": tagger.thresholds,
                # on the rows the thresholds were chosen on: optimistic, for comparison with other builds only
                "validation_micro_f1": attributes_model.evaluate(
                    [r["labels"] for r in split["validation"]],
                    tagger.tag([r["text"] for r in split["validation"]]),
                    [a.id for a in taxonomy],
                )["micro_f1"],
                "data": _shown(options["data"] or attributes_model.SENTENCES),
            }
            metrics.update(attributes_model.evaluate_all(tagger, split, taxonomy, log=self.stdout.write))
            aggregations = {}
            if topics is not None:
                metrics["topic_check"] = attributes_model.topic_check(
                    tagger, taxonomy, topics, log=self.stdout.write, aggregations=aggregations
                )
            metrics["seconds"] = round(time.perf_counter() - started, 1)
            attribute_backoff.save(tagger, output, metrics["taxonomy_version"], metrics)
            stale = output / attributes_model.TOPIC_FILE
            if "model" in aggregations:
                aggregations["model"].save(output)
            elif stale.exists():
                stale.unlink()  # an earlier build's aggregation would not fit this tagger
        except (attributes_model.AttributeModelError, attribute_backoff.BackoffError, TaxonomyError) as exc:
            raise CommandError(str(exc)) from exc
        test = metrics["evaluation"]["subsets"]["all"]
        self.stdout.write(
            self.style.SUCCESS(
                f"written: {output} (test micro-F1 {test['model']['micro_f1']:.3f}, phrase tagger "
                f"{test['phrase_tagger']['micro_f1']:.3f}); register it with "
                f"manage.py register_attribute_model {output} --activate"
            )
        )
