"""Over 500 lines: the chunk pipeline's stages share private patterns, code-point tables and token placeholders.

Text normalisation for the pretraining corpus: rules per source, replacement tokens.

A source's text passes through one `Rules` (a named profile, `public` or
`review`, optionally overridden by a small TOML file). Things that carry little
meaning but much variety become a single token:

    URLs -> [URL]   e-mail addresses -> [EMAIL]   phone numbers -> [PHONE]
    person names (where detectable) -> [PERSON]   ㅋㅋ / ㅎㅎ / 하하하 -> {laughing}

Numbers, punctuation, special symbols, emoji and foreign scripts are kept,
normalised or dropped as the rules say; long runs of one letter are shortened
with soynlp's repeat rule (its pattern, inlined); emoji are recognised with the `emoji` package.

Speed matters (a corpus is gigabytes), so `normalise_chunk` works on a whole
chunk of documents at once, joined with NUL, and nothing makes the regular-
expression engine try every character of the chunk. One numpy table lookup over
the chunk's code points finds the places where rules can act (an @, a title such
as 님, a ㅋ, a doubled laugh syllable, a digit that can start a phone number, a
dot before a letter, emoji, foreign scripts, symbols...); each replacement
pattern is tried at those places only, and the places are carried through each
rule's changes. The character rules (emoji, foreign scripts, symbols, the
punctuation fold) run on the stretches of such characters alone, cached. Runs of
one character, sentence ends, tokens and line breaks are worked out on the code
points, and the chunk is decoded once. The result is exactly that of the plain
normaliser (one regular-expression pass per rule: tests/plm/helper_reference_text.py),
which tests/plm/test_text_reference.py checks on every line of tests/data/plm
and on made-up text. While the rules run, replacement tokens are held as
private-use characters so that later rules (punctuation, symbols) cannot break
them.
"""

import dataclasses
import re
import tomllib
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

PROFILE_DIR = Path(__file__).resolve().parent / "resources" / "profiles"
PROFILES = ("public", "review")

# The tokens written into the corpus; train_tokenizer makes each a special token.
URL, EMAIL, PHONE, PERSON, LAUGHING = "[URL]", "[EMAIL]", "[PHONE]", "[PERSON]", "{laughing}"
REPLACEMENT_TOKENS = {"url": URL, "email": EMAIL, "phone": PHONE, "person": PERSON, "laughing": LAUGHING}

DOC_SEP = "\x00"
# Placeholders (private-use characters) that stand for the tokens while the rules run.
_HOLD = {name: chr(0xE000 + i) for i, name in enumerate(REPLACEMENT_TOKENS)}
_LITERAL_TO_HOLD = {token: _HOLD[name] for name, token in REPLACEMENT_TOKENS.items()}

CHOICES = {
    "numbers": ("keep", "normalise", "drop"),
    "punctuation": ("keep", "normalise", "drop"),
    "special": ("keep", "normalise", "drop"),
    "emoji": ("keep", "normalise", "drop"),
    "foreign": ("keep", "drop"),
    "splitter": ("rules", "kiwi", "lines"),
    "documents": ("blank-line", "line", "file"),
}


@dataclasses.dataclass(frozen=True)
class Rules:
    """What one source's text goes through. Profiles live in plm/resources/profiles/."""

    name: str = "review"
    numbers: str = "keep"
    punctuation: str = "normalise"
    special: str = "normalise"
    emoji: str = "normalise"
    foreign: str = "drop"
    repeat: int = 2
    url: bool = True
    email: bool = True
    phone: bool = True
    person: bool = True
    laughing: bool = True
    splitter: str = "rules"
    documents: str = "line"
    min_document_chars: int = 5

    def __post_init__(self):
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"{key} = {getattr(self, key)!r} in rules {self.name!r}: use one of {', '.join(allowed)}"
                )
        if self.repeat < 0 or self.min_document_chars < 0:
            raise ValueError(f"repeat and min_document_chars must be 0 or more (rules {self.name!r})")


def load_rules(spec="review"):
    """Rules from a profile name (`public`, `review`) or a TOML file that may name a base profile.

    A TOML file holds only the keys it changes, e.g. ``profile = "review"`` and
    ``emoji = "drop"``; without `profile` it starts from `review`.
    """
    path = Path(spec)
    if spec in PROFILES:
        values, name = _read_toml(PROFILE_DIR / f"{spec}.toml"), spec
    elif path.suffix == ".toml" and path.is_file():
        overrides = _read_toml(path)
        base = overrides.pop("profile", "review")
        if base not in PROFILES:
            raise ValueError(f"profile = {base!r} in {path}: use one of {', '.join(PROFILES)}")
        values, name = {**_read_toml(PROFILE_DIR / f"{base}.toml"), **overrides}, f"{base}+{path.name}"
    else:
        raise ValueError(f"unknown rules {spec!r}: give a profile ({', '.join(PROFILES)}) or a .toml file that exists")
    known = {field.name for field in dataclasses.fields(Rules)} - {"name"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"unknown rule key(s) {', '.join(unknown)} in {spec}: known keys are {', '.join(sorted(known))}"
        )
    return Rules(name=name, **values)


def _read_toml(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


# --- the patterns -------------------------------------------------------------
# These say what the rules do. A pattern that starts with a lookbehind or an
# alternation makes the regex engine try every character of the chunk, so the
# pipeline below runs such a pattern only where a cheap search says it can
# match (or runs an equivalent pattern that starts with a literal).

# A letter run: soynlp's repeatchars_pattern (soynlp 0.0.493, `(\w)\1{3,}`), inlined rather than read from
# that package's private module; digits are excluded where it is used (a price is not a repeat).
_REPEATED_CHAR = re.compile(r"(\w)\1{3,}")
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
_LAUGH_SYLLABLES = "하히호헤크키캬큭킥흐"
LAUGH_RE = re.compile(
    r"[ㅋㅎ]{2,}|(?<![ㄱ-ㅣ가-힣])[ㅋㅎ](?![ㄱ-ㅣ가-힣])"
    rf"|(?<![가-힣])([{_LAUGH_SYLLABLES}])\1+(?![가-힣])"
)
# LAUGH_RE in two passes, jamo first: the first character of a match is in
# front (each lookbehind moves after it and takes one more character), and the
# pipeline tries each only where its first character is. The same matches: the
# two kinds never overlap, and the jamo laughs' holds are no syllables, which
# is all that the syllable laughs' lookarounds ask about.
_LAUGH_JAMO = re.compile(r"[ㅋㅎ](?:[ㅋㅎ]+|(?<![ㄱ-ㅣ가-힣].)(?![ㄱ-ㅣ가-힣]))")
_LAUGH_SYLLABLE = re.compile(rf"([{_LAUGH_SYLLABLES}])(?<![가-힣].)\1+(?![가-힣])")
_LAUGH_RUN = re.compile(_HOLD["laughing"] + r"(?:\s*" + _HOLD["laughing"] + ")+")

# Emoji: candidate runs of one character class, `emoji` decides.
_EMOJI_CHARS = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a-\u23ff\u24c2\u25aa-\u27bf"
    "\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_EMOJI_JOINERS = "\u200d\ufe0f\u20e3\U000e0020-\U000e007f"
_EMOJI_RUN = re.compile(f"[{_EMOJI_CHARS}][{_EMOJI_CHARS}{_EMOJI_JOINERS}]*")
_EMOJI_MODIFIERS = re.compile("[\ufe0f\U0001f3fb-\U0001f3ff]")

SPECIAL_CHARS = (
    "\u00a1-\u00b6\u00b8-\u00bf\u00d7\u00f7\u2100-\u214f\u2190-\u21ff\u2200-\u22ff\u2300-\u23ff"
    "\u2460-\u24ff\u2500-\u27bf\u2b00-\u2bff\u3200-\u32ff"
)
_SPECIAL_RE = re.compile(f"[{SPECIAL_CHARS}]+")
_SPECIAL_TABLE = {"♥": "♡", "❥": "♡", "☆": "★", "✩": "★", "✰": "★", "♬": "♪", "♩": "♪", "♫": "♪"}
_SPECIAL_FOLD = re.compile("[" + "".join(_SPECIAL_TABLE) + "]")
_SPECIAL_RUN = re.compile(f"([{SPECIAL_CHARS}])\\1+")

_FOREIGN_CHARS = "\u0370-\u03ff\u0400-\u052f\u0590-\u06ff\u0e00-\u0e7f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
FOREIGN_RE = re.compile(f"[{_FOREIGN_CHARS}]+")
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
_PUNCT_RUN_CHARS = "!?~,;:^-_=*+'\"/|"  # its characters
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
_NOT_AFTER_END = "(?=[^\\sㅠㅜ" + _HOLD["laughing"] + "])"
_SENTENCE_END = re.compile(
    " (?<=[다요죠.!?…~] )(?:" + "|".join(f"(?<={ending} )" for ending in _ENDINGS) + "|(?<=[.!?…~] ))" + _NOT_AFTER_END
)
_GLUED_SENTENCE_END = re.compile("([.!?])(?<=[가-힣][.!?])(?=[가-힣])")
# (_SPACE_RUN, _SENTENCE_END and _GLUED_SENTENCE_END say what _shorten_runs and
# _sentence_ends do on the code points; tests/plm/test_text_reference.py checks it.)
_WORD_END = re.compile("[ \n\x00]")

# --- rare characters ------------------------------------------------------------
# One numpy table lookup over a chunk's code points finds the characters that
# can make a text not NFC, control characters and odd spaces.

_NFC_UNSAFE_FILE = Path(__file__).resolve().parent / "resources" / "nfc_unsafe.txt"
_NFC, _CONTROL_CHAR, _ODD_SPACE = 1, 2, 4


def derive_nfc_unsafe():
    """Code point ranges that can make a text not NFC (what resources/nfc_unsafe.txt holds).

    A text with none of them is NFC: all its characters are NFC_Quick_Check=Yes
    (No: NFC changes the character on its own; Maybe: the second character of a
    canonical pair, or a Hangul vowel or final consonant jamo) with combining
    class 0. Takes about a second.
    """
    unsafe = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for cp in range(0x110000):
        c = chr(cp)
        if unicodedata.combining(c) or unicodedata.normalize("NFC", c) != c:
            unsafe.add(cp)
        decomposition = unicodedata.decomposition(c).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            unsafe.add(int(decomposition[1], 16))
    ranges = []
    for cp in sorted(unsafe):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def read_nfc_unsafe(path=_NFC_UNSAFE_FILE):
    ranges = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            first, _, last = line.partition("..")
            ranges.append((int(first, 16), int(last or first, 16)))
    return ranges


def _class_ranges(characters):
    """(first, last) code points of the body of a character class such as 'a-z\\u00a0'."""
    ranges, i = [], 0
    while i < len(characters):
        if i + 2 < len(characters) and characters[i + 1] == "-":
            ranges.append((ord(characters[i]), ord(characters[i + 2])))
            i += 3
        else:
            ranges.append((ord(characters[i]), ord(characters[i])))
            i += 1
    return ranges


def _char_table():
    table = np.zeros(0x110000, dtype=np.uint8)
    classes = [
        (_NFC, read_nfc_unsafe()),
        (_CONTROL_CHAR, _class_ranges(_CONTROL.pattern[1:-1])),
        (_ODD_SPACE, _class_ranges(_ODD_SPACES.pattern[1:-1])),
    ]
    for bit, ranges in classes:
        for first, last in ranges:
            table[first : last + 1] |= bit
    return table


_CHAR_TABLE = _char_table()
_URL_TLD_LETTERS = np.array(
    [ord(c) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\u0130\u0131\u017f\u212a"]
)


def _code_points(block):
    return np.frombuffer(block.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


_kiwi = None


# --- the pipeline ---------------------------------------------------------------


def normalise_documents(documents, rules):
    """Normalise a chunk of raw documents.

    Returns (documents, counts): each document as a list of sentences (empty
    documents give an empty list), and a Counter of the replacements made.
    """
    texts, counts = normalise_chunk(documents, rules)
    return [[] if text is None else text.split("\n") for text in texts], counts


def normalise_text(text, rules):
    """One text in, its normalised sentences joined by newlines out (for tests and callers)."""
    docs, _ = normalise_documents([text], rules)
    return "\n".join(docs[0])


def normalise_chunk(documents, rules):
    """Normalise a chunk of raw documents: (texts, counts).

    A text is a document's sentences joined by newlines, or None where none is
    left; counts is a Counter of the replacements made. The documents are joined
    with NUL (which no rule matches or looks through, so this is the same as one
    document at a time) and split again at the end.
    """
    counts = Counter()
    block = DOC_SEP.join(documents)
    if block.count(DOC_SEP) > len(documents) - 1:
        block = DOC_SEP.join(doc.replace(DOC_SEP, " ") for doc in documents)
    if "\r" in block:
        block = block.replace("\r\n", "\n").replace("\r", "\n")
    block = _clean_rare_characters(block)
    places = _Places(block)
    _replace_tokens(places, rules, counts)
    block = _apply_character_rules(places, rules, counts)
    if rules.punctuation == "drop":
        block = _PUNCT_DROP.sub(" ", block)
    punctuation_runs = rules.punctuation == "normalise"
    if rules.numbers != "keep":
        if punctuation_runs:  # before the numbers, as the rules say
            block = _PUNCT_RUN.sub(r"\1\1", _DOTS.sub("...", block))
            punctuation_runs = False
        if rules.numbers == "normalise":
            block = _DIGIT.sub("0", block)
        else:
            block, counts["numbers_dropped"] = _DIGITS.subn("", block)
    points, shortened = _shorten_runs(block, rules.repeat, punctuation_runs)
    if rules.repeat:
        counts["repeats_shortened"] = shortened
    block = _finish(points, rules.splitter == "rules")
    texts = [doc.strip() or None for doc in block.split(DOC_SEP)]
    if rules.splitter == "kiwi":
        texts = [None if text is None else _kiwi_text(text) for text in texts]
    return texts, counts


def _clean_rare_characters(block):
    """NFC, then control characters dropped, then odd spaces made plain
    (_CONTROL, _ODD_SPACES), where the table finds such characters: a document
    that holds a character NFC may change goes through all three (NUL composes
    with nothing, so NFC is the same a document at a time), elsewhere each
    character is dropped or made a space."""
    found = _CHAR_TABLE.take(_code_points(block))
    if not len(found) or not int(np.bitwise_or.reduce(found)) & (_NFC | _CONTROL_CHAR | _ODD_SPACE):
        return block
    where = np.flatnonzero((found & (_NFC | _CONTROL_CHAR | _ODD_SPACE)) != 0)
    kinds = found[where].tolist()
    where = where.tolist()
    docs, end = [], 0  # the documents that hold a character NFC may change
    for p, kind in zip(where, kinds):
        if kind & _NFC and p >= end:
            start = block.rfind(DOC_SEP, end, p) + 1
            end = block.find(DOC_SEP, p)
            end = len(block) if end < 0 else end
            docs.append((start, end))
    pieces, last, skip, d = [], 0, 0, 0
    for p, kind in zip(where, kinds):
        if p < skip:
            continue
        while d < len(docs) and docs[d][1] <= p:
            d += 1
        if d < len(docs) and docs[d][0] <= p:
            start, skip = docs[d]
            doc = block[start:skip]
            normal = _ODD_SPACES.sub(" ", _CONTROL.sub("", unicodedata.normalize("NFC", doc)))
            if normal != doc:
                pieces += [block[last:start], normal]
                last = skip
            continue
        pieces.append(block[last:p])
        if not kind & _CONTROL_CHAR:  # a control character goes, as _CONTROL runs before _ODD_SPACES
            pieces.append(" ")
        last = skip = p + 1
    if not pieces:
        return block
    pieces.append(block[last:])
    return "".join(pieces)


# Where the token rules and the character rules can act, found with one table
# lookup and carried through each rule's changes (_Places). Places that depend
# on neighbours are worked out from the code points right away:
_AT_CHAR, _COLON_CHAR, _W_CHAR, _DOT_CHAR, _DIGIT_CHAR, _TITLE_CHAR, _MASK_CHAR = 1, 2, 4, 8, 16, 32, 64
_JAMO_CHAR, _SYLLABLE_CHAR, _TOKEN_START, _BRACKET_CHAR = 128, 256, 512, 1024
_EMOJI_PLACE, _FOREIGN_PLACE, _SPECIAL_PLACE, _PUNCT_FOLD_PLACE = 2048, 4096, 8192, 16384
_URL_PLACE = _COLON_CHAR  # ://, www. (any case), or a dot before a letter: every URL holds one
_PHONE_PLACE = _DIGIT_CHAR  # 0 before 1-7, +82, or 1[568]NN-: where a phone number can start
_DOUBLED_PLACE = _SYLLABLE_CHAR  # a laugh syllable twice: where a syllable laugh can start


def _place_table():
    table = np.zeros(0x110000, dtype=np.uint16)
    classes = [
        (_AT_CHAR, "@"),
        (_COLON_CHAR, ":"),
        (_W_CHAR, "wW"),
        (_DOT_CHAR, "."),
        (_DIGIT_CHAR, "01+"),
        (_TITLE_CHAR, "씨님쌤"),
        (_MASK_CHAR, "*○◯O"),
        (_JAMO_CHAR, "ㅋㅎ"),
        (_SYLLABLE_CHAR, _LAUGH_SYLLABLES),
        (_TOKEN_START, "[{"),
        (_BRACKET_CHAR, "(["),
    ]
    for bit, characters in classes:
        for c in characters:
            table[ord(c)] |= bit
    for bit, ranges in [
        (_EMOJI_PLACE, _class_ranges(_EMOJI_CHARS + _EMOJI_JOINERS)),
        (_FOREIGN_PLACE, _class_ranges(_FOREIGN_CHARS)),
        (_SPECIAL_PLACE, _class_ranges(SPECIAL_CHARS)),
        (_PUNCT_FOLD_PLACE, [(ord(c), ord(c)) for c in _PUNCT_TABLE]),
    ]:
        for first, last in ranges:
            table[first : last + 1] |= bit
    return table


_PLACE_TABLE = _place_table()


class _Places:
    """A block of text and the sorted positions (with their classes) where the
    rules may act, kept right while the rules change the text: a change is a
    list of (start, end, text) that replaces block[start:end] by text."""

    def __init__(self, block):
        self.block = block
        points = _code_points(block)
        kinds = _PLACE_TABLE.take(points)
        where = np.flatnonzero(kinds != 0)
        kinds = kinds[where]
        after = np.concatenate((points, np.zeros(4, dtype=np.uint32)))  # room to look ahead
        near = _COLON_CHAR | _W_CHAR | _DOT_CHAR | _DIGIT_CHAR | _SYLLABLE_CHAR
        classes = kinds & ~np.uint16(near)
        for bit, test in (
            (_COLON_CHAR, _is_url_colon),
            (_W_CHAR, _is_www),
            (_DOT_CHAR, _is_domain_dot),
            (_DIGIT_CHAR, _is_phone_start),
            (_SYLLABLE_CHAR, _is_doubled),
        ):
            pick = np.flatnonzero((kinds & bit) != 0)
            if len(pick):
                mark = _URL_PLACE if bit in (_COLON_CHAR, _W_CHAR, _DOT_CHAR) else bit
                classes[pick[test(after, where[pick])]] |= mark
        keep = classes != 0
        self.where, self.classes = where[keep], classes[keep]

    def at(self, bits):
        return self.where[(self.classes & bits) != 0].tolist()

    def present(self, bits):
        return bool(len(self.classes)) and bool(np.bitwise_or.reduce(self.classes) & bits)

    def change(self, changes):
        """Make the changes (sorted, apart) and move the places; places inside a change go."""
        if not changes:
            return
        pieces, last = [], 0
        for start, end, text in changes:
            pieces += [self.block[last:start], text]
            last = end
        pieces.append(self.block[last:])
        self.block = "".join(pieces)
        starts, ends, texts = zip(*changes)
        starts, ends = np.array(starts), np.array(ends)
        growth = np.concatenate(([0], np.cumsum(np.fromiter(map(len, texts), dtype=np.int64) - (ends - starts))))
        k = np.searchsorted(starts, self.where, side="right")  # changes that start at or before a place
        outside = (k == 0) | (self.where >= ends[np.maximum(k - 1, 0)])
        self.where, self.classes = (self.where + growth[k])[outside], self.classes[outside]


def _is_url_colon(after, at):
    return (after[at + 1] == ord("/")) & (after[at + 2] == ord("/"))


def _is_www(after, at):
    return ((after[at + 1] | 0x20) == ord("w")) & ((after[at + 2] | 0x20) == ord("w")) & (after[at + 3] == ord("."))


def _is_domain_dot(after, at):
    # a letter follows (U+0130, U+0131, U+017F and U+212A are letters to URL_RE's IGNORECASE)
    return np.isin(after[at + 1], _URL_TLD_LETTERS)


def _is_phone_start(after, at):
    first, second, third, fourth = after[at], after[at + 1], after[at + 2], after[at + 3]
    zero = (first == ord("0")) & (second >= ord("1")) & (second <= ord("7"))
    plus = (first == ord("+")) & (second == ord("8")) & (third == ord("2"))
    one = (
        (first == ord("1"))
        & ((second == ord("5")) | (second == ord("6")) | (second == ord("8")))
        & (third >= ord("0"))
        & (third <= ord("9"))
        & (fourth >= ord("0"))
        & (fourth <= ord("9"))
        & (after[at + 4] == ord("-"))
    )
    return zero | plus | one


def _is_doubled(after, at):
    return after[at + 1] == after[at]


def _replace_tokens(places, rules, counts):
    """The replacement patterns in order, each tried only where it can match.
    (New places never appear: a match becomes a hold, and that joins nothing.)"""
    places.change(_protected_tokens(places.block, places.at(_TOKEN_START)))
    if rules.email:
        changes = _in_words(places.block, places.at(_AT_CHAR), EMAIL_RE, _HOLD["email"])
        counts["email"] = len(changes)
        places.change(changes)
    if rules.url:
        changes = _in_words(places.block, places.at(_URL_PLACE), URL_RE, _HOLD["url"])
        counts["url"] = len(changes)
        places.change(changes)
    if rules.phone:
        changes = _matches_at(places.block, places.at(_PHONE_PLACE), PHONE_RE, _HOLD["phone"])
        counts["phone"] = len(changes)
        places.change(changes)
    if rules.person:
        person = _HOLD["person"]
        titles = _matches_at(
            places.block, _title_starts(places.block, places.at(_TITLE_CHAR)), PERSON_TITLE_RE, _person_or_word
        )
        places.change(titles)
        masked = _matches_at(
            places.block, _masked_starts(places.block, places.at(_MASK_CHAR)), PERSON_MASKED_RE, person
        )
        places.change(masked)
        mentions = _matches_at(places.block, places.at(_AT_CHAR), PERSON_MENTION_RE, person)
        places.change(mentions)
        counts["person"] = sum(text == person for _, _, text in titles) + len(masked) + len(mentions)
    if rules.laughing:
        laugh = _HOLD["laughing"]
        jamo = _matches_at(places.block, places.at(_JAMO_CHAR), _LAUGH_JAMO, laugh)
        places.change(jamo)
        syllables = _matches_at(places.block, places.at(_DOUBLED_PLACE), _LAUGH_SYLLABLE, laugh)
        places.change(syllables)
        counts["laughing"] = len(jamo) + len(syllables)
        if counts["laughing"]:
            places.change([(m.start(), m.end(), laugh) for m in _LAUGH_RUN.finditer(places.block)])


def _protected_tokens(block, starts):
    """Tokens already in the text become holds (as the placeholders of tokens
    the rules make), so that later rules cannot break them."""
    changes, last = [], 0
    for p in starts:
        if p < last:
            continue
        for token, hold in _LITERAL_TO_HOLD.items():
            if block.startswith(token, p):
                changes.append((p, p + len(token), hold))
                last = p + len(token)
                break
    return changes


def _in_words(block, hints, pattern, replacement):
    """The matches of pattern.subn over the whitespace-delimited words that hold
    a hint (sorted positions), as changes: the same as over the whole block for
    a pattern whose matches hold a hint and no whitespace or NUL, and whose
    lookarounds see a space, a newline, a NUL and the ends of the text alike."""
    changes, done = [], 0
    for p in hints:
        if p < done:
            continue
        space = block.rfind(" ", done, p)
        low = max(space, done)
        start = max(space, block.rfind("\n", low, p), block.rfind(DOC_SEP, low, p)) + 1
        end = _WORD_END.search(block, p)
        done = end = end.start() if end else len(block)
        changes += [(m.start(), m.end(), replacement) for m in pattern.finditer(block, start, end)]
    return changes


def _matches_at(block, starts, pattern, replacement):
    """The matches of pattern.subn(replacement, block) as changes, given every
    position where a match can start (sorted; the pattern is tried there only).
    replacement is a string or a function of the match; a match that it leaves
    as it is makes no change."""
    changes, last = [], 0
    for p in starts:
        if p < last:
            continue
        match = pattern.match(block, p)
        if match:
            text = replacement if isinstance(replacement, str) else replacement(match)
            if text != match.group():
                changes.append((p, match.end(), text))
            last = match.end()
    return changes


def _title_starts(block, marks):
    """Sorted positions where PERSON_TITLE_RE can match. Every title holds 씨, 님
    or 쌤, 0, 2 or 3 characters in; before it come an optional space and the
    three-character name, which starts with a surname: 3 to 7 characters before
    the mark."""
    starts, next_start = [], 0
    for mark in marks:
        for p in range(max(mark - 7, next_start), mark - 2):
            if block[p] in _SURNAME_SET:
                starts.append(p)
        next_start = max(next_start, mark - 2)
    return starts


_SURNAME_SET = frozenset(_SURNAMES)


def _masked_starts(block, marks):
    """Sorted positions where PERSON_MASKED_RE can match: a syllable before *, ○, ◯ or O."""
    return sorted({p - 1 for p in marks if p and "가" <= block[p - 1] <= "힣"})


def _person_or_word(match):
    word = match.group(1)
    return word if word in _NOT_NAMES else _HOLD["person"]


# --- emoji, foreign scripts, special symbols, punctuation --------------------------


def _apply_character_rules(places, rules, counts):
    """Emoji, foreign scripts (and then empty brackets), special symbols and the
    punctuation fold. Each acts on runs of its own characters only, so each runs
    on the stretches of such characters alone, and a stretch that recurs is
    done once (cached). Returns the block."""
    first = (_EMOJI_PLACE if rules.emoji != "keep" else 0) | (_FOREIGN_PLACE if rules.foreign == "drop" else 0)
    second = (_SPECIAL_PLACE if rules.special != "keep" else 0) | (
        _PUNCT_FOLD_PLACE if rules.punctuation != "keep" else 0
    )
    block, first_present, second_present = places.block, places.present(first), places.present(second)
    gaps, stretches = _stretches(block, places.at(first | second))
    if stretches and first_present:
        work, cache = _first_stretch, _STRETCH_CACHE.setdefault(("first", rules.emoji, rules.foreign), {})
        done = _each_stretch(stretches, work, cache, (rules.emoji, rules.foreign == "drop"), counts)
        if rules.foreign == "drop":  # the brackets' places (in no stretch) move
            places.change(
                [(at, at + len(old), new) for at, old, new in _stretch_places(gaps, stretches, done) if old != new]
            )
        stretches = done
    if rules.foreign == "drop":
        block = places.block
        changes = _matches_at(block, places.at(_BRACKET_CHAR), _EMPTY_BRACKETS, "")
        if changes:
            places.change(changes)
            block = places.block
            if stretches:  # the brackets were in gaps; stretches meet where a gap is gone
                gaps, stretches = _without(gaps, stretches, changes)
    if stretches and second_present:
        work, cache = _second_stretch, _STRETCH_CACHE.setdefault(("second", rules.special, rules.punctuation), {})
        stretches = _each_stretch(stretches, work, cache, (rules.special, rules.punctuation != "keep"), counts)
    return _join_stretches(gaps, stretches) if stretches else block


def _without(gaps, stretches, deletions):
    """gaps and stretches after deleting (start, end, "") spans of the joined
    text (sorted, apart; a span may go over stretches that are empty by now);
    two stretches with nothing left between them become one."""
    segments = [""] * (2 * len(stretches) + 1)
    segments[0::2], segments[1::2] = gaps, stretches
    deletions, kept, offset = iter(deletions), [], 0
    deletion = next(deletions, None)
    for segment in segments:
        end, at, pieces = offset + len(segment), offset, []
        while deletion is not None and deletion[0] < end:
            if deletion[0] > at:
                pieces.append(segment[at - offset : deletion[0] - offset])
            if deletion[1] > end:  # it goes on into the next segment
                at = end
                break
            at = max(at, deletion[1])
            deletion = next(deletions, None)
        pieces.append(segment[at - offset :])
        kept.append("".join(pieces))
        offset = end
    new_gaps, new_stretches = [kept[0]], []
    for stretch, gap in zip(kept[1::2], kept[2::2]):
        if new_stretches and not new_gaps[-1]:
            new_stretches[-1] += stretch
            new_gaps[-1] = gap
        else:
            new_stretches.append(stretch)
            new_gaps.append(gap)
    return new_gaps, new_stretches


def _stretch_places(gaps, old, new):
    """(start, old text, new text) of each stretch."""
    start = 0
    for gap, before, after in zip(gaps, old, new):
        start += len(gap)
        yield start, before, after
        start += len(before)


_STRETCH_CACHE = {}  # (group, modes) -> {stretch: (result, changes)}


def _stretches(block, where):
    """The block cut into maximal stretches of consecutive positions `where`
    (sorted) and the gaps between them: (gaps, stretches), one more gap."""
    if not len(where):
        return [block], []
    where = np.array(where)
    breaks = np.flatnonzero(np.diff(where) != 1)
    starts = where[np.concatenate(([0], breaks + 1))].tolist()
    ends = (where[np.concatenate((breaks, [len(where) - 1]))] + 1).tolist()
    gaps, stretches, last = [], [], 0
    for start, end in zip(starts, ends):
        gaps.append(block[last:start])
        stretches.append(block[start:end])
        last = end
    gaps.append(block[last:])
    return gaps, stretches


def _join_stretches(gaps, stretches):
    parts = [""] * (2 * len(stretches) + 1)
    parts[0::2] = gaps
    parts[1::2] = stretches
    return "".join(parts)


def _each_stretch(stretches, work, cache, args, counts):
    if len(cache) > 20_000:  # a few MB at most; the stretches that recur come back at once
        cache.clear()
    done, changes = [], Counter()
    for stretch in stretches:
        result = cache.get(stretch)
        if result is None:
            result = cache[stretch] = work(stretch, *args)
        done.append(result[0])
        if result[1]:
            changes.update(result[1])
    counts.update(changes)
    return done


def _first_stretch(text, emoji_mode, drop_foreign):
    changes = {}
    if emoji_mode != "keep":
        text, n = _apply_emoji(text, emoji_mode)
        if n:
            changes["emoji_dropped" if emoji_mode == "drop" else "emoji_shortened"] = n
    if drop_foreign:
        text, n = FOREIGN_RE.subn("", text)
        if n:
            changes["foreign_dropped"] = n
    return text, changes


def _second_stretch(text, special_mode, fold_punctuation):
    changes = {}
    if special_mode == "drop":
        text, n = _SPECIAL_RE.subn("", text)
        if n:
            changes["special_dropped"] = n
    elif special_mode == "normalise":
        text = _SPECIAL_RUN.sub(r"\1", _SPECIAL_FOLD.sub(lambda m: _SPECIAL_TABLE[m.group()], text))
    if fold_punctuation:
        text = _PUNCT_FOLD.sub(_fold_punctuation, text)
    return text, changes


def _apply_emoji(text, mode):
    """Emoji runs dropped or normalised: (text, how many emoji were dropped or shortened)."""
    import emoji  # here: the tokenizer loads (plm.vocab) where the emoji package is not installed

    changed = 0

    def drop(match):
        nonlocal changed
        run = match.group()
        changed += emoji.emoji_count(run)
        return emoji.replace_emoji(run, "")

    def normalise(match):
        nonlocal changed
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
                changed += 1
            previous, last = item["emoji"], item["match_end"]
        out.append(run[last:])
        return "".join(out)

    text = _EMOJI_RUN.sub(drop if mode == "drop" else normalise, text)
    return text, changed


def _fold_punctuation(match):
    return _PUNCT_TABLE[match.group()]


# --- runs, sentences, tokens back, lines -------------------------------------------
# The last steps work on the chunk's code points (numpy) and decode it once.

_PUNCT_RUN_POINTS = np.array([ord(c) for c in _PUNCT_RUN_CHARS])
_WHITESPACE_POINTS = frozenset(cp for cp in range(0x10000) if chr(cp).isspace())  # what \s and str.strip() take
_END_CHAR, _STOPS_SPLIT, _GLUE_MARK, _HOLD_CHAR, _SPACE_CHAR, _NEWLINE_CHAR = 1, 2, 4, 8, 16, 32
_MARKS = ".!?…~"


def _finish_table():
    """Classes of the Basic Multilingual Plane for the last steps (code points
    above it are clipped to U+FFFF, which is in none)."""
    table = np.zeros(0x10000, dtype=np.uint8)
    for c in _MARKS + "".join({e[-1] for e in _ENDINGS}):
        table[ord(c)] |= _END_CHAR
    for cp in _WHITESPACE_POINTS:
        table[cp] |= _STOPS_SPLIT | _SPACE_CHAR
    for c in "ㅠㅜ" + _HOLD["laughing"]:
        table[ord(c)] |= _STOPS_SPLIT
    for c in ".!?":
        table[ord(c)] |= _GLUE_MARK
    for hold in _HOLD.values():
        table[ord(hold)] |= _HOLD_CHAR
    table[ord("\n")] |= _NEWLINE_CHAR
    return table


_FINISH_TABLE = _finish_table()
_HOLD_TOKENS = {ord(_HOLD[name]): [ord(c) for c in token] for name, token in REPLACEMENT_TOKENS.items()}
_MARK_POINTS = np.array([ord(c) for c in _MARKS])


def _ending_groups():
    """_ENDINGS by final character: (final, first characters of the two-character
    endings, the three-character endings)."""
    groups = {}
    for ending in _ENDINGS:
        pairs, longer = groups.setdefault(ord(ending[-1]), ([], []))
        if len(ending) == 2:
            pairs.append(ord(ending[0]))
        else:
            longer.append([ord(c) for c in ending])
    return [(final, np.array(pairs), longer) for final, (pairs, longer) in groups.items()]


_ENDING_GROUPS = _ending_groups()


def _shorten_runs(block, repeat, punctuation_runs):
    """Runs of one character, at once: four or more dots become three and three
    or more of !?~,;:^-_=*+'"/| two (_DOTS, _PUNCT_RUN, if punctuation_runs),
    four or more of a letter (not a digit) `repeat` (soynlp's repeatchars_pattern), two or
    more spaces one (_SPACE_RUN), in that order: runs of different characters
    do not touch and a shortened run does not grow into another rule's.
    Returns the code points and the number of letter runs shortened."""
    points = _code_points(block)
    same = np.flatnonzero(points[1:] == points[:-1])
    if not len(same):
        return points, 0
    breaks = np.flatnonzero(np.diff(same) != 1)
    firsts = same[np.concatenate(([0], breaks + 1))]
    lengths = same[np.concatenate((breaks, [len(same) - 1]))] - firsts + 2
    chars = points[firsts]
    keep = (chars == ord(" ")) | (lengths >= 4)
    if punctuation_runs:
        keep |= (lengths == 3) & np.isin(chars, _PUNCT_RUN_POINTS)
    keep = np.flatnonzero(keep)
    if not len(keep):
        return points, 0
    letters = _REPEATED_CHAR
    punctuation = set(_PUNCT_RUN_POINTS.tolist()) if punctuation_runs else ()
    pieces, last, shortened = [], 0, 0
    for start, length, c in zip(firsts[keep].tolist(), lengths[keep].tolist(), chars[keep].tolist()):
        if c == 32:
            new = [32]
        elif c in punctuation:
            new = [c, c]
        elif c == 46 and punctuation_runs:
            new = [46, 46, 46]
        elif repeat and not chr(c).isdecimal() and letters.match(block, start):  # 100000원 stays a price
            new = [c] * repeat
            shortened += 1
        else:
            continue
        pieces += [points[last:start], np.array(new, dtype=np.uint32)]
        last = start + length
    if not pieces:
        return points, 0
    pieces.append(points[last:])
    return np.concatenate(pieces), shortened


def _finish(points, split_sentences):
    """Sentence ends (if split_sentences), tokens for their holds, and each run
    of whitespace that holds a newline made that newline (as when every line is
    stripped and blank lines go); decoded to text. One table lookup finds the
    places; the changes are made at once."""
    n = len(points)
    kinds = _FINISH_TABLE.take(points, mode="clip")
    where = np.flatnonzero((kinds & (_END_CHAR | _GLUE_MARK | _HOLD_CHAR | _NEWLINE_CHAR)) != 0)
    found = kinds[where]
    out, at, values = None, [], []
    newlines = where[(found & _NEWLINE_CHAR) != 0]
    if split_sentences and len(where):
        spaces = _sentence_ends(points, kinds, where[(found & _END_CHAR) != 0])
        if len(spaces):
            out = points.copy()
            out[spaces] = 10
            newlines = np.sort(np.concatenate((newlines, spaces)))  # spaces are no newlines
        marks = where[((found & _GLUE_MARK) != 0) & (where > 0) & (where < n - 1)]
        before, after = points[marks - 1], points[marks + 1]
        glued = marks[(before >= 0xAC00) & (before <= 0xD7A3) & (after >= 0xAC00) & (after <= 0xD7A3)]
        if len(glued):  # _GLUED_SENTENCE_END: a newline after the mark
            at.append(glued + 1)
            values.append(np.full(len(glued), 10, dtype=np.uint32))
    holds = where[(found & _HOLD_CHAR) != 0]
    if len(holds):
        out = points.copy() if out is None else out
        held = points[holds]
        for hold, token in _HOLD_TOKENS.items():
            place = holds[held == hold]
            if len(place):  # the hold becomes the token's first character, the rest goes in after it
                out[place] = token[0]
                at.append(np.repeat(place + 1, len(token) - 1))
                values.append(np.tile(np.array(token[1:], dtype=np.uint32), len(place)))
    out = points if out is None else out
    gone = _crowded_whitespace(kinds, newlines)
    if len(gone):
        out = np.delete(out, gone)
    if at:
        at = np.concatenate(at)
        if len(gone):
            at -= np.searchsorted(gone, at)
        out = np.insert(out, at, np.concatenate(values))
    return out.tobytes().decode("utf-32-le", "surrogatepass")


def _sentence_ends(points, kinds, ends):
    """_SENTENCE_END: the spaces that become newlines, given the positions of
    the characters that can end a sentence. (Evaluated on the text before any
    of its changes, as one regex pass is; the glued ends look at marks and
    syllables, which these changes leave alone.)"""
    ends = ends[ends < len(points) - 2]  # an end, a space, and a character that may start a sentence
    ends = ends[points[ends + 1] == 32]
    ends = ends[(kinds[ends + 2] & _STOPS_SPLIT) == 0]
    chars = points[ends]
    split = np.isin(chars, _MARK_POINTS)
    for final, pairs, longer in _ENDING_GROUPS:
        pick = np.flatnonzero(chars == final)
        if not len(pick):
            continue
        place = ends[pick]
        before = np.where(place >= 1, points[np.maximum(place - 1, 0)], 0)
        ok = np.isin(before, pairs)
        for ending in longer:
            back = len(ending) - 1
            more = place >= back
            for i, c in enumerate(ending[:-1]):
                more &= points[np.maximum(place - back + i, 0)] == c
            ok |= more
        split[pick] = ok
    return ends[split] + 1


def _crowded_whitespace(kinds, newlines):
    """Sorted positions of the whitespace around newlines to remove: of each run
    of whitespace that holds a newline, all but its first newline. (kinds: the
    table's classes; whitespace stays whitespace when a space becomes a newline.)"""
    if not len(newlines):
        return newlines
    n = len(kinds)
    left = (kinds[np.maximum(newlines - 1, 0)] & _SPACE_CHAR) != 0
    right = (kinds[np.minimum(newlines + 1, n - 1)] & _SPACE_CHAR) != 0
    crowded = newlines[(left & (newlines > 0)) | (right & (newlines < n - 1))]
    if not len(crowded):
        return crowded
    gone, done, newline_set = [], -1, set(newlines.tolist())
    for p in crowded.tolist():
        if p <= done:
            continue
        start, end = p, p
        while start > 0 and kinds[start - 1] & _SPACE_CHAR:
            start -= 1
        while end + 1 < n and kinds[end + 1] & _SPACE_CHAR:
            end += 1
        first = next(i for i in range(start, end + 1) if i in newline_set)
        gone += [i for i in range(start, end + 1) if i != first]
        done = end
    return np.array(gone, dtype=np.int64)


def _kiwi_text(text):
    global _kiwi
    if _kiwi is None:
        from kiwipiepy import Kiwi

        _kiwi = Kiwi()
    sentences = [sentence.text for line in text.split("\n") for sentence in _kiwi.split_into_sents(line)]
    return "\n".join(sentences) if sentences else None
