"""Product attributes in review sentences: the taxonomy, the phrase tagger, the sentence splitter.

The taxonomy (`plm/resources/attributes.toml`) names what beauty reviews talk about
(보습, 진정, 각질 제거, 백탁, 눈시림...), each attribute with example phrases. Three
things here build on it:

- `load_taxonomy(path=None)`: the attributes, validated (see `TaxonomyError`).
- `PhraseTagger(taxonomy).tag(sentence)`: ``{attribute_id: "pos" | "neg" | "present"}``
  from the example phrases plus a few rules. It is the phrase-matching baseline the
  attribute model must beat, and the weak labeller; the labelling guideline
  (docs/attribute_guideline.md) is the reference, not this tagger.
- `split_sentences(text)`: the corpus builder's sentence splitter (`plm.text`, profile
  `review`), so sentences here are the sentences the language model was pretrained on.

No heavy import at module level: `plm.text` (numpy, emoji) is imported on first use
of the splitter; the tagger needs only `re`.

Phrase-matching rules (what `PhraseTagger` does; docs/attribute_guideline.md § "The phrase
tagger" has them too):

1. A phrase matches with its spaces optional: ``"향이 좋"`` matches 향이좋 and 향이  좋.
   Characters written together in a phrase must be together in the text. Case is ignored.
2. Per attribute, matches are found left to right; where phrases overlap, the leftmost
   wins, then the longest (``"끈적이지 않"`` beats ``"끈적이"``, ``"보습력이 부족"`` beats
   ``"보습력"``).
3. A match of `examples` is positive (``"present"`` for attributes without polarity), a
   match of `negative_examples` negative.
4. Negation flips the side of a match (polarity attributes only):
   - before it, the word 안 / 덜 / 못 (``"안 촉촉"``, ``"덜 끈적"``, ``"안 따가워요"``);
   - after it, in the same word or after a particle and one adverb (전혀, 거의, 잘, 별로...):
     ``-지 않 / -진 않 / -지도 않 / -지 못``, ``없``, ``안 되 / 안 돼 / 안 나``
     ``못 느 / 안 느 / 안 들`` (``"촉촉하지 않아요"`` → neg, ``"따가움은 못 느꼈어요"`` → pos,
     ``"백탁이 거의 없어요"`` → pos).
5. Doubt turns a positive match negative (never the reverse): right after it, 모르 /
   별로 / 부족 / 아쉽 / 아쉬 (``"미백 효과는 잘 모르겠어요"``, ``"보습력은 부족"``).
   ``나쁘지 않 / 싫지 않`` right after a match is praise: neither rule 4 nor 5 applies
   (``"접착력도 나쁘지 않아요"`` → pos).
6. A wish, an expectation or a scene-setting clause is no mention: a match followed by
   ``-했으면 / -었으면 / -였으면``, ``-(으)면 좋겠``, ``-길 바``, ``기대`` (``"좀 더 촉촉했으면"``,
   ``"진정 효과 기대하고 구매"``), or by ``-(으)ㄹ 때`` that is not ``때가 있다 / 때도 많다``
   (``"트러블이 올라올 때 발라요"``) is dropped.
7. Several matches of one attribute in a sentence: the last one decides (a Korean
   sentence usually ends on its judgement: ``"처음엔 건조했는데 지금은 촉촉해요"`` → pos).
8. An idiom is no mention: a match right after one of the attribute's `not_after` words
   (then at most a particle and one adverb) is dropped. Sun protection's ``"안 타고"`` is
   "did not tan", but ``"계절 안 타고"`` is "in any season" and ``"피부타입 크게 안 타고"``
   "for any skin type".
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from functools import lru_cache
from pathlib import Path

TAXONOMY_FILE = Path(__file__).resolve().parent / "resources" / "attributes.toml"
VALUES = ("pos", "neg", "present")
_ID = re.compile(r"^[a-z][a-z_]*$")
Z95 = 1.959963984540054


def wilson(k, n, z=Z95):
    """The Wilson score interval (low, high) of k successes in n trials; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


_FIELDS = {
    "id", "ko", "en", "definition", "polarity", "positive", "negative", "examples", "negative_examples", "not_after",
}  # fmt: skip


class TaxonomyError(ValueError):
    """The attribute taxonomy is malformed; the message names the file, the attribute and what is wrong."""


@dataclasses.dataclass(frozen=True)
class Attribute:
    id: str
    ko: str
    en: str
    definition: str
    polarity: bool
    examples: tuple[str, ...]
    negative_examples: tuple[str, ...] = ()
    positive: str = ""
    negative: str = ""
    not_after: tuple[str, ...] = ()

    def allowed_values(self):
        return ("pos", "neg") if self.polarity else ("present",)


def load_taxonomy(path=None):
    """The attributes of the taxonomy file (default `plm/resources/attributes.toml`), validated.

    Raises `TaxonomyError` naming the attribute and the problem: a missing or unknown field,
    an id that is not ``[a-z_]+`` or not unique, polarity fields that do not fit the
    attribute's `polarity`, an empty or repeated phrase, or an example phrase that the
    phrase tagger does not tag as its own attribute with its own side.
    """
    path = Path(path) if path else TAXONOMY_FILE
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: taxonomy file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"{path}: not valid TOML ({exc})") from None
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TaxonomyError(
            f"{path}: version = {version!r}; give the taxonomy's version, a whole number from 1 (raise it "
            f"when attributes or phrases change: every review is tagged again)"
        )
    raw = data.get("attribute")
    if not isinstance(raw, list) or not raw:
        raise TaxonomyError(f"{path}: no [[attribute]] tables")
    taxonomy, seen = [], set()
    for n, item in enumerate(raw, start=1):
        attribute = _attribute(path, n, item)
        if attribute.id in seen:
            raise TaxonomyError(f"{path}: attribute id {attribute.id!r} is used twice (ids must be unique)")
        seen.add(attribute.id)
        taxonomy.append(attribute)
    _check_examples(path, taxonomy)
    return taxonomy


def _attribute(path, n, item):
    name = item.get("id") if isinstance(item.get("id"), str) else f"#{n}"
    where = f"{path}: attribute {name!r}"
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise TaxonomyError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(_FIELDS))})")
    for key in ("id", "ko", "en", "definition"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise TaxonomyError(f"{where}: field {key!r} is missing or empty")
    if not _ID.match(item["id"]):
        raise TaxonomyError(f"{where}: id must be lower-case letters and underscores ([a-z_]+)")
    if not isinstance(item.get("polarity"), bool):
        raise TaxonomyError(f"{where}: field 'polarity' must be true or false")
    examples = _phrases(where, item, "examples", required=True)
    negative_examples = _phrases(where, item, "negative_examples", required=False)
    not_after = _phrases(where, item, "not_after", required=False)
    if item["polarity"]:
        for key in ("positive", "negative"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise TaxonomyError(
                    f"{where}: polarity = true needs field {key!r} (what {'+' if key == 'positive' else '-'} means)"
                )
        if not negative_examples:
            raise TaxonomyError(f"{where}: polarity = true needs negative_examples (phrases of the negative side)")
    else:
        present = [key for key in ("positive", "negative", "negative_examples") if item.get(key)]
        if present:
            raise TaxonomyError(f"{where}: polarity = false (presence only) but {', '.join(present)} given")
    keys = [_key(p) for p in examples + negative_examples]
    repeated = sorted({p for p, k in zip(examples + negative_examples, keys) if keys.count(k) > 1})
    if repeated:
        raise TaxonomyError(f"{where}: phrase(s) listed twice (spaces ignored): {', '.join(repeated)}")
    return Attribute(
        id=item["id"],
        ko=item["ko"].strip(),
        en=item["en"].strip(),
        definition=item["definition"].strip(),
        polarity=item["polarity"],
        examples=tuple(examples),
        negative_examples=tuple(negative_examples),
        positive=(item.get("positive") or "").strip(),
        negative=(item.get("negative") or "").strip(),
        not_after=tuple(not_after),
    )


def _phrases(where, item, key, required):
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise TaxonomyError(f"{where}: {key!r} must be a list of strings")
    phrases = [p.strip() for p in value]
    if any(not _key(p) for p in phrases):
        raise TaxonomyError(f"{where}: {key!r} holds an empty phrase")
    if required and not phrases:
        raise TaxonomyError(f"{where}: {key!r} is missing or empty (at least one phrase)")
    return phrases


def _check_examples(path, taxonomy):
    """Every example phrase, as a sentence of its own, is tagged with its own attribute and side,
    and does not contradict a rule: where the attribute's other phrases match inside it and a
    negation, doubt, wish or context rule changes their reading, the result must be its side."""
    tagger = PhraseTagger(taxonomy)
    for attribute in taxonomy:
        expected = "pos" if attribute.polarity else "present"
        for side, phrases in ((expected, attribute.examples), ("neg", attribute.negative_examples)):
            for phrase in phrases:
                got = tagger.tag(phrase).get(attribute.id)
                if got != side:
                    raise TaxonomyError(
                        f"{path}: attribute {attribute.id!r}: example phrase {phrase!r} is tagged "
                        f"{got or 'as no mention'} by the phrase tagger, not {side!r}"
                    )
                hit = tagger.rule_reading(attribute.id, phrase)
                if hit is not None and hit.rule and hit.value != side:
                    raise TaxonomyError(
                        f"{path}: attribute {attribute.id!r}: example phrase {phrase!r} contradicts the "
                        f"tagger's {hit.rule} rule: in a sentence, {hit.phrase!r} and the rule read it as "
                        f"{hit.value or 'no mention'}, but it is listed as {side!r}"
                    )


# --- the phrase tagger -------------------------------------------------------------


def _key(phrase):
    return re.sub(r"\s+", "", phrase).casefold()


def _phrase_pattern(phrase):
    """Spaces in the phrase are optional in the text; characters written together stay together."""
    words = phrase.split()
    return r"\s*".join(re.escape(w) for w in words)


_ADVERB = r"(?:전혀|거의|하나도|1도|일절|별로|잘|많이|크게|그렇게|딱히|그다지|절대|아예|좀|조금|너무|아직|정말|진짜|완전|솔직히|막|확실히)"
# after a match: the rest of its word (at most 3 syllables), then optionally one adverb
_TAIL = rf"^[가-힣]{{0,3}}\s*(?:{_ADVERB}\s*){{0,2}}"
_NEGATION_AFTER = re.compile(
    _TAIL + r"(?:(?:지|진|지는|지도|지가|치|친)\s*(?:않|안|못)|없|안\s*[되돼나]|(?:안|못)\s*[느들])"
)
# "나쁘지 않다 / 싫지 않다" is praise: no flip, no doubt
_NOT_BAD_AFTER = re.compile(r"^[가-힣]{0,2}\s*(?:나쁘|싫|부족하|모자라)지")
_DOUBT_AFTER = re.compile(_TAIL + r"(?:모르|몰라|별로|부족|아쉽|아쉬)")
_WISH_AFTER = re.compile(
    r"^[가-힣]{0,3}?(?:했으면|었으면|였으면|았으면|(?:으면|면)\s*좋겠|길\s*바|기를\s*바)"
    r"|^[가-힣]{0,2}\s*기대"
)
# "…할 때 / …했을 때" (but not "…할 때가 있다"): the phrase sets the scene, it says nothing of the product
_CONTEXT_AFTER = re.compile(r"^[가-힣]{0,3}\s*때(?!\s*(?:가|도|는)?\s*(?:있|많|종종|가끔))")
_NEGATION_BEFORE = re.compile(r"(?:^|[^가-힣])(?:안|덜|못)\s*$")


@lru_cache(maxsize=64)
def _idiom_before(words):
    """A word of `not_after` right before a match, then at most a particle and one adverb (rule 8)."""
    if not words:
        return None
    alternatives = "|".join(_phrase_pattern(w) for w in sorted(words, key=lambda w: -len(_key(w))))
    particle = r"(?:을|를|이|가|도|은|는|에|에도)?"
    return re.compile(rf"(?:{alternatives}){particle}\s*(?:{_ADVERB}\s*)?$")


@dataclasses.dataclass(frozen=True)
class Hit:
    """One phrase match: the attribute, its value (None: a wish or scene-setting rule dropped it),
    the span in the sentence, the phrase, and the rule that changed or dropped it ("" if none)."""

    attribute: str
    value: str | None
    start: int
    end: int
    phrase: str
    rule: str = ""


def _compile(phrases):
    """One pattern for an attribute's phrases: leftmost match, then the longest phrase."""
    ordered = sorted(phrases, key=lambda p: -len(_key(p)))
    return re.compile("|".join(_phrase_pattern(p) for p in ordered), re.IGNORECASE)


class PhraseTagger:
    """Tags a sentence with the taxonomy's example phrases and the rules in this module's docstring."""

    def __init__(self, taxonomy=None):
        self.taxonomy = list(taxonomy) if taxonomy is not None else load_taxonomy()
        self._compiled = []
        for attribute in self.taxonomy:
            side_of = {}
            for side, phrases in (("pos", attribute.examples), ("neg", attribute.negative_examples)):
                for phrase in phrases:
                    side_of.setdefault(_key(phrase), (side, phrase))
            self._compiled.append((attribute, _compile(p for _s, p in side_of.values()), side_of))

    def matches(self, sentence):
        """Every match that counts, in sentence order (spans index the sentence as given)."""
        hits = []
        for attribute, pattern, side_of in self._compiled:
            hits += [h for h in _attribute_hits(sentence, attribute, pattern, side_of) if h.value]
        hits.sort(key=lambda h: (h.start, h.end))
        return hits

    def tag(self, sentence):
        """``{attribute_id: "pos" | "neg" | "present"}`` for one sentence; the last match of an attribute decides."""
        labels = {}
        for hit in self.matches(sentence):
            labels[hit.attribute] = hit.value
        return labels

    def rule_reading(self, attribute_id, phrase):
        """How the rules read `phrase` through the attribute's other phrases: the last such match,
        or None. `load_taxonomy` refuses a phrase whose reading a rule changed to something else
        than its own side (``"안 촉촉"`` listed as positive, ``"촉촉했으면"`` as an example)."""
        for attribute, _pattern, side_of in self._compiled:
            if attribute.id == attribute_id:
                rest = {k: v for k, v in side_of.items() if k != _key(phrase)}
                if not rest:
                    return None
                hits = _attribute_hits(phrase, attribute, _compile(p for _s, p in rest.values()), rest)
                return hits[-1] if hits else None
        raise KeyError(attribute_id)


def _attribute_hits(sentence, attribute, pattern, side_of):
    hits = []
    for m in pattern.finditer(sentence):
        side, phrase = side_of[_key(m.group())]
        after, before = sentence[m.end() :], sentence[: m.start()]
        span = (m.start(), m.end(), phrase)
        if _WISH_AFTER.match(after) or _CONTEXT_AFTER.match(after):
            hits.append(Hit(attribute.id, None, *span, rule="wish" if _WISH_AFTER.match(after) else "context"))
            continue
        idiom = _idiom_before(attribute.not_after)
        if idiom is not None and idiom.search(before):
            hits.append(Hit(attribute.id, None, *span, rule="idiom"))
            continue
        if not attribute.polarity:
            hits.append(Hit(attribute.id, "present", *span))
            continue
        rule = ""
        if _NEGATION_BEFORE.search(before):
            side, rule = ("neg" if side == "pos" else "pos"), "negation"
        if _NOT_BAD_AFTER.match(after):
            pass
        elif _NEGATION_AFTER.match(after):
            side, rule = ("neg" if side == "pos" else "pos"), "negation"
        elif side == "pos" and _DOUBT_AFTER.match(after):
            side, rule = "neg", "doubt"
        hits.append(Hit(attribute.id, side, *span, rule=rule))
    return hits


# --- sentences ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def _review_rules():
    from plm.text import load_rules

    return load_rules("review")


def split_sentences(text):
    """A review's sentences, as the corpus builder splits and normalises them (`plm.text`, profile `review`)."""
    return split_many([text])[0]


def split_many(texts, chunk=500):
    """`split_sentences` for many texts at once (the corpus pipeline works a chunk at a time)."""
    from plm.text import normalise_documents

    rules, out = _review_rules(), []
    texts = [t or "" for t in texts]
    for i in range(0, len(texts), chunk):
        docs, _counts = normalise_documents(texts[i : i + chunk], rules)
        out.extend([s.strip() for s in doc if s.strip()] for doc in docs)
    return out
