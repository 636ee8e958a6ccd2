"""The normaliser as it was before it was made fast: the reference for plm.text.

This is plm/text.py's pipeline as of 2026-11-28 (about 4 MB/s): one regular-
expression pass over the chunk per rule, the expensive replacement patterns run
near the matches of cheap hints (_sub_near). plm.text now finds the same places
differently (tables, literal-first patterns, positions carried through the
changes) and must give exactly what this gives:

- tests/plm/test_text.py compares the two on every line of tests/data/plm, and
  on made-up text, under several rule sets;
- benchmarks/corpus.py runs build_corpus with this normaliser as the baseline
  and checks that the corpus is byte for byte the same.

Change this only together with a deliberate change of the rules. Rules come
from plm.text (any object with the same fields works).
"""

import re
import unicodedata
from collections import Counter

import emoji

URL, EMAIL, PHONE, PERSON, LAUGHING = "[URL]", "[EMAIL]", "[PHONE]", "[PERSON]", "{laughing}"
REPLACEMENT_TOKENS = {"url": URL, "email": EMAIL, "phone": PHONE, "person": PERSON, "laughing": LAUGHING}

DOC_SEP = "\x00"
# Placeholders (private-use characters) that stand for the tokens while the rules run.
_HOLD = {name: chr(0xE000 + i) for i, name in enumerate(REPLACEMENT_TOKENS)}
_PROTECT_LITERAL = re.compile("|".join(re.escape(t) for t in REPLACEMENT_TOKENS.values()))
_LITERAL_TO_HOLD = {token: _HOLD[name] for name, token in REPLACEMENT_TOKENS.items()}


# --- the patterns -------------------------------------------------------------

# soynlp's repeatchars_pattern, (\w)\1{3,}, without digits: a price such as 100000원 is not a repeat
REPEATED_LETTER = re.compile(r"([^\W\d])\1{3,}")
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200c\u200e\u200f\ufeff\ue000-\ue00f]")

EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'()\[\]{}\x00]+"
    r"|(?<![\w@.])(?:[a-z0-9-]+\.)+(?:com|net|org|kr|io|me|ly|co|info|shop)(?![\w.])(?:/[^\s\x00]*)?",
    re.IGNORECASE,
)
# Korean phone numbers: mobile 010/011/016-019, area codes 02 and 031-065, 070,
# +82, and the 15xx/16xx/18xx company numbers. Not preceded or followed by
# digits, dots or commas, so that prices (15,000원), dates (2023.01.15,
# 2023-01-15), years (1592-1598) and decimals stay as they are.
PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z.,+\-/])"
    r"(?:(?:\+82[\s.-]?0?|0)(?:1[016789]|2|[3-6][1-5]|70)[\s.)-]?[0-9]{3,4}[\s.-]?[0-9]{4}"
    r"|1(?:5(?:44|66|77|88|99)|6(?:44|61|66|68|70|88)|8(?:33|55|77|99))-[0-9]{4})"
    r"(?![0-9])(?![.,\-][0-9])"
)
# Names: a frequent surname and a two-syllable given name before a title
# (씨, 님, 고객님...), masked names (김*수, 김**, 김OO) and @mentions.
_SURNAMES = "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노"
_TITLES = "씨|님|고객님|선생님|매니저님|원장님|실장님|쌤"
_NOT_NAMES = {"전문가", "정비사", "안내원", "조리사", "이발사", "장난감", "고양이", "오랜만", "이번엔", "한국인"}
PERSON_TITLE_RE = re.compile(
    rf"(?<![가-힣])([{_SURNAMES}][가-힣]{{2}})(?=\s?(?:{_TITLES})(?:께서|께|이|은|의|을|가|는|도|한테|에게|과|와|랑)?(?![가-힣]))"
)
PERSON_MASKED_RE = re.compile(r"(?<![가-힣*])[가-힣](?:\*[가-힣]|\*{2,3}|[○◯]{1,2}|OO)(?![가-힣*])")
PERSON_MENTION_RE = re.compile(r"(?<![\w.@])@[A-Za-z0-9_][A-Za-z0-9_.]{1,29}")
LAUGH_RE = re.compile(
    r"[ㅋㅎ]{2,}|(?<![ㄱ-ㅣ가-힣])[ㅋㅎ](?![ㄱ-ㅣ가-힣])"
    r"|(?<![가-힣])([하히호헤크키캬큭킥흐])\1+(?![가-힣])"
)
# Cheap patterns that find where the expensive ones can match (see _sub_near).
_HINTS = {
    "email": re.compile("@"),
    "url": re.compile(r"://|www\.|\.(?:com|net|org|kr|io|me|ly|co|info|shop)\b", re.IGNORECASE),
    "phone": re.compile(r"0[1-7]|\+82|1[568][0-9]{2}-"),
    "person_title": re.compile(f"{_TITLES}"),
    "person_masked": re.compile(r"[*○◯]|OO"),
    "person_mention": re.compile("@"),
    "laughing": re.compile("[ㅋㅎ]+|([하히호헤크키캬큭킥흐])\\1"),
}
_BOUNDARY = re.compile("[ \n\x00]")
_LAUGH_RUN = re.compile(_HOLD["laughing"] + r"(?:\s*" + _HOLD["laughing"] + ")+")

# Emoji: find candidate runs with one fast character class, let `emoji` decide.
_EMOJI_CHARS = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a-\u23ff\u24c2\u25aa-\u27bf"
    "\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_EMOJI_RUN = re.compile(f"[{_EMOJI_CHARS}][{_EMOJI_CHARS}\u200d\ufe0f\u20e3\U000e0020-\U000e007f]*")
_EMOJI_MODIFIERS = re.compile("[\ufe0f\U0001f3fb-\U0001f3ff]")

SPECIAL_CHARS = (
    "\u00a1-\u00b6\u00b8-\u00bf\u00d7\u00f7\u2100-\u214f\u2190-\u21ff\u2200-\u22ff\u2300-\u23ff"
    "\u2460-\u24ff\u2500-\u27bf\u2b00-\u2bff\u3200-\u32ff"
)
_SPECIAL_RE = re.compile(f"[{SPECIAL_CHARS}]+")
_SPECIAL_TABLE = {"♥": "♡", "❥": "♡", "☆": "★", "✩": "★", "✰": "★", "♬": "♪", "♩": "♪", "♫": "♪"}
_SPECIAL_FOLD = re.compile("[" + "".join(_SPECIAL_TABLE) + "]")
_SPECIAL_RUN = re.compile(f"([{SPECIAL_CHARS}])\\1+")

FOREIGN_RE = re.compile(
    "[\u0370-\u03ff\u0400-\u052f\u0590-\u06ff\u0e00-\u0e7f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)
# Tables and patterns stay twice (also in plm.text): a frozen copy, so a change there cannot move the reference.
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")

_PUNCT_TABLE = {
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},  # full-width ASCII
    "\u3000": " ",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "〝": '"',
    "〞": '"',
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "…": "...",
    "‥": "..",
    "～": "~",
    "〜": "~",
    "∼": "~",
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
}
_PUNCT_FOLD = re.compile("[" + "".join(re.escape(c) for c in _PUNCT_TABLE) + "]")
_DOTS = re.compile(r"\.{4,}")
_PUNCT_RUN = re.compile(r"([!?~,;:^\-_=*+'\"/|])\1{2,}")
_PUNCT_DROP = re.compile(
    "[\"#$%&'()*+\\-/:;<=>@\\[\\\\\\]^_`{|}~\u2010-\u2027\u2030-\u205e\u3001-\u3003\u3008-\u3011\u3014-\u301f]+"
)
_DIGIT = re.compile("[0-9]")
_DIGITS = re.compile("[0-9]+")
_ODD_SPACES = re.compile("[\t\x0b\x0c\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u2028\u2029]")
_SPACE_RUN = re.compile(" {2,}")
# Sentence ends: . ! ? … ~ before a space, a period glued to the next Hangul
# word (시원합니다.잡티), and the common final endings before a space.
_ENDINGS = "니다|네요|어요|아요|에요|해요|세요|군요|지요|예요|워요|져요|까요|여요|돼요|봐요|나요|래요|대요|줘요|와요|았다|었다|였다|했다|한다|된다|는다|아서요|거든요".split(
    "|"
)
# A laugh or a crying ㅠㅠ after an ending belongs to the sentence before it.
# (Spaces are single by then; the pattern starts at a space and looks back,
# first at one character, which is what makes it fast.)
_SENTENCE_END = re.compile(
    " (?<=[다요죠.!?…~] )(?:"
    + "|".join(f"(?<={ending} )" for ending in _ENDINGS)
    + "|(?<=[.!?…~] ))(?=[^\\sㅠㅜ"
    + _HOLD["laughing"]
    + "])"
)
_GLUED_SENTENCE_END = re.compile("([.!?])(?<=[가-힣][.!?])(?=[가-힣])")

_kiwi = None


def normalise_documents(documents, rules):
    """Normalise a chunk of raw documents.

    Returns (documents, counts): each document as a list of sentences (empty
    documents give an empty list), and a Counter of the replacements made.
    """
    counts = Counter()
    block = DOC_SEP.join(doc.replace(DOC_SEP, " ") if DOC_SEP in doc else doc for doc in documents)
    if not unicodedata.is_normalized("NFC", block):
        block = unicodedata.normalize("NFC", block)
    if "\r" in block:
        block = block.replace("\r\n", "\n").replace("\r", "\n")
    block = _CONTROL.sub("", block)
    block = _ODD_SPACES.sub(" ", block)
    block = _PROTECT_LITERAL.sub(lambda m: _LITERAL_TO_HOLD[m.group()], block)
    block = _replace_tokens(block, rules, counts)
    block = _apply_emoji(block, rules.emoji, counts)
    if rules.foreign == "drop":
        block, n = FOREIGN_RE.subn("", block)
        counts["foreign_dropped"] += n
        block = _EMPTY_BRACKETS.sub("", block)
    block = _apply_special(block, rules.special, counts)
    block = _apply_punctuation(block, rules.punctuation)
    if rules.numbers == "normalise":
        block = _DIGIT.sub("0", block)
    elif rules.numbers == "drop":
        block, n = _DIGITS.subn("", block)
        counts["numbers_dropped"] += n
    if rules.repeat:
        block, n = REPEATED_LETTER.subn("\\1" * rules.repeat, block)
        counts["repeats_shortened"] += n
    block = _SPACE_RUN.sub(" ", block)
    if rules.splitter == "rules":
        block = _SENTENCE_END.sub("\n", block)
        block = _GLUED_SENTENCE_END.sub("\\1\n", block)
    block = _restore_tokens(block)
    docs = [[line.strip() for line in doc.split("\n") if line and not line.isspace()] for doc in block.split(DOC_SEP)]
    if rules.splitter == "kiwi":
        docs = [_kiwi_sentences(doc) for doc in docs]
    return docs, counts


def normalise_text(text, rules):
    """One text in, its normalised sentences joined by newlines out (for tests and callers)."""
    docs, _ = normalise_documents([text], rules)
    return "\n".join(docs[0])


def _replace_tokens(block, rules, counts):
    if rules.email:
        block, counts["email"] = _sub_near(block, "email", EMAIL_RE, _HOLD["email"])
    if rules.url:
        block, counts["url"] = _sub_near(block, "url", URL_RE, _HOLD["url"])
    if rules.phone:
        block, counts["phone"] = _sub_near(block, "phone", PHONE_RE, _HOLD["phone"])
    if rules.person:
        before = block.count(_HOLD["person"])
        block, _ = _sub_near(block, "person_title", PERSON_TITLE_RE, _person_or_word)
        block, _ = _sub_near(block, "person_masked", PERSON_MASKED_RE, _HOLD["person"])
        block, _ = _sub_near(block, "person_mention", PERSON_MENTION_RE, _HOLD["person"])
        counts["person"] = block.count(_HOLD["person"]) - before
    if rules.laughing:
        block, counts["laughing"] = _sub_near(block, "laughing", LAUGH_RE, _HOLD["laughing"])
        if counts["laughing"]:
            block = _LAUGH_RUN.sub(_HOLD["laughing"], block)
    return block


def _sub_near(block, hint, pattern, replacement, reach=40):
    """pattern.subn, run only on the stretches of text around matches of a cheap hint.

    A stretch reaches `reach` characters either side of each hint and is then
    widened to whitespace, so no pattern is cut in the middle of a token; the
    result equals pattern.subn over the whole block for patterns (like these)
    that neither span more than `reach` characters nor cross whitespace beyond it.
    """
    pieces, last, total = [], 0, 0
    for match in _HINTS[hint].finditer(block):
        if match.start() < last:
            continue
        start = max(last, _boundary_before(block, match.start() - reach))
        end = _boundary_after(block, match.end() + reach)
        text, n = pattern.subn(replacement, block[start:end])
        pieces += [block[last:start], text]
        total += n
        last = end
    if not pieces:
        return block, 0
    pieces.append(block[last:])
    return "".join(pieces), total


def _boundary_before(block, i, limit=200):
    if i <= 0:
        return 0
    lo = max(0, i - limit)
    found = max(block.rfind(" ", lo, i), block.rfind("\n", lo, i), block.rfind(DOC_SEP, lo, i))
    return found + 1 if found >= 0 else lo


def _boundary_after(block, i, limit=200):
    match = _BOUNDARY.search(block, i, i + limit)
    return match.start() if match else min(len(block), i + limit)


def _restore_tokens(block):
    for name, token in REPLACEMENT_TOKENS.items():
        if _HOLD[name] in block:
            block = block.replace(_HOLD[name], token)
    return block


def _person_or_word(match):
    word = match.group(1)
    return word if word in _NOT_NAMES else _HOLD["person"]


def _apply_emoji(block, mode, counts):
    if mode == "keep":
        return block

    def drop(match):
        run = match.group()
        kept = emoji.replace_emoji(run, "")
        counts["emoji_dropped"] += emoji.emoji_count(run)
        return kept

    def normalise(match):
        run = _EMOJI_MODIFIERS.sub("", match.group())
        found = emoji.emoji_list(run)
        if not found:
            return run
        out, last, previous = [], 0, None
        for item in found:
            if run[last : item["match_start"]]:
                out.append(run[last : item["match_start"]])
                previous = None
            if item["emoji"] != previous:
                out.append(item["emoji"])
            else:
                counts["emoji_shortened"] += 1
            previous, last = item["emoji"], item["match_end"]
        out.append(run[last:])
        return "".join(out)

    return _EMOJI_RUN.sub(drop if mode == "drop" else normalise, block)


def _apply_special(block, mode, counts):
    if mode == "drop":
        block, counts["special_dropped"] = _SPECIAL_RE.subn("", block)
    elif mode == "normalise":
        block = _SPECIAL_FOLD.sub(lambda m: _SPECIAL_TABLE[m.group()], block)
        block = _SPECIAL_RUN.sub(r"\1", block)
    return block


def _apply_punctuation(block, mode):
    if mode == "normalise":
        block = _PUNCT_FOLD.sub(_fold_punctuation, block)
        block = _DOTS.sub("...", block)
        block = _PUNCT_RUN.sub(r"\1\1", block)
    elif mode == "drop":
        block = _PUNCT_DROP.sub(" ", _PUNCT_FOLD.sub(_fold_punctuation, block))
    return block


def _fold_punctuation(match):
    return _PUNCT_TABLE[match.group()]


def _kiwi_sentences(lines):
    global _kiwi
    if _kiwi is None:
        from kiwipiepy import Kiwi

        _kiwi = Kiwi()
    return [sentence.text for line in lines for sentence in _kiwi.split_into_sents(line)]
