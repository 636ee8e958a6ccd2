"""train_tokenizer and evaluate_vocab on small real data (Olive Young reviews,
KorQuAD/KLUE text as the general-domain baseline, NSMC)."""

import csv
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from plm import corpus, vocab

DATA = Path(__file__).resolve().parent.parent / "data" / "plm"
REVIEWS = DATA / "reviews.csv"
GENERAL = DATA / "general.txt"
HELD_OUT = 200  # the last reviews of reviews.csv are kept out of our training corpus
REVIEW_TEXT = "촉촉하고 순해요 {laughing} 나이아신아마이드 들어있어서 좋아요 [PHONE] 로 문의했어요"


@pytest.fixture(scope="module")
def review_split(tmp_path_factory):
    """reviews.csv cut in two: a training part and the held-out reviews."""
    folder = tmp_path_factory.mktemp("reviews")
    with open(REVIEWS, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    for name, part in (("train.csv", body[:-HELD_OUT]), ("held_out.csv", body[-HELD_OUT:])):
        with open(folder / name, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header] + part)
    return folder / "train.csv", folder / "held_out.csv"


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory, review_split):
    """Ours (reviews, two sizes, one extra domain token) and a general one (Wikipedia/news) of the same size."""
    root = tmp_path_factory.mktemp("vocab")
    corpus.build_corpus([corpus.parse_source(f"csv:{review_split[0]}")], root / "review-corpus")
    corpus.build_corpus([corpus.parse_source(f"text:{GENERAL}")], root / "general-corpus")
    extra = root / "extra.txt"
    extra.write_text("# domain tokens\n나이아신아마이드\n\n시카페어\n", encoding="utf-8")
    call_command(
        "train_tokenizer",
        "--corpus",
        str(root / "review-corpus"),
        "--out",
        str(root / "ours"),
        "--vocab-size",
        "3500",
        "5000",
        "--min-frequency",
        "2",
        "--extra-tokens",
        str(extra),
        verbosity=0,
    )
    call_command(
        "train_tokenizer",
        "--corpus",
        str(root / "general-corpus"),
        "--out",
        str(root / "general"),
        "--vocab-size",
        "5000",
        "--min-frequency",
        "2",
        verbosity=0,
    )
    return {"small": root / "ours" / "vocab-3500", "ours": root / "ours" / "vocab-5000", "general": root / "general"}


def test_folder_has_every_file_and_the_special_tokens_in_order(tokenizers):
    folder = tokenizers["ours"]
    assert {p.name for p in folder.iterdir()} >= {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    }
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert lines[: len(vocab.SPECIAL_TOKENS)] == vocab.SPECIAL_TOKENS
    assert lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert lines[len(vocab.SPECIAL_TOKENS) : len(vocab.SPECIAL_TOKENS) + 2] == ["나이아신아마이드", "시카페어"]
    assert len([line for line in lines if line]) == 5000
    assert (
        len([line for line in (tokenizers["small"] / "vocab.txt").read_text(encoding="utf-8").split("\n") if line])
        == 3500
    )


def test_ids_depend_on_the_vocabulary_alone():
    """The trainer numbers tokens of equal rank in hash order, another order every run (in one process
    too); `canonical_ids` renumbers them so that the same vocabulary always gets the same ids, and
    tokenises as the trainer's own numbering does. (Which tokens get in can still differ between runs of
    the trainer on a real corpus: its merges of equal count are ordered the same way.)"""
    import json
    import random

    from tokenizers import BertWordPieceTokenizer, Tokenizer

    texts = [REVIEW_TEXT, "피부가 촉촉해지고 끈적임 없이 흡수돼요", "ㅋㅋㅋ 최고"]
    trainer = BertWordPieceTokenizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False, wordpieces_prefix="##"
    )
    trainer.train_from_iterator(
        texts * 50 + [REVIEW_TEXT[:12]] * 7, vocab_size=300, min_frequency=2, special_tokens=vocab.SPECIAL_TOKENS
    )
    before = [trainer.encode(t).tokens for t in texts]
    # the same vocabulary numbered another way, as another run of the trainer would
    spec = json.loads(trainer._tokenizer.to_str())
    specials = len(vocab.SPECIAL_TOKENS)
    rest = [t for t, i in sorted(spec["model"]["vocab"].items(), key=lambda item: item[1])][specials:]
    random.Random(7).shuffle(rest)
    spec["model"]["vocab"] = {t: i for i, t in enumerate(vocab.SPECIAL_TOKENS + rest)}
    shuffled = BertWordPieceTokenizer()
    shuffled._tokenizer = Tokenizer.from_str(json.dumps(spec))

    one = vocab.canonical_ids(trainer, vocab.SPECIAL_TOKENS)
    other = vocab.canonical_ids(shuffled, vocab.SPECIAL_TOKENS)
    assert one.get_vocab() == other.get_vocab()
    assert [one.encode(t).tokens for t in texts] == before
    ids = one.get_vocab()
    assert [ids[t] for t in vocab.SPECIAL_TOKENS] == list(range(specials))
    ordered = [t for t, _ in sorted(ids.items(), key=lambda item: item[1])][specials:]
    assert ordered == sorted(ordered)


def test_the_test_suites_tiny_tokenizer_is_the_same_every_time(tmp_path):
    """Its small corpus leaves no tie for the trainer to order: with the ids renumbered, every tiny model
    of the test suite starts from the same ids (a planted-attribute test once passed or failed by them)."""
    from tests import tiny

    files = [
        (tiny.train_tokenizer(tmp_path / str(n)), (tmp_path / str(n) / "tokenizer.json").read_bytes()) for n in (0, 1)
    ]
    assert files[0][1] == files[1][1]


@pytest.mark.parametrize("loader", ["AutoTokenizer", "ElectraTokenizerFast"])
def test_transformers_loads_it_cased_and_round_trips_a_korean_review(tokenizers, loader):
    import transformers

    tokenizer = getattr(transformers, loader).from_pretrained(str(tokenizers["ours"]))
    vocab_lines = (tokenizers["ours"] / "vocab.txt").read_text(encoding="utf-8").split("\n")
    tokens = tokenizer.tokenize(REVIEW_TEXT + " SPF")
    assert "[UNK]" not in tokens
    assert "{laughing}" in tokens and "[PHONE]" in tokens and "나이아신아마이드" in tokens
    assert "SPF" in tokens or "S" in tokens  # cased: no lower-casing
    assert any("촉" in t for t in tokens) and not any(
        "\u1100" <= ch <= "\u11ff" for t in tokens for ch in t
    )  # Hangul syllables, not jamo
    ids = tokenizer(REVIEW_TEXT)["input_ids"]
    assert ids[0] == tokenizer.cls_token_id == 2 and ids[-1] == tokenizer.sep_token_id == 3
    assert tokenizer.pad_token_id == 0 and tokenizer.mask_token_id == 4
    assert tokenizer.convert_tokens_to_ids("[PHONE]") == vocab_lines.index("[PHONE]")
    assert tokenizer.decode(ids, skip_special_tokens=False) == f"[CLS] {REVIEW_TEXT} [SEP]"
    # The domain token is ordinary text: decoding without special tokens keeps it.
    assert "나이아신아마이드" in tokenizer.decode(ids, skip_special_tokens=True)
    assert "[PHONE]" not in tokenizer.decode(ids, skip_special_tokens=True)


def test_a_folder_with_only_vocab_txt_is_not_the_same_tokenizer(tokenizers, tmp_path):
    """The trap: vocab.txt alone loads lower-cased with accents stripped, which breaks Hangul into jamo."""
    from transformers import AutoTokenizer, ElectraTokenizerFast

    shutil.copy(tokenizers["ours"] / "vocab.txt", tmp_path / "vocab.txt")
    bare = ElectraTokenizerFast.from_pretrained(str(tmp_path))
    ours = AutoTokenizer.from_pretrained(str(tokenizers["ours"]))
    assert bare.tokenize("촉촉하고 순해요") == ["[UNK]", "[UNK]"]  # NFD jamo are not in the vocabulary
    assert "[UNK]" not in ours.tokenize("촉촉하고 순해요")
    assert bare.tokenize("SPF")[0][0] == "s" and ours.tokenize("SPF")[0][0] == "S"  # lower-cased against cased
    with pytest.raises(ValueError):
        AutoTokenizer.from_pretrained(str(tmp_path))


def test_our_unk_rate_on_reviews_is_below_a_general_vocabularys(tokenizers, review_split):
    held_out = [row["review_text"] for row in corpus.csv_rows(review_split[1]) if row["review_text"].strip()]
    texts = vocab.normalise_for_eval(held_out, "review")
    ours = vocab.unk_rates(vocab.load_tokenizer(tokenizers["ours"]), texts)
    general = vocab.unk_rates(vocab.load_tokenizer(tokenizers["general"]), texts)
    assert general["unk_token_share"] > 0
    assert ours["unk_token_share"] < general["unk_token_share"]
    assert ours["unk_word_share"] < general["unk_word_share"]


def test_unk_rates_count_tokens_and_words():
    from tokenizers import BertWordPieceTokenizer
    from transformers import ElectraTokenizerFast

    wordpiece = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wordpiece.train_from_iterator(
        ["촉촉 해요 촉촉해요"] * 5, vocab_size=100, min_frequency=1, special_tokens=["[PAD]", "[UNK]"]
    )
    tokenizer = ElectraTokenizerFast(tokenizer_object=wordpiece._tokenizer, do_lower_case=False, unk_token="[UNK]")
    # "건성" and "끈적" are unknown (one [UNK] each, two words); "촉촉해요" is known.
    rates = vocab.unk_rates(tokenizer, ["촉촉해요 건성 끈적", "촉촉 해요"])
    assert rates["unk_word_share"] == pytest.approx(2 / 5)
    assert rates["unk_token_share"] == pytest.approx(2 / (len(tokenizer.tokenize("촉촉해요")) + 2 + 2))


def test_term_preservation_and_lengths(tokenizers):
    terms = vocab.read_beauty_terms()
    assert len(terms) >= 150 and {"좁쌀", "여드름", "쿨링", "각질", "바하", "수부지", "속당김", "세라마이드"} <= set(
        terms
    )
    ours = vocab.load_tokenizer(tokenizers["ours"])
    kept, split_terms = vocab.term_preservation(ours, terms)
    assert "나이아신아마이드" not in split_terms  # the extra domain token
    assert kept == pytest.approx(1 - len(split_terms) / len(terms))
    general_kept, _ = vocab.term_preservation(vocab.load_tokenizer(tokenizers["general"]), terms)
    assert kept > general_kept
    stats = vocab.length_stats(ours, ["촉촉해요", REVIEW_TEXT * 20])
    assert stats["tokens_p95"] > 128 and stats["fits_max_seq_length"] == 0.5


def test_evaluate_vocab_end_to_end(tokenizers, tmp_path, capsys):
    out = tmp_path / "eval"
    call_command(
        "evaluate_vocab",
        str(tokenizers["ours"]),
        str(tokenizers["general"]),
        "--reviews",
        str(REVIEWS),
        "--nsmc",
        str(DATA / "nsmc"),
        "--sample",
        "300",
        "--epochs",
        "1",
        "--max-train",
        "200",
        "--max-test",
        "100",
        "--out",
        str(out),
        verbosity=0,
    )
    printed = capsys.readouterr().out
    assert "biLSTM NSMC acc %" in printed and str(tokenizers["general"]) in printed
    with open(out / "vocab_eval.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [row["tokenizer"] for row in rows] == [str(tokenizers["ours"]), str(tokenizers["general"])]
    assert [int(row["vocab_size"]) for row in rows] == [5000, 5000]
    for row in rows:
        assert 0.3 <= float(row["acc_reviews"]) <= 1 and 0.3 <= float(row["acc_nsmc"]) <= 1
        assert float(row["tokens_mean"]) > 1 and 0 <= float(row["terms_kept"]) <= 1
    assert float(rows[0]["unk_token_share"]) < float(rows[1]["unk_token_share"])
    assert (out / "vocab_eval.md").read_text(encoding="utf-8").count("\n") == 4
    assert (out / "vocab_eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_commands_explain_bad_input(tmp_path):
    with pytest.raises(CommandError, match="run build_corpus first|no .txt files"):
        call_command("train_tokenizer", "--corpus", str(tmp_path), "--out", str(tmp_path / "t"), verbosity=0)
    with pytest.raises(CommandError, match="not a tokenizer folder"):
        call_command(
            "evaluate_vocab",
            str(tmp_path),
            "--reviews",
            str(REVIEWS),
            "--no-bilstm",
            "--out",
            str(tmp_path),
            verbosity=0,
        )


def test_split_keeps_the_label_shares_and_loses_nothing():
    texts = [f"리뷰 {i}" for i in range(50)]
    labels = [int(i < 20) for i in range(50)]
    (train_texts, train_labels), (test_texts, test_labels) = vocab.split(texts, labels)
    assert (len(test_labels), sum(test_labels)) == (10, 4) and (len(train_labels), sum(train_labels)) == (40, 16)
    assert sorted(train_texts + test_texts) == sorted(texts)
    assert all(labels[texts.index(t)] == y for t, y in zip(train_texts + test_texts, train_labels + test_labels))


def test_the_plot_draws_one_line_per_family_of_tokenizers():
    def row(path, size, unk):
        return {
            "tokenizer": path,
            "vocab_size": size,
            "terms_kept": 0.5,
            "unk_token_share": unk,
            "unk_word_share": unk,
            "tokens_mean": 50.0,
            "tokens_p95": 90,
        }

    rows = [
        row(f"tok/{family}/vocab-{n}", n, u) for family, u in (("general", 0.01), ("domain", 0.001)) for n in (95, 35)
    ]
    unk = dict(vocab.plot_series(rows))["[UNK] %"]
    by_label = {label: (sizes, values) for label, sizes, values in unk}
    assert by_label["general: [UNK] tokens %"] == ([35, 95], [1.0, 1.0])
    assert by_label["domain: [UNK] tokens %"] == ([35, 95], pytest.approx([0.1, 0.1]))
    # one family: the plain metric names
    single = dict(vocab.plot_series(rows[:2]))["terms kept whole %"]
    assert [label for label, _, _ in single] == [dict(vocab.COLUMNS)["terms_kept"]]
