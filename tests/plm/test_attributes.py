"""The attribute taxonomy, the phrase tagger, the sentence splitter and the labelled-set builder."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from plm.attributes import PhraseTagger, TaxonomyError, load_taxonomy, split_sentences
from plm.splits import stable_split
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "data" / "labelled" / "attributes"


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="module")
def tagger(taxonomy):
    return PhraseTagger(taxonomy)


def _build_module():
    return load_script(BUILD_DIR / "build.py", "attributes_build")


# --- the taxonomy ---------------------------------------------------------------------


def test_taxonomy_loads_with_unique_well_formed_ids(taxonomy):
    ids = [a.id for a in taxonomy]
    assert 18 <= len(ids) <= 25
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z_]+", i) for i in ids)
    for a in taxonomy:
        assert a.ko and a.en and a.definition and a.examples
        if a.polarity:
            assert a.positive and a.negative and a.negative_examples
        else:
            assert not a.negative_examples and a.allowed_values() == ("present",)
    assert {"moisture", "soothing", "exfoliation", "smoothness", "white_cast", "eye_sting"} <= set(ids)


def test_every_example_phrase_tags_its_own_attribute_and_side(taxonomy, tagger):
    for a in taxonomy:
        for phrase in a.examples:
            assert tagger.tag(phrase).get(a.id) == ("pos" if a.polarity else "present"), (a.id, phrase)
        for phrase in a.negative_examples:
            assert tagger.tag(phrase).get(a.id) == "neg", (a.id, phrase)


def _write(tmp_path, body):
    path = tmp_path / "attributes.toml"
    path.write_text("version = 1\n" + body, encoding="utf-8")
    return path


GOOD = """
[[attribute]]
id = "moisture"
ko = "보습"
en = "Moisturising"
definition = "촉촉한지"
polarity = true
positive = "촉촉하다"
negative = "건조하다"
examples = ["촉촉"]
negative_examples = ["당겨요"]
"""


def test_a_small_valid_taxonomy_loads(tmp_path):
    (attribute,) = load_taxonomy(_write(tmp_path, GOOD))
    assert attribute.id == "moisture" and attribute.examples == ("촉촉",)


@pytest.mark.parametrize(
    "body, message",
    [
        (GOOD + GOOD, "attribute id 'moisture' is used twice"),
        (GOOD.replace('id = "moisture"', 'id = "Moisture-1"'), "id must be lower-case letters"),
        (GOOD.replace('ko = "보습"\n', ""), "'moisture': field 'ko' is missing"),
        (GOOD.replace('positive = "촉촉하다"\n', ""), "'moisture': polarity = true needs field 'positive'"),
        (GOOD.replace("polarity = true", "polarity = false"), "polarity = false (presence only) but positive"),
        (GOOD.replace('examples = ["촉촉"]', "examples = []"), "'examples' is missing or empty"),
        (GOOD.replace('examples = ["촉촉"]', 'examples = ["촉촉", "촉 촉"]'), "listed twice"),
        (
            GOOD.replace('examples = ["촉촉"]', 'examples = ["촉촉", "촉촉하지 않"]'),
            "example phrase '촉촉하지 않' contradicts the tagger's negation rule",
        ),
        (
            GOOD.replace('examples = ["촉촉"]', 'examples = ["촉촉", "안 촉촉"]'),
            "'안 촉촉' contradicts the tagger's negation rule: in a sentence, '촉촉' and the rule read it as neg",
        ),
        (
            GOOD.replace('examples = ["촉촉"]', 'examples = ["촉촉", "촉촉했으면"]'),
            "'촉촉했으면' contradicts the tagger's wish rule",
        ),
        (GOOD + 'colour = "blue"\n', "unknown field(s) colour"),
        (GOOD + 'not_after = "계절"\n', "'not_after' must be a list of strings"),
        (GOOD + 'not_after = [""]\n', "'not_after' holds an empty phrase"),
    ],
)
def test_a_broken_taxonomy_gives_a_clear_error(tmp_path, body, message):
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(_write(tmp_path, body))
    assert message in str(err.value)


def test_a_missing_or_malformed_file_is_named(tmp_path):
    with pytest.raises(TaxonomyError, match="taxonomy file not found"):
        load_taxonomy(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[[attribute]\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid TOML"):
        load_taxonomy(bad)
    for version in ("0", "-1", '"2"', "true", "1.5"):
        wrong = tmp_path / "wrong.toml"
        wrong.write_text(f"version = {version}\n" + GOOD, encoding="utf-8")
        with pytest.raises(TaxonomyError, match="version = .*; give the taxonomy's version, a whole number"):
            load_taxonomy(wrong)
    v2 = tmp_path / "v2.toml"  # a later version of the content loads
    v2.write_text("version = 2\n" + GOOD, encoding="utf-8")
    assert load_taxonomy(v2)


# --- the tagger -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("정말 촉촉하고 끈적임 없이 흡수도 빠르네요", {"moisture": "pos", "stickiness": "pos", "absorption": "pos"}),
        ("생각보다 안 촉촉해요", {"moisture": "neg"}),
        ("막 그렇게 촉촉하진 않아서 건성분들은 다른 크림을 더 바르셔야 해요", {"moisture": "neg"}),
        ("건조하지도 않고 순해요", {"moisture": "pos", "irritation": "pos"}),
        ("바르면 살짝 따가워요", {"irritation": "neg"}),
        ("예민한 피부인데 전혀 안 따가워요", {"irritation": "pos"}),
        ("따끔거림은 못 느꼈어요", {"irritation": "pos"}),
        ("백탁이 거의 없어서 좋아요", {"white_cast": "pos"}),
        ("하얗게 뜨고 눈시림이 심해요", {"white_cast": "neg", "eye_sting": "neg"}),
        ("미백 효과는 잘 모르겠어요", {"brightening": "neg"}),
        ("좀 더 촉촉했으면 좋겠어요", {}),
        ("진정 효과 기대하고 샀어요", {}),
        ("트러블이 올라올 때 발라주면 좋아요", {}),
        ("처음엔 건조했는데 지금은 촉촉해요", {"moisture": "pos"}),
        ("펌프형이라 쓰기 편하고 가성비도 좋아요", {"packaging": "present", "price_volume": "pos"}),
        ("가격이 좀 비싸요", {"price_volume": "neg"}),
        ("접착력도 나쁘지 않아요", {"adhesion": "pos"}),
        ("계속 쓰던 수분크림에서 갈아탔습니다.", {}),
        ("배송이 빨라서 좋아요", {}),
        # taxonomy version 2: praise the negative "향이 너무" used to read as a complaint
        ("기분 좋은 은은한 장미향이 너무 좋아요", {"scent": "pos"}),
        ("향이 너무 강해요", {"scent": "neg"}),
        # rule 8 (not_after): idioms of 타다 are no sun protection; tanning is
        ("계절 안타고 무난무난하게 사용하기 좋은 수분크림입니다!", {}),
        ("피부타입 크게 안타고 다 쓸 수 있는 제형이에요", {}),
        ("손이 덜 타니까 위생적이에요", {}),
        ("바다 가서 썼는데 안 타고 쿨링감도 있어요", {"uv_protection": "pos", "cooling": "present"}),
    ],
)
def test_the_tagger_tags_planted_sentences(tagger, sentence, expected):
    assert tagger.tag(sentence) == expected


def test_spaces_in_phrases_are_optional_and_spans_point_into_the_sentence(tagger):
    for sentence in ("끈적임이없어요", "끈적임이  없어요"):
        assert tagger.tag(sentence) == {"stickiness": "pos"}
    sentence = "음 향이좋아요"
    (hit,) = tagger.matches(sentence)
    assert (hit.attribute, hit.value, sentence[hit.start : hit.end]) == ("scent", "pos", "향이좋")


# --- the splitter ------------------------------------------------------------------------

# oliveyoung_cream_essence_reviews (a real review, as in the shared data)
REVIEW = (
    "우선 제 피부는 무척 건조한 건성타입 피부입니다. 🌿 가을철과 겨울철에 특히 피부가 많이 건조해지고 약해져서 "
    "각질뿐만 아니라 주름도 더 깊게 나타나고는 해요. 우선 제형은 묽은제형이에요. 흐를정도의 제형입니다. "
    "향은 약간의 허브향이 느껴졌습니다. 용량도 꽤 많아서 꾸준히 사용해보겠습니다.🙂❤️"
)


def test_the_splitter_splits_a_real_review_like_the_corpus_builder():
    from plm.text import load_rules, normalise_text

    sentences = split_sentences(REVIEW)
    assert sentences == normalise_text(REVIEW, load_rules("review")).split("\n")
    assert len(sentences) == 6
    assert sentences[0] == "우선 제 피부는 무척 건조한 건성타입 피부입니다."
    assert sentences[3] == "흐를정도의 제형입니다."
    assert split_sentences("") == []


def test_the_module_imports_nothing_heavy():
    code = (
        "import sys, plm.attributes as a; a.load_taxonomy(); "
        "print(sorted(m for m in ('numpy', 'torch', 'emoji', 'plm.text') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the builder ---------------------------------------------------------------------------


def test_select_draws_random_and_stratified_sentences_split_by_product(taxonomy):
    build = _build_module()
    pool = [
        {"text": f"그냥 평범한 문장 {i}번이에요", "review_ref": f"set/f.csv:{i}", "product_id": f"p{i % 7}"}
        for i in range(300)
    ]
    pool += [{"text": f"눈시림이 없어요 {i}", "review_ref": f"set/g.csv:{i}", "product_id": "p-sun"} for i in range(5)]
    rows = build.select(pool, taxonomy, n_total=40, n_random=20, seed=1)
    assert len(rows) == 40 and len({r["text"] for r in rows}) == 40
    # the one attribute with hits gives all it has; random sentences fill up the rest
    assert {r["selected_by"] for r in rows} == {"random", "phrase:eye_sting"}
    assert all("눈시림" in r["text"] for r in rows if r["selected_by"] == "phrase:eye_sting")
    assert sum("눈시림" in r["text"] for r in rows) == 5  # a rare attribute gives all it has
    assert [r["id"] for r in rows] == [f"s-{n:06d}" for n in range(1, 41)]
    assert all(r["split"] == stable_split(r["product_id"], (0.7, 0.15, 0.15)) for r in rows)


def test_merge_checks_reject_bad_labels_and_changed_text(taxonomy):
    build = _build_module()
    sentences_of = {"set/f.csv:1": ["촉촉해요"]}
    row = {
        "id": "s-000001",
        "text": "촉촉해요",
        "review_ref": "set/f.csv:1",
        "product_id": "p1",
        "split": stable_split("p1", (0.7, 0.15, 0.15)),
        "selected_by": "random",
        "labels": {"moisture": "pos"},
    }
    assert build.check_rows([row], taxonomy, sentences_of, "t") == []
    bad = [
        dict(row, labels={"moisture": "present"}),
        dict(row, id="s-2", labels={"wetness": "pos"}),
        dict(row, id="s-3", labels={"packaging": "pos"}),
        dict(row, id="s-4", text="촉촉해요!"),
        dict(row, id="s-5", split="test" if row["split"] != "test" else "train"),
        dict(row, id="s-6", labels=["moisture"]),
    ]
    problems = "\n".join(build.check_rows(bad, taxonomy, sentences_of, "t"))
    for expected in (
        "label moisture='present' is not one of pos, neg",
        "unknown attribute id 'wetness'",
        "label packaging='pos' is not one of present",
        "s-4: text is not a sentence of its source",
        "s-5: split",
        "s-6: 'labels' must be an object",
    ):
        assert expected in problems


def _batch(b):
    return [json.loads(line) for line in (BUILD_DIR / "batches" / f"batch-{b}.jsonl").open(encoding="utf-8")]


def test_the_batch_files_hold_their_sentences_as_the_schema_says():
    """Batches 1-3: the first selection (550 each, random or stratified by the phrase tagger, every split).
    Batches 4-6: `select-more` rounds (400 each, random or the back-off tagger's uncertainty, train and
    validation products only, so the test split stays the 209 sentences it was), ids following on. Batch 7:
    `select-test`, 300 sentences of test products drawn at random."""
    ids, texts = [], set()
    for b in (1, 2, 3, 4, 5, 6, 7):
        rows = _batch(b)
        assert len(rows) == (550 if b <= 3 else 400 if b <= 6 else 300)
        for r in rows:
            assert list(r) == ["id", "text", "review_ref", "product_id", "split", "selected_by"]
            assert len(r["text"]) >= 6 and re.fullmatch(r"oliveyoung_[a-z_0-9]+/.+:\d+", r["review_ref"])
            assert r["split"] == stable_split(r["product_id"], (0.7, 0.15, 0.15))
            if b <= 3:
                assert r["selected_by"] == "random" or r["selected_by"].startswith("phrase:")
            elif b == 7:
                assert r["split"] == "test" and r["selected_by"] == "random"
            else:
                assert r["split"] in ("train", "validation")
                assert r["selected_by"] == "random" or r["selected_by"].startswith("uncertain:")
            assert r["text"] not in texts
            texts.add(r["text"])
            ids.append(r["id"])
        if 3 < b < 7:
            assert sum(r["selected_by"] == "random" for r in rows) == 100
            uncertain = [r["review_ref"] for r in rows if r["selected_by"] != "random"]
            assert len(set(uncertain)) == 300
            others = [r["review_ref"] for r in rows if r["selected_by"] == "random"]
            assert not set(uncertain) & set(others)  # an uncertain sentence's review gives no other
    assert sorted(ids) == [f"s-{n:06d}" for n in range(1, 3151)]


class _FakeRegression:
    """Moisture's probability is the number the text ends with, in hundredths."""

    def probabilities(self, texts):
        import numpy as np

        from plm.attributes_model import label_layout

        layout = label_layout(load_taxonomy())
        rows = np.zeros((len(texts), len(layout)))
        for i, text in enumerate(texts):
            rows[i, layout.index("moisture:pos")] = int(text.rsplit(" ", 1)[1]) / 100
        return rows


class _FakeTagger:
    def __init__(self, taxonomy):
        from plm.attributes_model import label_layout

        self.layout, self.thresholds = label_layout(taxonomy), {"moisture": 0.4}
        self.regression, self.phrases = _FakeRegression(), PhraseTagger(taxonomy)

    def regression_probabilities(self, texts):
        return self.regression.probabilities(texts)


def test_uncertainty_is_closeness_to_the_threshold_and_skips_what_a_phrase_decides(taxonomy):
    build = _build_module()
    tagger = _FakeTagger(taxonomy)
    scores = build.uncertainty(tagger, ["그냥 문장 40", "그냥 문장 70", "그냥 문장 0", "정말 촉촉해요 40"])
    assert scores[0] == (1.0, "moisture")  # at the threshold
    assert scores[1][1] == "moisture" and scores[1][0] == pytest.approx(0.5)  # half-way from 0.4 to 1
    assert scores[2][0] == pytest.approx(0.0)
    assert scores[3][1] != "moisture"  # a phrase decides moisture there: not a question to ask


def test_select_more_draws_uncertain_and_random_sentences_outside_the_test_split(taxonomy):
    build = _build_module()
    products = [f"p{i}" for i in range(40)]
    split_of = {p: stable_split(p, (0.7, 0.15, 0.15)) for p in products}
    assert "test" in split_of.values()
    pool = [
        {"text": f"그냥 평범한 문장 {i} {i % 101}", "review_ref": f"set/f.csv:{i // 2}", "product_id": products[i % 40]}
        for i in range(600)
    ]
    labelled = [{"id": "s-000007", "text": pool[0]["text"]}]
    rows = build.select_more(pool, labelled, _FakeTagger(taxonomy), n_total=60, n_random=20, seed=3, first_id=8)
    assert len(rows) == 60 and [r["id"] for r in rows] == [f"s-{n:06d}" for n in range(8, 68)]
    assert all(r["split"] == split_of[r["product_id"]] != "test" for r in rows)
    assert pool[0]["text"] not in {r["text"] for r in rows}
    picked = [r for r in rows if r["selected_by"] != "random"]
    randoms = {r["review_ref"] for r in rows if r["selected_by"] == "random"}
    assert len({r["review_ref"] for r in picked}) == len(picked) and not randoms & {r["review_ref"] for r in picked}
    assert len(picked) == 40 and {r["selected_by"] for r in picked} == {"uncertain:moisture"}

    # the uncertain ones are those nearest the threshold (40 hundredths; probabilities run 0-100)
    def distance(r):
        return abs(int(r["text"].rsplit(" ", 1)[1]) - 40)

    assert max(map(distance, picked)) <= 8
    drawn = [r for r in rows if r["selected_by"] == "random"]
    assert sum(map(distance, picked)) / len(picked) < sum(map(distance, drawn)) / len(drawn) / 5


def test_select_test_draws_unlabelled_test_sentences_uniformly():
    build = _build_module()
    products = [f"p{i}" for i in range(40)]
    split_of = {p: stable_split(p, (0.7, 0.15, 0.15)) for p in products}
    pool = [
        {"text": f"그냥 평범한 문장 {i}", "review_ref": f"set/f.csv:{i // 2}", "product_id": products[i % 40]}
        for i in range(2000)
    ]
    in_test = [r for r in pool if split_of[r["product_id"]] == "test"]
    labelled = [{"id": "s-000007", "text": in_test[0]["text"]}]
    rows = build.select_test(pool, labelled, 50, seed=3, first_id=8)
    assert [r["id"] for r in rows] == [f"s-{n:06d}" for n in range(8, 58)]
    assert all(r["split"] == "test" == split_of[r["product_id"]] and r["selected_by"] == "random" for r in rows)
    assert in_test[0]["text"] not in {r["text"] for r in rows} and len({r["text"] for r in rows}) == 50
    assert rows == build.select_test(pool, labelled, 50, seed=3, first_id=8)  # the seed fixes the draw
    assert rows != build.select_test(pool, labelled, 50, seed=4, first_id=8)
    # uniform: about as many from the first half of the pool as from the second
    first_half = {r["text"] for r in in_test[: len(in_test) // 2]}
    assert 15 <= sum(r["text"] in first_half for r in rows) <= 35
    with pytest.raises(SystemExit, match="the test split has only"):
        build.select_test(pool, labelled, len(in_test), seed=3)


def test_select_more_refuses_bad_counts_and_a_batch_not_merged_yet(tmp_path, monkeypatch):
    build = _build_module()
    monkeypatch.setattr(build, "BATCH_DIR", tmp_path)
    monkeypatch.setattr(build, "OUTPUT", tmp_path / "sentences.jsonl")
    for b in (1, 2, 3):
        build.write_jsonl(tmp_path / f"batch-{b}.jsonl", [{"id": f"s-00000{b}", "text": f"문장 {b}"}])
    build.write_jsonl(tmp_path / "labelled-3.jsonl", [{"id": "s-000003", "text": "문장 3", "labels": {}}])
    build.write_jsonl(tmp_path / "sentences.jsonl", [{"id": "s-000001"}, {"id": "s-000002"}])
    with pytest.raises(SystemExit, match="--random between 0 and it \\(got 5 and 9\\)"):
        build.main(["select-more", "--count", "5", "--random", "9"])
    # labelled but not merged: its texts are not in sentences.jsonl, so they could be drawn again
    with pytest.raises(SystemExit, match="batch-3.jsonl is not in sentences.jsonl yet: label it and run merge"):
        build.main(["select-more"])
    with pytest.raises(SystemExit, match="batch-3.jsonl is not in sentences.jsonl yet: label it and run merge"):
        build.main(["select-test"])
    with pytest.raises(SystemExit, match="--count must be positive \\(got 0\\)"):
        build.main(["select-test", "--count", "0"])
