"""Over 500 lines: training, the folder format and the measures a study compares share one vocabulary model.

WordPiece vocabularies: train them, save them as ELECTRA tokenizer folders, measure them.

A tokenizer folder holds tokenizer.json (the fast tokenizer every part of the
project loads with `AutoTokenizer.from_pretrained(folder)`), tokenizer_config.json
(cased: do_lower_case false), special_tokens_map.json and vocab.txt (for the
original ELECTRA tools). Token ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK], as
in BERT and ELECTRA; the replacement tokens build_corpus writes follow.

`evaluate` compares any number of tokenizer folders on the same data: the share
of [UNK], how many beauty terms stay one token, a small biLSTM classifier on
review sentiment and on NSMC, and tokens per review.
"""

import csv
import json
import math
import random
import re
from bisect import bisect_right
from pathlib import Path

from plm import corpus
from plm.text import EMAIL, LAUGHING, PERSON, PHONE, URL, load_rules, normalise_documents

SPECIAL_TOKENS = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", PHONE, EMAIL, PERSON, LAUGHING, "[BOS]", "[EOS]"]
    + [f"[UNK{i}]" for i in range(10)]
    + [URL]
)
BEAUTY_TERMS = Path(__file__).resolve().parent / "resources" / "beauty_terms.tsv"
MAX_SEQ_LENGTH = 128


# --- training -------------------------------------------------------------------


def corpus_files(paths):
    """The text files to train on: files as given, folders searched for *.txt (shards/ first)."""
    files = []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            root = path / corpus.SHARD_DIR if (path / corpus.SHARD_DIR).is_dir() else path
            files += sorted(p for p in root.rglob("*.txt") if p.is_file())
        else:
            raise ValueError(f"{path} does not exist: give build_corpus's output folder or text files")
    if not files:
        raise ValueError(f"no .txt files in {', '.join(map(str, paths))}: run build_corpus first")
    return files


def read_extra_tokens(path):
    """Domain tokens from a file: one a line; blank lines and lines starting with # are skipped."""
    tokens = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            token = line.strip()
            if not token or token.startswith("#"):
                continue
            if any(ch.isspace() for ch in token):
                raise ValueError(f"{path}:{number}: {token!r} contains a space; give one token a line")
            if token not in tokens and token not in SPECIAL_TOKENS:
                tokens.append(token)
    return tokens


def train_wordpiece(
    files, vocab_size=75_000, min_frequency=50, extra_tokens=(), limit_alphabet=3000, show_progress=True
):
    """A cased BertWordPieceTokenizer trained on the files, special tokens first."""
    from tokenizers import BertWordPieceTokenizer

    wordpiece = BertWordPieceTokenizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False, wordpieces_prefix="##"
    )
    wordpiece.train(
        [str(f) for f in files],
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=SPECIAL_TOKENS + list(extra_tokens),
        wordpieces_prefix="##",
        show_progress=show_progress,
    )
    return canonical_ids(wordpiece, SPECIAL_TOKENS + list(extra_tokens))


def canonical_ids(wordpiece, first):
    """The trained WordPiece renumbered so that its ids depend on its vocabulary alone: the tokens of
    `first` keep their ids (0, 1, ... as the trainer gave them), the rest follow in string order.

    The trainer numbers tokens of equal rank in hash-map order, which changes from one run to the
    next (in one process too), and with them every model built on the ids; a WordPiece tokenises by
    the vocabulary, not the ids, so the order changes nothing else. (Ties at the vocabulary size's
    cut-off can still change which tokens get in: then the vocabularies, not only the ids, differ.)"""
    from tokenizers import Tokenizer

    spec = json.loads(wordpiece._tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    kept = [token for token in first if token in vocab]
    if sorted(vocab[token] for token in kept) != list(range(len(kept))):
        raise RuntimeError("the trainer did not put the special tokens first")
    rest = sorted(token for token in vocab if token not in set(kept))
    spec["model"]["vocab"] = {token: i for i, token in enumerate([*sorted(kept, key=vocab.get), *rest])}
    wordpiece._tokenizer = Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))
    return wordpiece


def save_tokenizer(wordpiece, directory, extra_tokens=()):
    """Save a trained WordPiece as a folder AutoTokenizer and ElectraTokenizerFast load cased."""
    from tokenizers import Tokenizer
    from transformers import ElectraTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Domain tokens are kept whole (they are added tokens) but are ordinary
    # text: not special, so decoding with skip_special_tokens keeps them.
    backend = wordpiece._tokenizer
    if extra_tokens:
        spec = json.loads(backend.to_str())
        extra = set(extra_tokens)
        for added in spec["added_tokens"]:
            if added["content"] in extra:
                added["special"] = False
        backend = Tokenizer.from_str(json.dumps(spec))
    tokenizer = ElectraTokenizerFast(
        tokenizer_object=backend,
        do_lower_case=False,
        strip_accents=False,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        additional_special_tokens=SPECIAL_TOKENS[5:],
        model_max_length=512,
    )
    tokenizer.save_pretrained(str(directory))
    backend.model.save(str(directory))  # vocab.txt, in id order
    special_map = {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "additional_special_tokens": SPECIAL_TOKENS[5:],
    }
    (directory / "special_tokens_map.json").write_text(
        json.dumps(special_map, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    vocab_lines = (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if len([line for line in vocab_lines if line]) != backend.get_vocab_size():
        raise RuntimeError(f"vocab.txt in {directory} does not match tokenizer.json")
    return directory


def train_tokenizers(
    corpus_paths, out_dir, vocab_sizes=(75_000,), min_frequency=50, extra_tokens=(), show_progress=True
):
    """Train one tokenizer per vocabulary size; one size writes OUT, several write OUT/vocab-SIZE each."""
    files = corpus_files(corpus_paths)
    out_dir = Path(out_dir)
    written = []
    for size in vocab_sizes:
        wordpiece = train_wordpiece(files, size, min_frequency, extra_tokens, show_progress=show_progress)
        directory = out_dir if len(vocab_sizes) == 1 else out_dir / f"vocab-{size}"
        save_tokenizer(wordpiece, directory, extra_tokens)
        written.append((size, wordpiece.get_vocab_size(), directory))
    return written


# --- evaluation data --------------------------------------------------------------


def load_tokenizer(directory):
    """The fast tokenizer of a directory, refusing ones that would mangle Korean text.

    The one tokenizer loader of the workshop (vocabulary evaluation, pretraining data, fine-tuning,
    porting). A directory holding only `vocab.txt` is refused: transformers 5 loads it lower-cased
    with accents stripped, which turns Hangul into [UNK].
    """
    from transformers import AutoTokenizer

    directory = Path(directory)
    if not (directory / "tokenizer.json").exists() and not (directory / "vocab.txt").exists():
        raise ValueError(f"{directory} is not a tokenizer folder (no tokenizer.json); train one with train_tokenizer")
    if not (directory / "tokenizer.json").exists():
        raise ValueError(
            f"{directory} has no tokenizer.json: a directory holding only vocab.txt loads lower-cased, with accents "
            "stripped, which turns Hangul into [UNK]. Use a directory written by train_tokenizer (save_pretrained)."
        )
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    for token in ("[CLS]", "[SEP]", "[MASK]"):
        if tokenizer.convert_tokens_to_ids(token) in (None, tokenizer.unk_token_id):
            raise ValueError(f"the tokenizer in {directory} has no {token} token")
    probe = tokenizer.tokenize("한국어 리뷰")
    if tokenizer.unk_token in probe:
        raise ValueError(f"the tokenizer in {directory} turns Hangul into {tokenizer.unk_token}: {probe}")
    return tokenizer


def read_beauty_terms(path=BEAUTY_TERMS):
    with open(path, encoding="utf-8") as f:
        return [row["term"] for row in csv.DictReader(f, delimiter="\t")]


_RATING = re.compile(r"([1-5])(?:\.0)?\s*점?$")


def _rating(row):
    for key in ("rating", "user_rating", "star", "stars", "score"):
        value = row.get(key)
        if value is not None:
            match = _RATING.search(str(value).strip())
            if match:
                return int(match.group(1))
    return None


def read_review_rows(paths):
    """Review rows from JSONL/CSV exports (the formats build_corpus reads)."""
    for path in paths:
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".json"):
            yield from corpus._jsonl_rows(path)
        elif suffix in (".csv", ".tsv"):
            yield from corpus.csv_rows(path)
        else:
            raise ValueError(f"{path}: review data must be .jsonl, .json, .csv or .tsv")


def review_data(paths, seed=0):
    """(texts, sentiment) from review exports.

    sentiment is (texts, labels): good-point text (1) against bad-point text (0)
    where rows have both, otherwise ratings 4-5 (1) against 1-2 (0); the larger
    class is sampled down to the smaller so accuracy is read against 50%.
    """
    texts, good_bad, rated = [], [], []
    for row in read_review_rows(paths):
        text = corpus._join_fields(row, corpus.TEXT_FIELDS)
        if not text:
            continue
        texts.append(text)
        good, bad = (row.get("good_text") or "").strip(), (row.get("bad_text") or "").strip()
        if good and bad:
            good_bad += [(good, 1), (bad, 0)]
        rating = _rating(row)
        if rating in (1, 2, 4, 5):
            rated.append((text, int(rating >= 4)))
    pairs = good_bad if len(good_bad) >= 200 else rated
    return texts, _balanced(pairs, seed)


def _balanced(pairs, seed):
    rng = random.Random(seed)
    positive = [p for p in pairs if p[1] == 1]
    negative = [p for p in pairs if p[1] == 0]
    n = min(len(positive), len(negative))
    chosen = rng.sample(positive, n) + rng.sample(negative, n)
    rng.shuffle(chosen)
    return [t for t, _ in chosen], [label for _, label in chosen]


def nsmc_data(directory, limit_train=None, limit_test=None):
    """NSMC's ratings_train.txt / ratings_test.txt as ((texts, labels), (texts, labels))."""
    directory = Path(directory)

    def read(name, limit):
        path = directory / name
        if not path.is_file():
            raise ValueError(f"{path} is missing: --nsmc takes the folder with ratings_train.txt and ratings_test.txt")
        texts, labels = [], []
        for row in corpus.csv_rows(path):
            if row.get("document"):
                texts.append(row["document"])
                labels.append(int(row["label"]))
            if limit and len(texts) >= limit:
                break
        return texts, labels

    return read("ratings_train.txt", limit_train), read("ratings_test.txt", limit_test)


def split(texts, labels, test_share=0.2):
    """Train and test parts with the same share of each label in both (the order within a label is kept)."""
    train, test = ([], []), ([], [])
    for label in sorted(set(labels)):
        members = [text for text, y in zip(texts, labels) if y == label]
        cut = int(round(len(members) * (1 - test_share)))
        for part, chosen in ((train, members[:cut]), (test, members[cut:])):
            part[0].extend(chosen)
            part[1].extend([label] * len(chosen))
    order = random.Random(len(texts)).sample(range(len(train[0])), len(train[0]))
    train = ([train[0][i] for i in order], [train[1][i] for i in order])
    return train, test


def normalise_for_eval(texts, rules_spec):
    """The texts as build_corpus would write them (sentences joined by spaces), or unchanged for 'none'."""
    if rules_spec == "none":
        return list(texts)
    docs, _ = normalise_documents(list(texts), load_rules(rules_spec))
    return [" ".join(sentences) for sentences in docs]


# --- the metrics ----------------------------------------------------------------


def unk_rates(tokenizer, texts):
    """Share of tokens that are [UNK], and share of whitespace words that contain one."""
    unk_id = tokenizer.unk_token_id
    tokens = unk_tokens = words = unk_words = 0
    for text, encoding in zip(texts, tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)):
        starts = [m.start() for m in re.finditer(r"\S+", text)]
        words += len(starts)
        tokens += len(encoding.ids)
        hit = {
            bisect_right(starts, start)
            for token_id, (start, _) in zip(encoding.ids, encoding.offsets)
            if token_id == unk_id
        }
        unk_tokens += sum(1 for token_id in encoding.ids if token_id == unk_id)
        unk_words += len(hit)
    return {"unk_token_share": unk_tokens / max(tokens, 1), "unk_word_share": unk_words / max(words, 1)}


def term_preservation(tokenizer, terms):
    """Share of terms that tokenise to exactly one token; and the terms that do not."""
    split_terms = [term for term in terms if len(tokenizer.tokenize(term)) != 1]
    return 1 - len(split_terms) / max(len(terms), 1), split_terms


def length_stats(tokenizer, texts, max_seq_length=MAX_SEQ_LENGTH):
    """Tokens per text with [CLS] and [SEP]: mean, 95th percentile, share that fits max_seq_length."""
    lengths = sorted(len(e.ids) for e in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=True))
    if not lengths:
        return {"tokens_mean": 0.0, "tokens_p95": 0, "fits_max_seq_length": 0.0}
    p95 = lengths[min(len(lengths) - 1, math.ceil(0.95 * len(lengths)) - 1)]
    return {
        "tokens_mean": sum(lengths) / len(lengths),
        "tokens_p95": p95,
        "fits_max_seq_length": sum(1 for n in lengths if n <= max_seq_length) / len(lengths),
    }


def bilstm_accuracy(tokenizer, train, test, epochs=2, batch_size=64, max_seq_length=MAX_SEQ_LENGTH, seed=0):
    """Test accuracy of Embedding(V,64) -> BiLSTM(64) -> Dense(64) -> Dense(1), trained the same way for every tokenizer."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    # Every text is cut at max_seq_length; padding goes only to the longest
    # text (masked), which changes nothing but the time it takes.
    encoded = {
        part: tokenizer(list(data[0]), truncation=True, max_length=max_seq_length)["input_ids"]
        for part, data in (("train", train), ("test", test))
    }
    length = max(len(ids) for part in encoded.values() for ids in part)

    def padded(part):
        return np.asarray(
            [ids + [tokenizer.pad_token_id] * (length - len(ids)) for ids in encoded[part]], dtype="int32"
        )

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((length,), dtype="int32"),
            keras.layers.Embedding(len(tokenizer), 64, mask_zero=tokenizer.pad_token_id == 0),
            keras.layers.Bidirectional(keras.layers.LSTM(64)),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(padded("train"), np.asarray(train[1], dtype="float32"), epochs=epochs, batch_size=batch_size, verbose=0)
    _, accuracy = model.evaluate(padded("test"), np.asarray(test[1], dtype="float32"), verbose=0)
    keras.backend.clear_session()
    return float(accuracy)


# --- the comparison ---------------------------------------------------------------

COLUMNS = [
    ("tokenizer", "tokenizer"),
    ("vocab_size", "vocab size"),
    ("unk_token_share", "[UNK] tokens %"),
    ("unk_word_share", "words with [UNK] %"),
    ("terms_kept", "terms kept whole %"),
    ("tokens_mean", "tokens/review mean"),
    ("tokens_p95", "tokens/review p95"),
    ("fits_max_seq_length", "fits 128 %"),
    ("acc_reviews", "biLSTM reviews acc %"),
    ("acc_nsmc", "biLSTM NSMC acc %"),
]
PERCENT = {"unk_token_share", "unk_word_share", "terms_kept", "fits_max_seq_length", "acc_reviews", "acc_nsmc"}


def evaluate(
    tokenizer_dirs,
    review_paths,
    nsmc_dir=None,
    terms=None,
    sample_size=2000,
    rules="review",
    epochs=2,
    batch_size=64,
    max_train=20_000,
    max_test=5_000,
    seed=0,
    bilstm=True,
    progress=None,
):
    """One row of metrics per tokenizer folder, all measured on the same data."""
    terms = read_beauty_terms() if terms is None else terms
    texts, (sentiment_texts, sentiment_labels) = review_data(review_paths, seed)
    rng = random.Random(seed)
    sample = rng.sample(texts, min(sample_size, len(texts)))
    sample = normalise_for_eval(sample, rules)
    tasks = {}
    if bilstm and sentiment_texts:
        train, test = split(normalise_for_eval(sentiment_texts, rules), sentiment_labels)
        tasks["acc_reviews"] = ((train[0][:max_train], train[1][:max_train]), (test[0][:max_test], test[1][:max_test]))
    if bilstm and nsmc_dir:
        train, test = nsmc_data(nsmc_dir, max_train, max_test)
        tasks["acc_nsmc"] = (
            (normalise_for_eval(train[0], rules), train[1]),
            (normalise_for_eval(test[0], rules), test[1]),
        )
    rows = []
    for directory in tokenizer_dirs:
        tokenizer = load_tokenizer(directory)
        kept, _ = term_preservation(tokenizer, terms)
        row = {"tokenizer": str(directory), "vocab_size": len(tokenizer), "terms_kept": kept}
        row.update(unk_rates(tokenizer, sample))
        row.update(length_stats(tokenizer, sample))
        for name, (train, test) in tasks.items():
            row[name] = bilstm_accuracy(tokenizer, train, test, epochs=epochs, batch_size=batch_size, seed=seed)
        rows.append(row)
        if progress:
            progress(1)
    return rows, {"reviews_sampled": len(sample), "terms": len(terms), **{k: len(v[0][0]) for k, v in tasks.items()}}


def format_value(key, value):
    if value is None:
        return "-"
    if key in PERCENT:
        return f"{100 * value:.2f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def markdown_table(rows):
    present = [(key, title) for key, title in COLUMNS if any(key in row for row in rows)]
    lines = ["| " + " | ".join(title for _, title in present) + " |", "|" + "---|" * len(present)]
    for row in rows:
        lines.append("| " + " | ".join(format_value(key, row.get(key)) for key, _ in present) + " |")
    return "\n".join(lines) + "\n"


def write_report(rows, out_dir):
    """vocab_eval.md, vocab_eval.csv and vocab_eval.png in out_dir; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv_path, png = out_dir / "vocab_eval.md", out_dir / "vocab_eval.csv", out_dir / "vocab_eval.png"
    md.write_text(markdown_table(rows), encoding="utf-8")
    keys = [key for key, _ in COLUMNS if any(key in row for row in rows)]
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, png)
    return md, csv_path, png


def plot_series(rows):
    """[(panel title, [(label, sizes, values)])]: each metric against vocabulary size, one line per
    metric and per family of tokenizers (the folder that holds them: general/vocab-35000 and
    domain/vocab-35000 are two families), each family sorted by size."""
    families = {}
    for row in sorted(rows, key=lambda row: row["vocab_size"]):
        families.setdefault(Path(row["tokenizer"]).parent.name, []).append(row)
    panels = [
        ("biLSTM test accuracy %", [k for k in ("acc_reviews", "acc_nsmc") if k in rows[0]]),
        ("[UNK] %", ["unk_token_share", "unk_word_share"]),
        ("terms kept whole %", ["terms_kept"]),
        ("tokens per review", ["tokens_mean", "tokens_p95"]),
    ]
    labels = dict(COLUMNS)
    series = []
    for title, keys in panels:
        lines = []
        for family, members in families.items():
            for key in keys:
                scale = 100 if key in PERCENT else 1
                label = labels[key] if len(families) == 1 else f"{family}: {labels[key]}"
                lines.append((label, [r["vocab_size"] for r in members], [scale * r[key] for r in members]))
        series.append((title, lines))
    return series


def plot(rows, path):
    """`plot_series` as a 2 x 2 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (title, lines) in zip(axes.flat, plot_series(rows)):
        for label, sizes, values in lines:
            ax.plot(sizes, values, marker="o", label=label)
        ax.set_title(title)
        ax.set_xlabel("vocabulary size")
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
