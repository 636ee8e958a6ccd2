"""manage.py build_pretraining_data: a sentence-per-line corpus → ELECTRA pretraining TFRecords."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Write ELECTRA pretraining TFRecords (int64 input_ids, input_mask, segment_ids of max_seq_length each) "
        "from a corpus of text files (one sentence per line, a blank line between documents) and a tokenizer "
        "directory holding tokenizer.json. Shards are named pretrain_data.tfrecord-{i}-of-{n}."
    )

    # help and add_arguments have the shape every command and script has; the options are this command's own.
    def add_arguments(self, parser):
        parser.add_argument("corpus", nargs="+", help="corpus files, directories (every *.txt inside) or glob patterns")
        parser.add_argument("--tokenizer", required=True, help="tokenizer directory (tokenizer.json, cased)")
        parser.add_argument("--output", required=True, help="directory for the TFRecord shards")
        parser.add_argument("--max-seq-length", type=int, default=128, help="tokens per example (default 128)")
        parser.add_argument("--num-out-files", type=int, default=1000, help="number of output shards (default 1000)")
        parser.add_argument(
            "--num-processes",
            type=int,
            default=1,
            help="worker processes; the input files are split among them (default 1)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the example-building randomness")
        parser.add_argument(
            "--join-documents",
            type=int,
            default=1,
            metavar="N",
            help="read N consecutive documents as one (default 1, the original's): for corpora of short "
            "documents, such as one review a document, whose examples would be mostly padding",
        )

    def handle(self, *args, **options):
        from plm.pretraining_data import build_pretraining_data

        if options["max_seq_length"] < 8:
            raise CommandError("--max-seq-length must be at least 8")
        try:
            stats = build_pretraining_data(
                options["corpus"],
                options["tokenizer"],
                options["output"],
                max_seq_length=options["max_seq_length"],
                num_out_files=options["num_out_files"],
                num_processes=options["num_processes"],
                seed=options["seed"],
                join_documents=options["join_documents"],
                progress=options["verbosity"] > 0,
            )
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{stats.examples} examples ({stats.single_segment} single-segment), {stats.tokens} tokens, "
            f"{stats.padding_share:.1%} padding, from {stats.lines} lines "
            f"→ {options['num_out_files']} shards in {options['output']}"
        )
