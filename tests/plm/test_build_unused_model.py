"""`make unused-model` (build_unused_model), the command that rebuilds the shipped classifier, at toy scale:
pool, vocabulary, the semi-supervised round with its companion, and the directory with its card."""

import io
import json
import shutil
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_build_unused_model_writes_a_stacked_classifier_with_its_card(tmp_path):
    from moderation import scoring
    from plm import calibration, datasets

    out = tmp_path / "unused-electra"
    printed = io.StringIO()
    # a month of reviewers' decisions (export_decisions' rows) learnt beside the hand labels
    decisions = tmp_path / "decisions.jsonl"
    texts = ["아직 안 써봤는데 기대돼요", "촉촉하고 순해서 매일 발라요", "써보고 한달 후기 남길게요", "흡수가 빨라요"]
    rows = [
        {"text": t, "label": "unused" if n % 2 == 0 else "used", "product_id": f"app-p{n}", "split": split}
        for n, t in enumerate(texts)
        for split in ["train" if n < 3 else "validation"]
    ]
    decisions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    # a work folder inside the checkout (git-ignored var/), as the default is, of this test's own
    work = Path(settings.BASE_DIR) / "var" / f"test-unused-model-{uuid.uuid4().hex[:8]}"
    try:
        call_command(
            "build_unused_model",
            "--output",
            str(out),
            "--workdir",
            str(work),
            "--vocab-size",
            "50000",  # more than the 200 pooled reviews hold: the card names what the tokenizer holds
            "--hidden-size",
            "32",
            "--layers",
            "1",
            "--epochs",
            "1",
            "--max-unlabelled",
            "200",
            "--max-length",
            "48",
            "--threads",
            "1",
            "--extra-labels",
            str(decisions),
            stdout=printed,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "calibration.json", "companion.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["semi_supervised"]["size"] == 200
    hand = datasets.load_unused(gift_as="used").counts()
    assert metrics["extra_labels"]["added"] == {"train": 3, "validation": 1}
    assert metrics["examples"]["train"] == sum(hand["train"].values()) + 3
    assert metrics["examples"]["validation"] == sum(hand["validation"].values()) + 1
    assert metrics["examples"]["test"] == sum(hand["test"].values())  # the hand labels' test split, as it was
    assert metrics["semi_supervised"]["teachers"][0]["teacher"] == "morph-baseline"
    assert calibration.stacks(metrics["calibration"]) and metrics["companion"]["trained_on"] == "train split"
    assert [r["round"] for r in metrics["rounds"]] == [1] and metrics["shipped_round"] == 1
    # gift reviews are learnt as used (the default recipe), and the guideline's split without them is reported too
    assert metrics["config"]["gift_as"] == "used"
    left_out = metrics["test_gift_left_out"]["model"]
    assert left_out["examples"] < metrics["examples"]["test"] and 0 <= left_out["average_precision"] <= 1
    # no machine's folder in the shipped files: the round's directory is named relative to the checkout
    assert metrics["base_model"] == f"var/{work.name}/round-1"
    card = (out / "README.md").read_text()
    assert "`gift` reviews (bought for someone else) counted as used" in card and "gift left out" in card
    assert "**A stack.**" in card and "--companion morph-baseline" in card and "network alone" in card
    held = json.loads((out / "config.json").read_text())["vocab_size"]
    assert held < 50000 and f"WordPiece vocabulary of {held:,} (asked for 50,000)" in card
    assert "round 1" in printed.getvalue() and "3 train and 1 validation rows added" in printed.getvalue()
    assert f"--extra-labels {decisions}" in card and "**Extra labels**" in card
    # the directory is what the workers load, companion included
    model, tokenizer, max_length = scoring.load_model_dir(out)
    assert model.companion is not None
    scores = scoring.predict_proba(model, tokenizer, ["아직 안 써봤어요", "촉촉하고 좋아요"], max_length)
    assert all(0.0 < p < 1.0 for p in scores)


def test_a_pretrained_base_replaces_the_vocabulary_and_the_random_start(tmp_path):
    from django.core.management.base import CommandError

    from tests import tiny

    base = tiny.make_classifier(tmp_path / "pretrained")
    with pytest.raises(CommandError, match="no config.json"):
        call_command("build_unused_model", "--base-model", str(tmp_path / "nothing"), "--preprocess", "none")
    with pytest.raises(CommandError, match="pass --preprocess none"):
        call_command("build_unused_model", "--base-model", str(base), "--preprocess", "kiwi-morphemes")
    out = tmp_path / "unused-from-base"
    work = Path(settings.BASE_DIR) / "var" / f"test-unused-model-{uuid.uuid4().hex[:8]}"
    args = ["--base-model", str(base), "--preprocess", "none", "--output", str(out), "--workdir", str(work)]
    args += ["--epochs", "1", "--max-unlabelled", "100", "--max-length", "32", "--threads", "1"]
    try:
        call_command("build_unused_model", *args, stdout=io.StringIO())
        assert not (work / "tokenizer").exists()  # no vocabulary of its own
    finally:
        shutil.rmtree(work, ignore_errors=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["base_model"] == str(base) and metrics["init"] == "pretrained"
    vocabulary = lambda d: json.loads((d / "tokenizer.json").read_text())["model"]["vocab"]  # noqa: E731
    assert vocabulary(out) == vocabulary(base)
    card = (out / "README.md").read_text()
    assert f"fine-tuned from the pretrained `{base}`" in card and f"--base-model {base} --preprocess none" in card
    # the same recipe as a bundle for a GPU machine: nothing trained, the recipe's options recorded
    bundle = tmp_path / "bundle"
    try:
        call_command("build_unused_model", *args, "--export-bundle", str(bundle), stdout=io.StringIO())
        assert not (work / "round-1" / "model.safetensors").exists()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["model"] == str(base) and meta["pool"]["size"] == 100
    recipe = {k: meta["config"][k] for k in ("learning_rate", "unlabelled_weight", "companion", "gift_as", "metric")}
    assert recipe == {
        "learning_rate": 3e-4,
        "unlabelled_weight": 0.5,
        "companion": "morph-baseline",
        "gift_as": "used",
        "metric": "average_precision",
    }
