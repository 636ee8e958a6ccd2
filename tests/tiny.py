"""Tiny ELECTRA models and WordPiece tokenizers, built on the fly from real text.

Nothing is downloaded: the tokenizer is trained on the sample reviews in
data/sample/, the model is initialised at random (with a seed) or trained for
a few steps by the tests that need it.
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_REVIEWS = ROOT / "data" / "sample" / "reviews.jsonl"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sample_reviews(limit=None):
    """The sample reviews as ingest-format dicts."""
    with open(SAMPLE_REVIEWS, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return rows[:limit] if limit else rows


def sample_texts(limit=None):
    return [row["good_text"] for row in sample_reviews(limit)]


def train_tokenizer(directory, texts=None, vocab_size=2000):
    """A cased WordPiece tokenizer saved with tokenizer.json (loads with Hangul intact)."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import ElectraTokenizerFast

    from plm.vocab import canonical_ids

    wordpiece = BertWordPieceTokenizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False, wordpieces_prefix="##"
    )
    wordpiece.train_from_iterator(
        texts or sample_texts(),
        vocab_size=vocab_size,
        min_frequency=2,
        limit_alphabet=3000,
        special_tokens=SPECIAL_TOKENS,
    )
    canonical_ids(wordpiece, SPECIAL_TOKENS)  # the same ids every run: tiny models are reproducible
    tokenizer = ElectraTokenizerFast(tokenizer_object=wordpiece._tokenizer, do_lower_case=False)
    Path(directory).mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def make_classifier(directory, num_labels=2, seed=0, hidden_size=32, layers=2, heads=2, texts=None):
    """A random tiny ElectraForSequenceClassification with its tokenizer, saved as a model directory."""
    import torch
    from transformers import ElectraConfig, ElectraForSequenceClassification

    tokenizer = train_tokenizer(directory, texts)
    torch.manual_seed(seed)
    config = ElectraConfig(
        vocab_size=len(tokenizer),
        embedding_size=hidden_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
        num_labels=num_labels,
        id2label={i: ("used", "unused")[i] if num_labels == 2 else f"label_{i}" for i in range(num_labels)},
        label2id={("used", "unused")[i] if num_labels == 2 else f"label_{i}": i for i in range(num_labels)},
    )
    model = ElectraForSequenceClassification(config)
    model.save_pretrained(str(directory))
    return Path(directory)


def finetune_unused(model_dir, output, *flags, **kwargs):
    """`finetune_classifier unused` on a tiny model: one epoch, 48 tokens, one thread, plus `flags`."""
    from django.core.management import call_command

    call_command(
        "finetune_classifier",
        "unused",
        "--model",
        str(model_dir),
        "--output",
        str(output),
        "--epochs",
        "1",
        "--max-length",
        "48",
        "--threads",
        "1",
        *flags,
        **kwargs,
    )
    return Path(output)
