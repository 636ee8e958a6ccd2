"""manage.py evaluate_vocab: compare tokenizer folders on the same review data."""

from django.core.management.base import BaseCommand, CommandError

from plm import vocab


class Command(BaseCommand):
    help = (
        "Compare tokenizer folders (ours at several sizes, and any baseline) on the same data: [UNK] share, "
        "beauty terms kept whole, a biLSTM classifier on review sentiment and NSMC, tokens per review. "
        "Prints a table and writes vocab_eval.md, vocab_eval.csv and vocab_eval.png."
    )

    def add_arguments(self, parser):
        parser.add_argument("tokenizers", nargs="+", help="tokenizer folders")
        parser.add_argument(
            "--reviews", nargs="+", required=True, help="review exports (.jsonl/.json/.csv/.tsv) with text and a rating"
        )
        parser.add_argument("--nsmc", help="folder with NSMC's ratings_train.txt and ratings_test.txt")
        parser.add_argument(
            "--terms",
            default=str(vocab.BEAUTY_TERMS),
            help="TSV with a 'term' column (default: the shipped beauty terms)",
        )
        parser.add_argument(
            "--sample", type=int, default=2000, help="reviews sampled for [UNK] and length (default 2000)"
        )
        parser.add_argument(
            "--rules",
            default="review",
            help="normalise texts first with these rules (a profile, a .toml file, or none)",
        )
        parser.add_argument("--epochs", type=int, default=2, help="biLSTM epochs (default 2)")
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--max-train", type=int, default=20_000, help="training examples per task at most")
        parser.add_argument("--max-test", type=int, default=5_000, help="test examples per task at most")
        parser.add_argument("--no-bilstm", action="store_true", help="skip the biLSTM benchmark (no TensorFlow)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", default=".", help="folder for vocab_eval.md/.csv/.png (default: here)")

    def handle(self, *args, **options):
        from tqdm import tqdm

        try:
            terms = vocab.read_beauty_terms(options["terms"])
            with tqdm(total=len(options["tokenizers"]), unit="tokenizer", disable=options["verbosity"] == 0) as bar:
                rows, sizes = vocab.evaluate(
                    options["tokenizers"],
                    options["reviews"],
                    nsmc_dir=options["nsmc"],
                    terms=terms,
                    sample_size=options["sample"],
                    rules=options["rules"],
                    epochs=options["epochs"],
                    bilstm=not options["no_bilstm"],
                    batch_size=options["batch_size"],
                    max_train=options["max_train"],
                    max_test=options["max_test"],
                    seed=options["seed"],
                    progress=bar.update,
                )
            paths = vocab.write_report(rows, options["out"])
        except (ValueError, OSError, KeyError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(vocab.markdown_table(rows))
        trained = ", ".join(
            f"{task.removeprefix('acc_')} {n:,}" for task, n in sizes.items() if task.startswith("acc_")
        )
        self.stdout.write(
            f"measured on {sizes['reviews_sampled']:,} sampled reviews and {sizes['terms']} terms"
            + (f"; biLSTM training examples: {trained}" if trained else "")
        )
        self.stdout.write(f"written: {', '.join(map(str, paths))}")
