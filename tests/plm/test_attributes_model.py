"""The attribute model: multi-label training on tiny data, thresholds read back, the loader's output, the evaluation."""

import json

import pytest
from django.core.management import CommandError, call_command

from plm import attributes_model as am
from plm.attributes import load_taxonomy
from tests import tiny


def planted_rows():
    """Real sample reviews: those saying 촉촉 carry moisture:pos, the others no attribute (split by position)."""
    texts = [t for t in tiny.sample_texts() if t and len(t) < 200]
    moist = [t for t in texts if "촉촉" in t]
    other = [t for t in texts if "촉촉" not in t and "보습" not in t and "건조" not in t][: len(moist)]
    rows = []
    for i, (text, labels) in enumerate([(t, {"moisture": "pos"}) for t in moist] + [(t, {}) for t in other]):
        split = ("train", "train", "train", "train", "validation", "test")[i % 6]
        rows.append(
            {"id": f"r-{i}", "text": text, "split": split, "selected_by": "random", "product_id": "p", "labels": labels}
        )
    return rows


def test_label_layout_and_targets():
    taxonomy = load_taxonomy()
    layout = am.label_layout(taxonomy)
    assert layout[:2] == ["moisture:pos", "moisture:neg"]
    assert "cooling:present" in layout and "cooling:pos" not in layout
    assert len(layout) == sum(2 if a.polarity else 1 for a in taxonomy)
    vector = am.targets({"moisture": "neg", "cooling": "present"}, layout)
    assert sum(vector) == 2 and vector[1] == 1.0 and vector[layout.index("cooling:present")] == 1.0


def test_decode_takes_the_larger_output_when_the_largest_reaches_the_threshold():
    layout = ["moisture:pos", "moisture:neg", "cooling:present", "scent:pos", "scent:neg"]
    row = [0.30, 0.55, 0.2, 0.4, 0.1]
    assert am.decode(row, layout, {"moisture": 0.5, "cooling": 0.1, "scent": 0.45}) == {
        "moisture": ("neg", 0.55),
        "cooling": ("present", 0.2),
    }


def test_thresholds_maximise_each_attributes_validation_f1():
    layout = ["moisture:pos", "moisture:neg", "cooling:present"]
    gold = [{"moisture": "pos"}, {"moisture": "neg"}, {}, {}]
    probabilities = [[0.7, 0.1, 0.0], [0.1, 0.42, 0.0], [0.38, 0.2, 0.9], [0.1, 0.1, 0.1]]
    thresholds = am.choose_thresholds(gold, probabilities, layout)
    # 0.40 catches both mentions (0.7, 0.42) and not the 0.38 row: F1 1.0 (0.45 already misses 0.42)
    assert thresholds["moisture"] == 0.4
    assert thresholds["cooling"] == 0.5  # no validation mention: the default


def test_evaluation_against_a_hand_computed_example():
    gold = [{"moisture": "pos", "scent": "neg"}, {"cooling": "present"}, {}, {"moisture": "neg"}]
    predicted = [
        {"moisture": ("pos", 0.9)},
        {"cooling": ("present", 0.8), "scent": ("pos", 0.7)},
        {"scent": "pos"},
        {"moisture": "pos"},
    ]
    m = am.evaluate(gold, predicted, ["moisture", "scent", "cooling"])
    # pairs: tp = moisture(0), cooling(1), moisture(3) = 3; fp = scent(1), scent(2) = 2; fn = scent(0) = 1
    assert (m["tp"], m["fp"], m["fn"]) == (3, 2, 1)
    assert m["precision"] == pytest.approx(3 / 5) and m["recall"] == pytest.approx(3 / 4)
    assert m["micro_f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))  # 0.6667
    # polarity over the pairs both mark present, pos/neg attributes only: moisture(0) right, moisture(3) wrong
    assert m["polarity_pairs"] == 2 and m["polarity_accuracy"] == 0.5
    assert m["per_attribute"]["scent"] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1, "predicted": 2}
    assert m["per_attribute"]["cooling"]["f1"] == 1.0


def test_review_topic_is_the_effect_most_sentences_name_and_the_feel_only_without_one():
    # one sentence with two 사용감 attributes does not outvote one 보습 sentence
    assert (
        am.review_topic([{"moisture": ("pos", 1.0)}, {"stickiness": ("pos", 1.0), "absorption": ("pos", 1.0)}])
        == "보습"
    )
    # nor do two sentences of feel: an effect named at all is the topic, however unsure
    assert am.review_topic([{"moisture": "pos"}, {"stickiness": "pos"}, {"lightness": "pos"}]) == "보습"
    assert (
        am.review_topic([{"lightness": ("pos", 1.0)}, {"lightness": ("pos", 1.0)}, {"soothing": ("pos", 0.3)}])
        == "진정"
    )
    # the feel where no sentence names an effect
    assert am.review_topic([{"stickiness": "pos"}, {"scent": "neg"}]) == "사용감"
    # among effects, the most sentences win, and a tie goes to 보습, then 진정, then 자극
    assert am.review_topic([{"moisture": "pos"}, {"soothing": "pos"}, {"soothing": ("pos", 0.6)}]) == "진정"
    assert am.review_topic([{"soothing": "pos"}, {"moisture": "pos"}]) == "보습"
    assert am.review_topic([{"irritation": "neg"}, {"soothing": "pos"}]) == "진정"
    # probabilities weigh: a sure 진정 sentence beats an unsure 보습 one
    assert am.review_topic([{"moisture": ("pos", 0.4)}, {"soothing": ("pos", 0.9)}]) == "진정"
    # polarity decides between 진정 (gentle, no breakouts) and 자극 (stings, breaks out)
    assert am.review_topic([{"irritation": "pos"}]) == "진정"
    assert am.review_topic([{"irritation": "neg"}]) == "자극"
    assert am.review_topic([{"breakouts": ("neg", 0.8)}]) == "자극"
    assert am.review_topic([{"scent": "pos"}]) is None
    assert am.review_topic([]) is None


def test_learned_topic_agreement_fits_on_train_products_and_scores_the_others(tmp_path):
    layout = ["moisture:pos", "soothing:pos"]
    reviews, tags = [], []
    for i in range(40):
        topic = "보습" if i % 2 else "진정"
        reviews.append({"topic": topic, "split": "train" if i < 30 else "test"})
        tags.append([{"moisture" if topic == "보습" else "soothing": "pos"}])
    result, aggregation = am.learned_topic_agreement(layout, tags, reviews)
    assert result["fitted_on"] == 30 and result["reviews"] == 10
    assert result["agreement"] == 1.0 and result["majority_share"] == 0.5
    assert result["interval_95"][0] > 0.6 and result["confusion"] == {"보습->보습": 5, "진정->진정": 5}
    assert aggregation.review_topic([{"soothing": "pos"}], [[0.0, 1.0]]) == "진정"
    # saved as JSON, it answers the same
    aggregation.save(tmp_path)
    again = am.TopicAggregation.load(tmp_path)
    features = [am.topic_features(t, am.tag_probabilities(t, layout), layout) for t in tags]
    assert again.predict(features) == aggregation.predict(features) == [r["topic"] for r in reviews]
    assert am.TopicAggregation.load(tmp_path / "none") is None
    # the probabilities below the threshold count too: untagged sentences, told apart by them alone
    quiet = [[{}] for _ in tags]
    p = [[[0.3, 0.1] if r["topic"] == "보습" else [0.1, 0.3]] for r in reviews]
    assert am.learned_topic_agreement(layout, quiet, reviews, p)[0]["agreement"] == 1.0
    # tags that carry nothing leave it at chance
    blind, _ = am.learned_topic_agreement(layout, quiet, reviews)
    assert blind["agreement"] == 0.5


def test_the_topic_aggregation_is_scikit_learns_and_refuses_a_wrong_shape(tmp_path):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    layout = ["moisture:pos", "soothing:pos", "irritation:neg"]
    rng = np.random.default_rng(0)
    x = rng.random((60, 3 * len(layout) + 1))
    y = [["보습", "진정", "자극"][int(row[:3].argmax())] for row in x]
    ours = am.TopicAggregation.fit(layout, x, y, c=3.0)
    theirs = LogisticRegression(C=3.0, max_iter=5000).fit(x, y)
    assert ours.predict(x) == list(theirs.predict(x)) and ours.info["C"] == 3.0
    binary = ["보습" if t == "보습" else "진정" for t in y]  # scikit-learn keeps one row for two classes
    two = am.TopicAggregation.fit(layout, x, binary)
    assert two.coef.shape == (2, len(x[0])) and set(binary) == {"보습", "진정"}
    assert two.predict(x) == list(LogisticRegression(max_iter=5000).fit(x, binary).predict(x))
    with pytest.raises(am.AttributeModelError, match=r"do not fit 3 topics over 2 outputs"):
        am.TopicAggregation(layout[:2], ours.classes, ours.coef, ours.intercept)
    (tmp_path / am.TOPIC_FILE).write_text('{"layout": []}', encoding="utf-8")
    with pytest.raises(am.AttributeModelError, match="topic.json: not a topic aggregation"):
        am.TopicAggregation.load(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_classifier_dir):
    directory = tmp_path_factory.mktemp("attributes") / "model"
    data = directory.parent / "sentences.jsonl"
    rows = planted_rows()
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    # The training flags have the shape of tests/plm/test_finetune.py's run: each test passes its own command line.
    call_command(
        "finetune_classifier",
        "attributes",
        "--data",
        str(data),
        "--base-model",
        str(tiny_classifier_dir),
        "--output",
        str(directory),
        "--epochs",
        "40",
        "--patience",
        "40",
        "--learning-rate",
        "2e-3",
        "--batch-size",
        "16",
        "--max-length",
        "64",
        "--threads",
        "1",
        "--topic-check",
        "no",
    )
    return directory


def test_the_model_learns_a_planted_attribute_and_saves_its_thresholds(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"]["0"] == "moisture:pos" and len(config["id2label"]) == len(
        am.label_layout(load_taxonomy())
    )
    info = json.loads((trained / "attributes.json").read_text())
    metrics = json.loads((trained / "metrics.json").read_text())
    assert info["thresholds"] == metrics["thresholds"] and info["taxonomy_version"] == am.taxonomy_version()
    assert info["labels"][:2] == ["moisture:pos", "moisture:neg"]
    per_label = json.loads((trained / "thresholds.json").read_text())
    assert per_label["moisture:neg"] == per_label["moisture:pos"] == info["thresholds"]["moisture"]
    tagger = am.load(trained)
    assert tagger.thresholds == info["thresholds"]  # read back
    tags = tagger.tag(["이 크림 진짜 촉촉해요", "배송이 빨랐어요"])
    assert tags[0].get("moisture", (None,))[0] == "pos"
    # the text decides, not the prior: on the held-out test rows (real reviews, 17 moist and 18 others),
    # the moisture:pos probability ranks moist above other and separates them. (Three hand-written probes
    # per side used to carry this check; one of them, "배송이 빨랐어요", scored 0.63-0.99 in 6 of 9 runs,
    # so their mean hung on one sentence and fell under the bar in two full-suite runs. Over 9 runs with
    # the tiny tokenizer's ids in the trainer's random order: AUROC 0.935-1.0, gap 0.49-0.82. Its ids are
    # fixed now (plm.vocab.canonical_ids), and so is this run: AUROC 0.99, gap 0.28.)
    held_out = [r for r in planted_rows() if r["split"] == "test"]
    scores = [row[0] for row in tagger.probabilities([r["text"] for r in held_out])]
    moist = [s for s, r in zip(scores, held_out) if r["labels"]]
    other = [s for s, r in zip(scores, held_out) if not r["labels"]]
    assert len(moist) >= 15 and len(other) >= 15
    pairs_ranked = sum((m > o) + 0.5 * (m == o) for m in moist for o in other) / (len(moist) * len(other))
    assert pairs_ranked >= 0.85  # AUROC
    assert sum(moist) / len(moist) - sum(other) / len(other) > 0.15
    # the printed comparison's figures are in metrics.json, for the model and both baselines, all and random rows
    systems = metrics["evaluation"]["subsets"]["random"]
    assert set(systems) == {"model", "phrase_tagger", "tfidf_lr"}
    assert systems["model"]["per_attribute"]["moisture"]["support"] > 0


def test_the_loader_answers_one_dict_per_sentence_in_input_order(trained):
    tagger = am.load(trained, batch_size=2)
    sentences = ["배송이 빨랐어요", "정말 촉촉해요 " * 20, "", "촉촉해서 좋아요"]
    tags = tagger.tag(sentences)
    assert isinstance(tags, list) and len(tags) == 4
    for row in tags:
        for attribute, value in row.items():
            assert attribute in tagger.thresholds
            polarity, probability = value
            assert polarity in ("pos", "neg", "present") and isinstance(probability, float)
            assert tagger.thresholds[attribute] <= probability <= 1.0
    # the same sentences one by one (no length sorting, no padding) tag the same
    assert [tagger.tag([s])[0] for s in sentences] == [
        {a: (p, pytest.approx(q, abs=1e-5)) for a, (p, q) in row.items()} for row in tags
    ]
    assert tagger.tag([]) == []


def test_remeasure_writes_the_figures_of_a_grown_test_split_and_keeps_the_training_record(trained, tmp_path):
    import shutil

    directory = tmp_path / "model"
    shutil.copytree(trained, directory)
    before = json.loads((directory / "metrics.json").read_text())
    rows = planted_rows()
    same = tmp_path / "same.jsonl"
    same.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert am.remeasure(directory, same, log=lambda _: None)["subsets"] == before["evaluation"]["subsets"]
    assert json.loads((directory / "metrics.json").read_text()) == before  # nothing changed: nothing written

    # the test split grows by every validation row (a stand-in for newly labelled test sentences)
    grown = tmp_path / "grown.jsonl"
    moved = [dict(r, split="test") if r["split"] == "validation" else r for r in rows]
    grown.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in moved), encoding="utf-8")
    evaluation = am.remeasure(directory, grown, log=lambda _: None)
    after = json.loads((directory / "metrics.json").read_text())
    tests = [r for r in moved if r["split"] == "test"]
    assert after["evaluation"] == evaluation and evaluation["subsets"]["all"]["model"]["examples"] == len(tests)
    assert after["examples"]["test"] == len(tests) and after["remeasured"]["test_sentences"] == len(tests)
    assert after["remeasured"]["before"]["micro_f1"] == before["evaluation"]["subsets"]["all"]["model"]["micro_f1"]
    expected = am.evaluate(
        [r["labels"] for r in tests],
        am.load(directory).tag([r["text"] for r in tests]),
        [a.id for a in load_taxonomy()],
    )
    assert evaluation["subsets"]["all"]["model"]["micro_f1"] == pytest.approx(expected["micro_f1"])
    for key in ("history", "thresholds", "best_epoch", "train_seconds", "config"):
        assert after[key] == before[key]  # how it was trained stays as it was
    (directory / "metrics.json").write_text(json.dumps({"task": "unused"}))
    with pytest.raises(am.AttributeModelError, match="not the metrics of an attribute model"):
        am.remeasure(directory, grown)


def test_load_refuses_a_directory_without_attributes_json(tiny_classifier_dir):
    with pytest.raises(am.AttributeModelError, match="attributes.json"):
        am.load(tiny_classifier_dir)


def test_bad_labelled_rows_and_options_are_refused(tmp_path, tiny_classifier_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "촉촉", "split": "train", "labels": {"moisture": "present"}}) + "\n")

    def refused(match, *flags, task="attributes"):
        start = ["--base-model", str(tiny_classifier_dir)] if task == "attributes" else []
        with pytest.raises(CommandError, match=match):
            call_command("finetune_classifier", task, *start, "--output", str(tmp_path / "out"), *flags)

    refused("moisture takes pos/neg, not 'present'", "--data", str(bad), "--topic-check", "no")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"text": "촉촉", "split": "train", "labels": {}}) + "\n\n{not json\n")
    refused(r"broken.jsonl:3: not valid JSON", "--data", str(broken), "--topic-check", "no")
    refused(r"missing.jsonl: cannot read it", "--data", str(tmp_path / "missing.jsonl"), "--topic-check", "no")
    refused("--weak-target", "--weak-target", "2")
    refused(r"--weak-teacher needs --weak-labels N", "--weak-teacher", str(tmp_path))
    refused(
        r"--weak-teacher: .*backoff.json: not a back-off tagger's",
        "--weak-labels",
        "10",
        "--weak-teacher",
        str(tmp_path),
    )
    refused("--weak-labels applies to the attributes task only", "--weak-labels", "10", task="unused")
    assert not (tmp_path / "out").exists()


class _Teacher:
    """Probability rows that say which sentence they were asked about (its length, over 1000)."""

    def __init__(self, width):
        self.width, self.asked = width, []

    def probabilities(self, texts):
        self.asked += list(texts)
        return [[min(len(t), 999) / 1000.0] * self.width for t in texts]


def test_weak_sentences_take_a_teachers_probabilities_as_soft_targets_and_never_a_labelled_text():
    """The real shared reviews of train-split products: the teacher's rows are the targets, row for row;
    no hand-labelled text and no sentence of a product the hand labels put in validation or test."""
    from plm.attributes import split_many
    from plm.beauty import dedupe, load_reviews
    from plm.shared import shared_data_dir
    from plm.splits import stable_split

    taxonomy = load_taxonomy()
    layout = am.label_layout(taxonomy)
    labelled = am.load_sentences(taxonomy=taxonomy)
    teacher = _Teacher(len(layout))
    texts, labels, info = am.weak_sentences(labelled, taxonomy, limit=300, seed=5, log=lambda _: None, teacher=teacher)
    assert len(texts) == 300 and teacher.asked == texts
    assert labels == [[min(len(t), 999) / 1000.0] * len(layout) for t in texts]
    assert info["teacher"].endswith("(probabilities as soft targets)") and info["sentences"] == 300
    assert not set(texts) & {r["text"] for r in labelled}
    # every one is a sentence of a train-split product's review that the hand labels do not hold out
    held_out = {r["product_id"] for r in labelled if r["split"] != "train"}
    reviews = dedupe(load_reviews(shared_data_dir()))
    assert any(r["product_id"] in held_out for r in reviews)  # the rule has something to leave out
    train_reviews = [
        r for r in reviews if stable_split(r["product_id"], am.FRACTIONS) == "train" and r["product_id"] not in held_out
    ]
    allowed_sentences = {s for ss in split_many([r["text"] for r in train_reviews]) for s in ss}
    assert set(texts) <= allowed_sentences
    # without a teacher: the phrase tagger's hard tags, as before
    texts2, labels2, info2 = am.weak_sentences(labelled, taxonomy, limit=300, seed=5, log=lambda _: None)
    assert texts2 == texts and all(isinstance(lab, dict) for lab in labels2) and "phrase tagger" in info2["teacher"]
