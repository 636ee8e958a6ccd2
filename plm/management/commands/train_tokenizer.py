"""manage.py train_tokenizer: a cased WordPiece vocabulary, saved as an ELECTRA tokenizer folder."""

from django.core.management.base import BaseCommand, CommandError

from plm import vocab


class Command(BaseCommand):
    help = (
        "Train a cased WordPiece vocabulary (HF tokenizers) on a corpus from build_corpus and save it as a folder "
        "that transformers.AutoTokenizer loads (tokenizer.json, tokenizer_config.json, special_tokens_map.json, "
        "vocab.txt). Several --vocab-size values write OUT/vocab-SIZE each."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--corpus", nargs="+", required=True, help="build_corpus's output folder, or .txt files/folders"
        )
        parser.add_argument("--out", required=True, help="tokenizer folder (one size) or parent folder (several sizes)")
        parser.add_argument(
            "--vocab-size", type=int, nargs="+", default=[75_000], help="one or more sizes (default 75000)"
        )
        parser.add_argument("--min-frequency", type=int, default=50, help="least count of a merged piece (default 50)")
        parser.add_argument(
            "--extra-tokens", help="file of domain tokens, one a line, kept whole (added after the special tokens)"
        )

    def handle(self, *args, **options):
        sizes = options["vocab_size"]
        if any(size < len(vocab.SPECIAL_TOKENS) + 100 for size in sizes) or options["min_frequency"] < 1:
            raise CommandError(
                f"--vocab-size must be at least {len(vocab.SPECIAL_TOKENS) + 100} and --min-frequency at least 1"
            )
        try:
            extra = vocab.read_extra_tokens(options["extra_tokens"]) if options["extra_tokens"] else []
            written = vocab.train_tokenizers(
                options["corpus"],
                options["out"],
                sizes,
                options["min_frequency"],
                extra,
                show_progress=options["verbosity"] > 0,
            )
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None
        for asked, got, directory in written:
            note = (
                ""
                if got == asked
                else f" (asked for {asked:,}: the corpus has no more pieces seen at least {options['min_frequency']} times "
                f"within the 3,000-character alphabet; a lower --min-frequency or a larger corpus reaches it)"
            )
            self.stdout.write(f"{directory}: {got:,} tokens{note}")
