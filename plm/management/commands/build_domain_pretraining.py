"""manage.py build_domain_pretraining: the beauty pool as packed token ids for `plm.electra.torch_pretrain`.

The unlabelled pool is `build_unused_model`'s (the shared beauty reviews less every test-split product
and every labelled text, `plm.semisupervised.build_pool`), read as the shipped classifier reads it
(Kiwi morphemes by default), tokenised with the vocabulary `build_unused_model` trains on that pool
(the same command and settings, or `--tokenizer DIR`), and packed into rows of `--max-length` tokens.
`--general nsmc` adds NSMC's movie reviews (CC0) after the pool, for volume.

The output folder holds all that a GPU machine needs beside `plm/electra/torch_pretrain.py`:
`sequences.npy` (int32 [rows, max_length]), the tokenizer files and `pretraining.json` (the model shape,
the special token ids, what the text was read as, and the corpus counts).
"""

import json
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from plm.electra.torch_pretrain import TOKENIZER_FILES, pack
from plm.management.commands.build_unused_model import pool_tokenizer


class Command(BaseCommand):
    help = (
        "Pack the unlabelled beauty pool (optionally with NSMC) into token-id rows for replaced-token-detection "
        "pretraining in PyTorch (python -m plm.electra.torch_pretrain)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", default=str(Path(settings.VAR_DIR) / "domain-pretraining"))
        parser.add_argument(
            "--tokenizer",
            metavar="DIR",
            help="use this tokenizer (a model or tokenizer folder) instead of training one on the pool",
        )
        parser.add_argument("--vocab-size", type=int, default=16000)
        parser.add_argument("--preprocess", choices=["kiwi-morphemes", "none"], default="kiwi-morphemes")
        parser.add_argument("--general", choices=["none", "nsmc"], default="none")
        parser.add_argument("--max-length", type=int, default=128)
        parser.add_argument("--max-unlabelled", type=int, default=0, metavar="N", help="a random N of the pool")
        parser.add_argument("--max-general", type=int, default=0, metavar="N", help="the first N general texts")
        parser.add_argument("--hidden-size", type=int, default=128)
        parser.add_argument("--layers", type=int, default=4)
        parser.add_argument("--heads", type=int, default=0, help="attention heads (default: hidden size / 64)")
        parser.add_argument("--embedding-size", type=int, default=128)
        parser.add_argument("--generator-fraction", type=float, default=0.5, help="generator hidden / discriminator's")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, **options):
        from tokenizers import Tokenizer

        from plm import datasets, semisupervised
        from plm.beauty import norm_space
        from plm.morphemes import preprocess

        if options["max_length"] < 8:
            raise CommandError(f"--max-length {options['max_length']}: at least 8")
        started = time.perf_counter()
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        try:
            data = datasets.load_unused()
            pool, info = semisupervised.build_pool(
                "shared", data, options["max_unlabelled"] or None, seed=options["seed"]
            )
        except (datasets.DatasetError, semisupervised.PoolError) as exc:
            raise CommandError(str(exc)) from None
        kind = "" if options["preprocess"] == "none" else options["preprocess"]
        pool_texts = preprocess(kind, [norm_space(r["text"]) for r in pool])
        left_out = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in info["dropped"].items() if n)
        self.stdout.write(f"pool: {len(pool_texts)} unlabelled reviews (left out: {left_out})")
        general = []
        if options["general"] == "nsmc":
            from plm.vocab import nsmc_data

            (train, _), (test, _) = nsmc_data(datasets.shared_data_dir() / "nsmc")
            texts = [t for t in train + test if t.strip()]
            if options["max_general"]:
                texts = texts[: options["max_general"]]
            general = preprocess(kind, [norm_space(t) for t in texts])
            self.stdout.write(f"general: {len(general)} NSMC reviews")

        for name in TOKENIZER_FILES:
            (out / name).unlink(missing_ok=True)
        if options["tokenizer"]:
            source = Path(options["tokenizer"])
            if not (source / "tokenizer.json").is_file():
                raise CommandError(f"--tokenizer {source}: no tokenizer.json")
            for name in TOKENIZER_FILES:
                if (source / name).is_file():
                    shutil.copy(source / name, out / name)
        else:  # build_unused_model's vocabulary: the pool as the model reads it, the same trainer and settings
            corpus = out / "pool.txt"
            streams = {"stdout": self.stdout, "stderr": self.stderr}
            pool_tokenizer(pool_texts, corpus, out / "tokenizer", options["vocab_size"], **streams)
            for name in TOKENIZER_FILES:
                if (out / "tokenizer" / name).is_file():
                    shutil.copy(out / "tokenizer" / name, out / name)
            shutil.rmtree(out / "tokenizer")
            corpus.unlink()
        tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
        special = {name: tokenizer.token_to_id(f"[{name.upper()}]") for name in ("pad", "cls", "sep", "mask")}
        if None in special.values():
            raise CommandError(f"the tokenizer lacks a special token: {special}")
        encoded = [e.ids for e in tokenizer.encode_batch(pool_texts + general, add_special_tokens=False)]
        rows = pack(encoded, options["max_length"], special["cls"], special["sep"], special["pad"])
        import numpy as np

        if tokenizer.get_vocab_size() <= np.iinfo(np.uint16).max + 1:  # half the bytes to carry to a GPU machine
            rows = rows.astype(np.uint16)
        np.save(out / "sequences.npy", rows)
        hidden = options["hidden_size"]
        recipe = {
            "vocab_size": tokenizer.get_vocab_size(),
            "embedding_size": options["embedding_size"],
            "hidden_size": hidden,
            "num_hidden_layers": options["layers"],
            "num_attention_heads": options["heads"] or max(1, hidden // 64),
            "intermediate_size": hidden * 4,
            "max_position_embeddings": 512,
            "generator_hidden_fraction": options["generator_fraction"],
            "mask_prob": 0.15,
            "pad_token_id": special["pad"],
            "cls_token_id": special["cls"],
            "sep_token_id": special["sep"],
            "mask_token_id": special["mask"],
            "preprocess": kind or None,
            "corpus": {
                "pool_reviews": len(pool_texts),
                "pool_left_out": info["dropped"],
                "general": options["general"],
                "general_texts": len(general),
                "tokens": int(sum(len(e) for e in encoded)),
                "rows": int(rows.shape[0]),
                "max_length": options["max_length"],
                "tokenizer": options["tokenizer"] or f"train_tokenizer --vocab-size {options['vocab_size']}",
            },
        }
        (out / "pretraining.json").write_text(json.dumps(recipe, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        self.stdout.write(
            self.style.SUCCESS(
                f"{out}: {rows.shape[0]} rows of {options['max_length']} tokens ({recipe['corpus']['tokens']} tokens, "
                f"vocabulary {recipe['vocab_size']}) in {time.perf_counter() - started:.0f} s"
            )
        )
