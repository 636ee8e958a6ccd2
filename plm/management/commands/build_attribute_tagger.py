"""manage.py build_attribute_tagger --output DIR [--data SENTENCES] [--topic-check auto|yes|no]

The back-off attribute tagger (plm.attribute_backoff): the taxonomy's phrases, backed off to a char
n-gram regression fitted on the hand-labelled train sentences, thresholds chosen on validation. Prints
it beside the phrase tagger and the regression alone on the test sentences, writes DIR (backoff.json,
backoff.safetensors, metrics.json, and with the topic check the learned topic aggregation, topic.json);
register it with `manage.py register_attribute_model DIR --activate`.
"""

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
            "--topic-check",
            choices=["auto", "yes", "no"],
            default="auto",
            help="the oliveyoung_cream_reviews topic check (auto: when the shared data is there)",
        )

    def handle(self, *args, **options):
        from plm import attribute_backoff, attributes_model
        from plm.attributes import TaxonomyError, load_taxonomy

        output = Path(options["output"])
        if output.exists() and not output.is_dir():
            raise CommandError(f"--output {output}: exists and is not a directory")
        started = time.perf_counter()
        try:
            taxonomy = load_taxonomy()
            rows = attributes_model.load_sentences(options["data"], taxonomy)
            split = {name: [r for r in rows if r["split"] == name] for name in ("train", "validation", "test")}
            if not split["train"] or not split["validation"]:
                raise CommandError(
                    f"the back-off tagger needs train and validation sentences (has {len(split['train'])} train, "
                    f"{len(split['validation'])} validation)"
                )
            topics = attributes_model.topic_reviews_for(options["topic_check"], log=self.stdout.write)
            tagger = attribute_backoff.fit(split, taxonomy, log=self.stdout.write)
            self.stdout.write(f"model = {attribute_backoff.NAME}")
            metrics = {
                "task": "attributes",
                "tagger": "backoff",
                "name": attribute_backoff.NAME,
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
