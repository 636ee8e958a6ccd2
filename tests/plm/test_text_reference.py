"""The fast normaliser (plm.text) gives exactly what the plain one gives.

tests/plm/helper_reference_text.py is the normaliser as it was before it was made fast
(one regular-expression pass per rule over the chunk). Every line of
tests/data/plm goes through both under several rule sets; so does made-up text
full of the characters the rules act on, against the reference with each
replacement pattern run over the whole text (plm.text's definition: the
reference's hint windows are cut at 200 characters without a space, where a
long URL or a phone number late in a window could be missed). A speed change
that alters any output fails here.
"""

import dataclasses
import random
import re
from pathlib import Path

import numpy as np
import pytest

from plm import corpus, text
from tests.plm import helper_reference_text as reference_text

DATA = Path(__file__).resolve().parent.parent / "data" / "plm"
REVIEW, PUBLIC = text.load_rules("review"), text.load_rules("public")
CHANGES = [
    {},
    {"emoji": "keep", "special": "keep", "punctuation": "keep", "foreign": "keep"},
    {"emoji": "drop", "special": "drop", "punctuation": "drop", "foreign": "drop"},
    {"numbers": "normalise", "repeat": 1},
    {"numbers": "drop", "repeat": 3},
    {"repeat": 0, "splitter": "lines"},
    {"url": False, "email": False, "phone": False, "person": False, "laughing": False},
]
VARIANTS = [dataclasses.replace(rules, **change) for rules in (REVIEW, PUBLIC) for change in CHANGES]
IDS = [f"{rules.name}-{i}" for rules in (REVIEW, PUBLIC) for i in range(len(CHANGES))]


def load_documents():
    sources = [
        f"csv:{DATA / 'reviews.csv'}",
        f"text:{DATA / 'general.txt'}",
        f"csv:{DATA / 'nsmc' / 'ratings_train.txt'}",
        f"csv:{DATA / 'nsmc' / 'ratings_test.txt'}",
    ]
    return [doc for spec in sources for doc in corpus.read_documents(corpus.parse_source(spec))]


DOCUMENTS = load_documents()


def whole_text(block, hint, pattern, replacement):
    return pattern.subn(replacement, block)


@pytest.mark.parametrize("rules", VARIANTS, ids=IDS)
def test_same_as_the_reference_on_every_line_of_the_test_data(rules):
    for start in range(0, len(DOCUMENTS), 1000):
        chunk = DOCUMENTS[start : start + 1000]
        assert text.normalise_documents(chunk, rules) == reference_text.normalise_documents(chunk, rules)


PIECES = [
    "ㅋ",
    "ㅎ",
    "ㅋㅋ",
    "ㅎㅎㅎ",
    "하하",
    "하하하",
    "히히",
    "크크",
    "흐흐흐",
    "호호바",
    "하",
    "ㅠ",
    "ㅠㅠㅠㅠ",
    "ㅜㅜ",
    "다",
    "요",
    "니다",
    "어요",
    "아서요",
    "거든요",
    "했다",
    "죠",
    ".",
    "!",
    "?",
    "…",
    "~",
    "..",
    "....",
    "!!!",
    "???",
    "~~~~",
    ",,,",
    "___",
    "____",
    " ",
    "  ",
    "\n",
    "\n\n",
    " \n ",
    "\r\n",
    "\r",
    "\t",
    "\u00a0",
    "\u3000",
    "\u2028",
    "\x85",
    "\x0b",
    "\x1c",
    "\u200b",
    "\ufeff",
    "\x00",
    "\ue000",
    "\ue004",
    "[URL]",
    "[PHONE]",
    "{laughing}",
    "[PERSON]",
    "[EMAIL]",
    "[",
    "]",
    "{",
    "(",
    ")",
    "()",
    "( )",
    "[ ]",
    "(\n)",
    "010-1234-5678",
    "01012345678",
    "02-788-4649",
    "031 123 4567",
    "+82-10-1234-5678",
    "1588-1234",
    "15,000원",
    "2023.01.15",
    "0",
    "1",
    "+",
    "a@b.com",
    "test.user@mail.co.kr",
    "@beauty_lover",
    "@",
    "www.naver.com",
    "WwW.x.kr",
    "https://a.b/c?d=1",
    "oliveyoung.co.kr",
    "x.com/a",
    "e.g",
    ".Kr",
    ".\u212ar",
    "\u017fhop",
    "김민지",
    "님",
    " 님",
    "씨",
    "고객님",
    "선생님",
    "매니저님",
    "쌤",
    "전문가",
    "김*수",
    "김**",
    "김OO",
    "이○○",
    "O",
    "*",
    "😀",
    "😀😀",
    "👍🏻",
    "👍🏽",
    "❤️",
    "♥",
    "♡",
    "♡♡",
    "☆",
    "★★★",
    "♬",
    "©",
    "™",
    "↔",
    "①",
    "※",
    "→",
    "世宗",
    "漢字",
    "ひらがな",
    "Привет",
    "αβγ",
    "e\u0301",
    "\u1100\u1161",
    "\u1100\u1161\u11a8",
    "Å",
    "\u212b",
    "ﬁ",
    "“",
    "”",
    "‘",
    "’",
    "—",
    "－",
    "！",
    "ＡＢＣ",
    "＠",
    "０１０",
    "″",
    "‥",
    "좋아요",
    "정말",
    "가",
    "나",
    "촉촉해요",
    "있습니다",
    "그래서",
    "a",
    "Dr.Jart",
    "SPF50+",
    "PA++++",
    "0.5ml",
    "100000",
    "ㅋ하",
    "가ㅋ",
]


@pytest.mark.parametrize("seed", range(3))
def test_same_as_whole_text_passes_on_made_up_text(seed, monkeypatch):
    monkeypatch.setattr(reference_text, "_sub_near", whole_text)
    rnd = random.Random(seed)
    for _ in range(8):
        docs = ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 40))) for _ in range(rnd.randint(1, 40))]
        for rules in VARIANTS:
            assert text.normalise_documents(docs, rules) == reference_text.normalise_documents(docs, rules), docs


def test_long_urls_and_late_phone_numbers_are_replaced_whole():
    # The reference's hint windows miss these (see above); plm.text does what one pass over the text does.
    url = "http://maria.catholic.or.kr/sa_ho/list/list.asp?" + "&".join(f"ctxt{i}=" for i in range(60))
    assert text.normalise_text(f"시비걸지마라{url} 끝", REVIEW) == "시비걸지마라[URL] 끝"
    assert text.normalise_text("연락처 01012345678 매장 전화번호는 알려드린 대로 031 123 4567 입니다", REVIEW) == (
        "연락처 [PHONE] 매장 전화번호는 알려드린 대로 [PHONE] 입니다"
    )


def test_build_corpus_is_byte_for_byte_the_same_with_the_reference(tmp_path, monkeypatch):
    sources = [corpus.parse_source(f"csv:{DATA / 'reviews.csv'}"), corpus.parse_source(f"text:{DATA / 'general.txt'}")]
    ours = corpus.build_corpus(sources, tmp_path / "ours", chunk_chars=30_000, shard_mb=0.1)

    def reference_chunk(documents, rules):
        docs, counts = reference_text.normalise_documents(documents, rules)
        return ["\n".join(sentences) if sentences else None for sentences in docs], counts

    monkeypatch.setattr(corpus, "normalise_chunk", reference_chunk)
    theirs = corpus.build_corpus(sources, tmp_path / "theirs", chunk_chars=30_000, shard_mb=0.1)
    for stats in (ours, theirs):
        del stats["seconds"], stats["mb_per_second"]
    assert ours == theirs and len(ours["shards"]) > 1
    for name in ours["shards"]:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes()


def test_shards_are_cut_as_one_document_at_a_time(tmp_path):
    rnd = random.Random(0)
    docs = [
        "\n".join("가나다 abc"[: rnd.randint(1, 7)] * rnd.randint(1, 30) for _ in range(rnd.randint(1, 4)))
        for _ in range(500)
    ]
    one = corpus.ShardWriter(tmp_path / "one", 2000)
    for doc in docs:  # one at a time: a new shard before a document once the shard holds 2000 bytes
        data = (doc + "\n\n").encode()
        if one.file is None or one.written >= one.shard_bytes:
            one._next_shard()
        one.file.write(data)
        one.written += len(data)
    one.close()
    many = corpus.ShardWriter(tmp_path / "many", 2000)
    start = 0
    while start < len(docs):
        batch = docs[start : start + rnd.randint(1, 40)]
        data = [(doc + "\n\n").encode() for doc in batch]
        many.write_many(b"".join(data), np.array([len(d) for d in data]))
        start += len(batch)
    many.close()
    assert len(one.paths) > 10
    assert [p.read_bytes() for p in one.paths] == [p.read_bytes() for p in many.paths]


def test_nfc_table_matches_this_pythons_unicode_data():
    assert text.read_nfc_unsafe() == text.derive_nfc_unsafe()


def code_points(pattern, flags=0):
    """The code points that a one-character pattern matches."""
    every = "".join(map(chr, range(0x110000)))
    return np.array([m.start() for m in re.finditer(pattern, every, flags)], dtype=np.int64)


@pytest.mark.parametrize(
    "table, bit, pattern",
    [
        ("_CHAR_TABLE", "_CONTROL_CHAR", lambda: text._CONTROL.pattern),
        ("_CHAR_TABLE", "_ODD_SPACE", lambda: text._ODD_SPACES.pattern),
        ("_PLACE_TABLE", "_EMOJI_PLACE", lambda: f"[{text._EMOJI_CHARS}{text._EMOJI_JOINERS}]"),
        ("_PLACE_TABLE", "_FOREIGN_PLACE", lambda: text.FOREIGN_RE.pattern[:-1]),
        ("_PLACE_TABLE", "_SPECIAL_PLACE", lambda: text._SPECIAL_RE.pattern[:-1]),
        ("_PLACE_TABLE", "_PUNCT_FOLD_PLACE", lambda: text._PUNCT_FOLD.pattern),
    ],
)
def test_character_tables_hold_the_patterns_classes(table, bit, pattern):
    marked = np.flatnonzero((getattr(text, table) & getattr(text, bit)) != 0)
    assert np.array_equal(marked, code_points(pattern()))


def test_the_other_character_sets_match_the_patterns():
    letters = set(code_points("[a-z]", re.IGNORECASE).tolist())  # URL_RE's letters, top-level domains included
    assert set(text._URL_TLD_LETTERS.tolist()) == letters
    assert text._WHITESPACE_POINTS == set(code_points(r"\s").tolist())
    assert set(text._PUNCT_RUN_CHARS) == {c for c in map(chr, range(0x10000)) if text._PUNCT_RUN.fullmatch(c * 3)}


def test_two_laugh_passes_are_laugh_re():
    for doc in DOCUMENTS + list(PIECES):
        jamo = text._LAUGH_JAMO.sub("\ue004", doc)
        assert text._LAUGH_SYLLABLE.sub("\ue004", jamo) == text.LAUGH_RE.sub("\ue004", doc)


def test_sentence_ends_are_the_sentence_patterns():
    for doc in DOCUMENTS:
        line = re.sub(r"\s+", " ", doc)
        expected = text._GLUED_SENTENCE_END.sub("\\1\n", text._SENTENCE_END.sub("\n", line)).strip()
        assert text._finish(text._code_points(line), True).strip() == expected


def test_runs_are_the_run_patterns():
    from tests.plm.helper_reference_text import REPEATED_LETTER as letters

    for doc in DOCUMENTS[::3] + PIECES + ["가!!!!!!나....다___라   마ㅠㅠㅠㅠㅠ바 000000 ______ 사"]:
        dotted = text._PUNCT_RUN.sub(r"\1\1", text._DOTS.sub("...", doc))
        for repeat in (0, 1, 2):
            expected = text._SPACE_RUN.sub(" ", letters.sub("\\1" * repeat, dotted) if repeat else dotted)
            points, _ = text._shorten_runs(doc, repeat, True)
            assert points.tobytes().decode("utf-32-le") == expected
