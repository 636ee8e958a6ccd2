"""manage.py build_corpus: sources in, a sharded ELECTRA pretraining corpus and stats.json out."""

import os

from django.core.management.base import BaseCommand, CommandError

from plm import corpus


class Command(BaseCommand):
    help = (
        "Normalise, deduplicate and shard text from several sources into the layout ELECTRA's data builder "
        "reads (one sentence a line, a blank line between documents) under OUT/shards/, with OUT/stats.json."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            action="append",
            required=True,
            metavar="[NAME=]KIND:LOCATION[:RULES]",
            help=(
                "repeatable. NAME labels the source in stats.json (default KIND:LOCATION). KIND is text (a .txt file or a folder of them), jsonl, csv (.tsv: tab-separated) "
                "or reviews (the Review table; LOCATION visible (default) or all). RULES is a profile "
                "(public, review) or a TOML file overriding one; defaults: text -> public, others -> review. "
                "Example: --source wiki=text:dumps/wiki --source csv:exports/oy.csv:rules.toml --source reviews"
            ),
        )
        parser.add_argument("--out", required=True, help="output folder (shards/ and stats.json are written there)")
        parser.add_argument(
            "--processes", type=int, default=os.cpu_count() or 1, help="worker processes (default: all CPUs)"
        )
        parser.add_argument(
            "--shard-mb", type=float, default=100, help="approximate size of one shard (default 100 MB)"
        )
        parser.add_argument(
            "--text-fields",
            default=",".join(corpus.TEXT_FIELDS),
            help="JSONL/CSV fields joined into one document, in order (default: %(default)s)",
        )
        parser.add_argument("--chunk-chars", type=int, default=1_000_000, help="characters per work unit (default 1M)")

    def handle(self, *args, **options):
        from tqdm import tqdm

        if options["processes"] < 1 or options["shard_mb"] <= 0:
            raise CommandError("--processes must be 1 or more and --shard-mb above 0")
        try:
            sources = [corpus.parse_source(spec) for spec in options["source"]]
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        fields = tuple(field.strip() for field in options["text_fields"].split(",") if field.strip())
        with tqdm(unit="doc", desc="build_corpus", disable=options["verbosity"] == 0) as bar:
            try:
                stats = corpus.build_corpus(
                    sources,
                    options["out"],
                    processes=options["processes"],
                    shard_mb=options["shard_mb"],
                    chunk_chars=options["chunk_chars"],
                    text_fields=fields,
                    progress=bar.update,
                )
            except (ValueError, OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"{exc}") from None
        for name, source_stats in stats["sources"].items():
            if not source_stats["documents_out"]:
                self.stderr.write(
                    f"warning: {name} gave no documents ({source_stats['documents_in']:,} read, dropped "
                    f"{source_stats['dropped']}); for JSONL/CSV check --text-fields"
                )
        dropped = stats["dropped"]
        self.stdout.write(
            f"{stats['documents_out']:,} documents ({stats['sentences_out']:,} sentences) from "
            f"{stats['documents_in']:,} in {len(stats['shards'])} shard(s) under {options['out']}/shards; "
            f"dropped {dropped['duplicate']:,} duplicate, {dropped['too_short']:,} too short, {dropped['empty']:,} empty; "
            f"{stats['mb_per_second']} MB/s on {stats['processes']} process(es). Stats: {options['out']}/stats.json"
        )
