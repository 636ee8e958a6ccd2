"""finetune_classifier: a tiny ELECTRA learns from a few hundred real reviews; metrics.json agrees with its predictions."""

import io
import json
import random

import numpy as np
import pytest
from django.core.management import call_command
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

from tests import tiny

SUN = ("선크림", "선패치", "선스프레이")


def write_labelled(path, rows, label_of):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(
                json.dumps(
                    {"text": row["good_text"], "label": label_of(row), "product_id": row["product"]["external_id"]},
                    ensure_ascii=False,
                )
                + "\n"
            )
    return path


@pytest.fixture(scope="module")
def sun_or_skin(tmp_path_factory):
    """~500 real sample reviews: sun-care (선크림/선패치/선스프레이) vs skin-care, balanced."""
    rows = tiny.sample_reviews()
    sun = [r for r in rows if r["product"]["category"] in SUN]
    skin = [r for r in rows if r["product"]["category"] not in SUN]
    random.Random(0).shuffle(skin)
    path = tmp_path_factory.mktemp("data") / "sun.jsonl"
    return write_labelled(path, sun + skin[: len(sun)], lambda r: "sun" if r["product"]["category"] in SUN else "skin")


def read_predictions(directory):
    with open(directory / "predictions.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_finetuning_beats_the_untrained_model_and_metrics_match_predictions(sun_or_skin, tiny_classifier_dir, tmp_path):
    from moderation.scoring import load_model_dir

    output = tmp_path / "sun-classifier"
    call_command(
        "finetune_classifier",
        "file",
        "--data",
        str(sun_or_skin),
        "--group-column",
        "product_id",
        "--model",
        str(tiny_classifier_dir),
        "--output",
        str(output),
        "--epochs",
        "8",
        "--patience",
        "3",
        "--learning-rate",
        "2e-3",
        "--batch-size",
        "16",
        "--max-length",
        "64",
        "--metric",
        "accuracy",
        "--threads",
        "1",
        "--seed",
        "1",
    )
    metrics = json.loads((output / "metrics.json").read_text())
    predictions = read_predictions(output)

    validation = [p for p in predictions if p["split"] == "validation"]
    majority = max(np.mean([p["label"] for p in validation]), 1 - np.mean([p["label"] for p in validation]))
    # Better than the untrained model and than always answering the majority label.
    assert metrics["validation"]["accuracy"] > max(metrics["untrained_validation"]["accuracy"], majority) + 0.05
    assert metrics["history"][0]["epoch"] == 1 and 1 <= metrics["best_epoch"] <= 8
    assert metrics["validation"]["accuracy"] == max(h["validation"]["accuracy"] for h in metrics["history"])

    for split in ("validation", "test"):
        rows = [p for p in predictions if p["split"] == split]
        labels = [p["label"] for p in rows]
        positive = [p["probabilities"][1] for p in rows]
        predicted = [int(np.argmax(p["probabilities"])) for p in rows]
        assert metrics[split]["examples"] == len(rows) == metrics["examples"][split]
        assert metrics[split]["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
        assert metrics[split]["f1"] == pytest.approx(f1_score(labels, predicted))
        assert metrics[split]["auroc"] == pytest.approx(roc_auc_score(labels, positive))
        assert metrics[split]["average_precision"] == pytest.approx(average_precision_score(labels, positive))

    # No product in two splits: the split is by product_id.
    rows = [json.loads(line) for line in open(sun_or_skin, encoding="utf-8")]
    splits_of = {}
    for p in predictions:
        splits_of.setdefault(rows[p["index"]]["product_id"], set()).add(p["split"])
    assert all(len(splits) == 1 for splits in splits_of.values())
    # Ready for register_classifier: a 2-class model directory that the scorer loads, labels named.
    model, tokenizer, _ = load_model_dir(output)
    assert model.config.id2label == {0: "skin", 1: "sun"}
    assert (output / "README.md").read_text().count("test (") == 1


def test_multiclass_reports_micro_f1_from_its_predictions(tiny_classifier_dir, tmp_path):
    rows = tiny.sample_reviews(400)
    data = write_labelled(tmp_path / "category.jsonl", rows, lambda r: r["product"]["category"])
    output = tmp_path / "category-classifier"
    call_command(
        "finetune_classifier",
        "file",
        "--data",
        str(data),
        "--model",
        str(tiny_classifier_dir),
        "--output",
        str(output),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--max-length",
        "32",
        "--threads",
        "1",
    )
    metrics = json.loads((output / "metrics.json").read_text())
    categories = sorted({r["product"]["category"] for r in rows})
    assert metrics["label_names"] == categories and metrics["metric"] == "f1_micro"
    rows = [p for p in read_predictions(output) if p["split"] == "test"]
    labels, predicted = [p["label"] for p in rows], [p["prediction"] for p in rows]
    assert metrics["test"]["f1_micro"] == pytest.approx(f1_score(labels, predicted, average="micro"))
    assert metrics["test"]["f1_macro"] == pytest.approx(
        f1_score(labels, predicted, average="macro", labels=list(range(len(categories))), zero_division=0)
    )
    assert "auroc" not in metrics["test"]
    assert json.loads((output / "config.json").read_text())["id2label"]["0"] == categories[0]


def test_the_unused_task_reads_the_labelled_set_format(tmp_path):
    from plm.datasets import load_task

    rows = [
        ("아직 안 써봤어요", "unused", "p1", "train"),
        ("촉촉해요", "used", "p2", "train"),
        ("선물했어요", "gift", "p3", "validation"),
        ("글쎄요", "unclear", "p4", "test"),
    ]
    path = tmp_path / "set.jsonl"
    path.write_text(
        "".join(
            json.dumps({"text": t, "label": y, "product_id": p, "split": s}, ensure_ascii=False) + "\n"
            for t, y, p, s in rows
        ),
        encoding="utf-8",
    )
    data = load_task("unused", path)
    assert (data.texts, data.labels, data.splits) == (["아직 안 써봤어요", "촉촉해요"], [1, 0], ["train", "train"])
    assert data.label_names == ["used", "unused"]
    with_gifts = load_task("unused", path, gift_as="unused")
    assert with_gifts.labels == [1, 0, 1] and with_gifts.splits[-1] == "validation"


def test_a_collapsed_base_model_is_called_out_before_fine_tuning(sun_or_skin, tiny_classifier_dir, tmp_path):
    """An encoder mapping every token to one vector (a collapsed pretraining) gets a warning; a healthy one none."""
    import shutil

    import torch
    from transformers import AutoModelForSequenceClassification

    from plm import finetune

    collapsed = tmp_path / "collapsed"
    shutil.copytree(tiny_classifier_dir, collapsed)
    model = AutoModelForSequenceClassification.from_pretrained(str(collapsed))
    with torch.no_grad():  # the last LayerNorm's scale at 0: its output is its bias, the same for every token
        model.electra.encoder.layer[-1].output.LayerNorm.weight.zero_()
    model.save_pretrained(str(collapsed))

    tokenizer, healthy_model = finetune.load_model(tiny_classifier_dir, ["skin", "sun"])
    texts = finetune.encode(tokenizer, [r["good_text"] for r in tiny.sample_reviews(20)], 64)
    assert finetune.representation_spread(healthy_model, tokenizer, texts) > 0.5
    _, collapsed_model = finetune.load_model(collapsed, ["skin", "sun"])
    assert finetune.representation_spread(collapsed_model, tokenizer, texts) < 1e-3

    for base, warned in ((collapsed, True), (tiny_classifier_dir, False)):
        lines = []
        data = finetune_data(sun_or_skin)
        finetune.finetune(
            base, data, tmp_path / f"out-{warned}", finetune.FinetuneConfig(epochs=1, max_length=64), log=lines.append
        )
        assert any("pretraining collapsed" in line for line in lines) is warned
        metrics = json.loads((tmp_path / f"out-{warned}" / "metrics.json").read_text())
        assert (metrics["untrained_validation"]["representation_spread"] < 0.05) is warned


def finetune_data(path):
    from plm.datasets import load_task

    return load_task("file", str(path), group_column="product_id")


def test_without_a_model_the_shipped_pretrained_electra_is_the_start(sun_or_skin, tmp_path, monkeypatch):
    """No --model: the fine-tune starts from models/pretrained-electra (weights stored in float16, trained in
    float32); where none is shipped the command says what to pass."""
    import torch
    from django.core.management.base import CommandError
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    from plm.management.commands import finetune_classifier
    from plm.porting import save_model
    from plm.vocab import load_tokenizer
    from tests import tiny

    shipped = tmp_path / "pretrained-electra"
    source = tiny.make_classifier(tmp_path / "source")
    save_model(AutoModelForSequenceClassification.from_pretrained(str(source)), shipped, storage_dtype="float16")
    load_tokenizer(source).save_pretrained(str(shipped))
    stored = load_file(str(shipped / "model.safetensors"))
    assert {t.dtype for t in stored.values()} == {torch.float16}
    args = ["file", "--data", str(sun_or_skin), "--group-column", "product_id", "--epochs", "1"]
    args += ["--max-train", "48", "--max-eval", "24", "--threads", "1", "--calibration", "none"]

    monkeypatch.setattr(finetune_classifier, "SHIPPED_BASE", tmp_path / "nothing-here")
    with pytest.raises(CommandError, match="pass --model DIR.*no pretrained model is shipped"):
        call_command("finetune_classifier", *args, "--output", str(tmp_path / "none"))

    monkeypatch.setattr(finetune_classifier, "SHIPPED_BASE", shipped)
    out = io.StringIO()
    call_command("finetune_classifier", *args, "--output", str(tmp_path / "out"), stdout=out)
    assert f"starting from the shipped pretrained model {shipped} (its weights" in out.getvalue()
    trained = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert {t.dtype for t in trained.values()} == {torch.float32}
    # the encoder started from the shipped weights (a new initialisation would differ by ~0.1): three steps
    # move a weight by far less
    for name in ("electra.embeddings.position_embeddings.weight", "electra.encoder.layer.0.output.dense.weight"):
        assert (trained[name] - stored[name].float()).abs().max() < 0.01, name


def test_runs_that_share_a_head_seed_start_from_the_same_head_and_differ_in_the_rest(
    sun_or_skin, tiny_classifier_dir, tmp_path, monkeypatch
):
    """head_seed: the new head's weights follow it, the data order and dropout follow seed (weights averaged across
    such runs start from one point)."""
    from plm import finetune

    class Loaded(Exception):
        pass

    heads, draws, real = [], [], finetune.load_model

    def load_model(*args, **kwargs):
        tokenizer, model = real(*args, **kwargs)
        heads.append(model.classifier.out_proj.weight.detach().clone())
        return tokenizer, model

    def encode(*args, **kwargs):  # the first step after the seeds are set: what the run's RNG draws
        import torch

        draws.append(torch.rand(3))
        raise Loaded

    import shutil

    from safetensors.torch import load_file, save_file

    base = tmp_path / "encoder-only"  # a base without a classification head: each run makes a new one
    shutil.copytree(tiny_classifier_dir, base)
    weights = load_file(base / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier.")}, str(base / "model.safetensors"))
    monkeypatch.setattr(finetune, "load_model", load_model)
    monkeypatch.setattr(finetune, "encode", encode)
    data = finetune_data(sun_or_skin)
    for seed, head_seed in ((1, 42), (2, 42), (42, None), (1, None)):
        with pytest.raises(Loaded):
            finetune.finetune(base, data, tmp_path / "out", finetune.FinetuneConfig(seed=seed, head_seed=head_seed))
    assert heads[0].equal(heads[1]) and heads[0].equal(heads[2])  # head seed 42 gives seed 42's head
    assert not heads[0].equal(heads[3])  # without it, seed 1 draws another head
    assert not draws[0].equal(draws[1])  # the rest of the run follows its own seed
