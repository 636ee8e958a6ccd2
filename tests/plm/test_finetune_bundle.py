"""Fine-tuning elsewhere: finetune_classifier --export-bundle, then python -m plm.finetune_bundle without Kiwi."""

import io
import json

import pytest
from django.core.management import call_command

from plm import datasets, finetune, finetune_bundle, morphemes
from tests.plm.test_semisupervised import pool_file, read_jsonl, tiny_semi_supervised

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_classifier_dir):
    """A bundle of a tiny semi-supervised, morpheme-reading, stacked run on a subsample of the hand labels."""
    work = tmp_path_factory.mktemp("bundle")
    path, _ = pool_file(work / "pool.jsonl", datasets.load_unused())
    out = io.StringIO()
    flags = ("--preprocess", "kiwi-morphemes", "--companion", "morph-baseline", "--export-bundle", work / "bundle")
    tiny_semi_supervised(tiny_classifier_dir, work / "never-written", path, *map(str, flags), stdout=out)
    assert "bundle written" in out.getvalue() and not (work / "never-written" / "model.safetensors").exists()
    return work / "bundle", tiny_classifier_dir


def test_the_bundle_holds_each_text_beside_its_morphemes_and_the_teachers_scores(bundle):
    directory, model_dir = bundle
    meta = json.loads((directory / "bundle.json").read_text(encoding="utf-8"))
    rows = finetune_bundle._read_jsonl(directory / finetune_bundle.ROWS_FILE)
    pool = finetune_bundle._read_jsonl(directory / finetune_bundle.POOL_FILE)
    assert meta["model"] == str(model_dir) and meta["config"]["preprocess"] == "kiwi-morphemes"
    assert meta["examples"] == {s: sum(r["split"] == s for r in rows) for s in ("train", "validation", "test")}
    assert meta["examples"]["train"] == 300 and meta["examples"]["test"] == 150
    texts = [r["text"] for r in rows[:5]] + [r["text"] for r in pool[:5]]
    assert [r["read"] for r in rows[:5]] + [r["read"] for r in pool[:5]] == morphemes.morpheme_text(texts)
    assert len(pool) == meta["pool"]["size"] == 24 and meta["pool"]["teachers"][0]["teacher"] == "baseline"
    assert all(0 < r["probability"] < 1 for r in pool)
    test_products = {r["group"] for r in rows if r["split"] == "test"}
    assert meta["pool"]["dropped"]["test_product"] == 1 and test_products


def test_a_bundle_fine_tunes_without_kiwi_into_the_directory_finetune_classifier_writes(bundle, tmp_path, monkeypatch):
    directory, _ = bundle

    def no_kiwi():
        raise AssertionError("a bundle run read Kiwi")

    monkeypatch.setattr(morphemes, "kiwi", no_kiwi)
    code = finetune_bundle.main([str(directory), "--out", str(tmp_path / "model"), "--seed", "7", "--threads", "1"])
    assert code == 0
    model = tmp_path / "model"
    metrics = json.loads((model / "metrics.json").read_text(encoding="utf-8"))
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    assert config["hwadmin_preprocess"] == "kiwi-morphemes"  # the workers read morphemes when they score it
    assert metrics["bundle"]["options_replaced"] == {"seed": 7, "threads": 1} and metrics["config"]["seed"] == 7
    assert metrics["semi_supervised"]["size"] == 24 and metrics["examples"]["test"] == 150
    assert (model / "companion.json").is_file() and "network_alone" in metrics["test"]
    assert {"baseline", "morph_baseline", "keyword_rule"} <= set(metrics)
    # the stack's inputs are the ones Kiwi gives: the companion scores the rows' morphemes as the workers will
    monkeypatch.undo()
    from plm.baseline import load_companion

    predictions = [p for p in read_jsonl(model / "predictions.jsonl") if p["split"] == "test"]
    expected = load_companion(model).margins([p["text"] for p in predictions[:10]])
    assert [p["companion_margin"] for p in predictions[:10]] == pytest.approx(expected)


def test_a_folder_that_is_not_a_bundle_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        finetune_bundle.main([str(tmp_path), "--out", str(tmp_path / "model")])
    assert stopped.value.code == 2
    assert "no bundle.json and rows.jsonl.gz" in capsys.readouterr().err
    (tmp_path / "bundle.json").write_text(json.dumps({"format": 99}), encoding="utf-8")
    (tmp_path / "rows.jsonl.gz").write_bytes(b"")
    with pytest.raises(finetune_bundle.BundleError, match="bundle format 99"):
        finetune_bundle.load(tmp_path)


def test_batches_go_to_the_models_device():
    import torch

    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "weights": None}
    assert finetune.on_device(batch, "cpu") is batch
    moved = finetune.on_device(dict(batch), "meta")
    assert moved["input_ids"].device.type == "meta" and moved["weights"] is None
    assert finetune.pick_device("cuda:1") == "cuda:1"
    assert finetune.pick_device("") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_a_bundle_runs_where_django_kiwi_and_emoji_are_not_installed(bundle, tmp_path):
    """What a GPU machine with torch, transformers and scikit-learn alone has: the run imports nothing else."""
    import subprocess
    import sys
    from pathlib import Path

    directory, _ = bundle
    blocked = ["django", "kiwipiepy", "emoji", "celery", "rest_framework", "psycopg", "redis", "onnxruntime"]
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from plm import finetune_bundle\n"
        f"sys.exit(finetune_bundle.main([{str(directory)!r}, '--out', {str(tmp_path / 'model')!r}, '--threads', '1']))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300, env={"PATH": ""}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test: AUROC" in done.stdout and (tmp_path / "model" / "model.safetensors").is_file()


def test_an_attribute_bundle_trains_without_kiwi_and_its_test_split_is_left_to_the_tagger(
    tmp_path, tiny_classifier_dir, monkeypatch
):
    from plm import attributes_model
    from tests.plm.test_attributes_model import planted_rows

    data = tmp_path / "sentences.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in planted_rows()), encoding="utf-8")
    out = io.StringIO()
    call_command(
        "finetune_classifier", "attributes", "--data", str(data), "--base-model", str(tiny_classifier_dir),
        "--output", str(tmp_path / "never-written"), "--preprocess", "kiwi-morphemes", "--epochs", "30",
        "--patience", "30", "--learning-rate", "2e-3", "--batch-size", "16", "--max-length", "64",
        "--topic-check", "no", "--export-bundle", str(tmp_path / "bundle"), stdout=out,
    )  # fmt: skip
    assert "bundle written" in out.getvalue() and not (tmp_path / "never-written").exists()
    rows = finetune_bundle._read_jsonl(tmp_path / "bundle" / finetune_bundle.ROWS_FILE)
    assert [r["read"] for r in rows[:3]] == morphemes.morpheme_text([r["text"] for r in rows[:3]])

    def no_kiwi():
        raise AssertionError("a bundle run read Kiwi")

    monkeypatch.setattr(morphemes, "kiwi", no_kiwi)
    metrics = finetune_bundle.run(tmp_path / "bundle", tmp_path / "model", threads=1)
    assert len(metrics["history"]) == 30 and "evaluation" not in metrics  # the test split is the tagger's to score
    assert metrics["bundle"]["options_replaced"] == {"threads": 1}
    monkeypatch.undo()
    tagger = attributes_model.load(tmp_path / "model")  # reads Kiwi morphemes, as it was trained on them
    assert json.loads((tmp_path / "model" / "config.json").read_text())["hwadmin_preprocess"] == "kiwi-morphemes"
    assert tagger.tag(["이 크림 진짜 촉촉해요"])[0].get("moisture", (None,))[0] == "pos"
    # a bundle of another taxonomy version is refused
    meta = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    meta["taxonomy_version"] = "older"
    (tmp_path / "bundle" / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(finetune_bundle.BundleError, match="taxonomy version 'older'"):
        finetune_bundle.load(tmp_path / "bundle")


def test_the_sweep_ranks_its_runs_on_validation_and_packs_the_best(bundle, tmp_path):
    import shutil
    import subprocess
    import sys
    import tarfile
    from pathlib import Path

    directory, model_dir = bundle
    root = Path(__file__).resolve().parents[2]
    base = tmp_path / "another-base"
    shutil.copytree(model_dir, base)
    done = subprocess.run(
        [sys.executable, "benchmarks/finetune_sweep.py", str(directory), "--seeds", "1", "2", "--learning-rates",
         "3e-4", "1e-3", "--epochs", "1", "--jobs", "2", "--threads", "1", "--keep", "1", "--out", str(tmp_path),
         "--models", str(base)],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    runs = summary["runs"]
    assert len(runs) == 4 and {r["seed"] for r in runs} == {1, 2}
    keys = [(r["validation"]["ap"], r["validation"]["network_ap"]) for r in runs]
    assert keys == sorted(keys, reverse=True)  # best first
    assert summary["kept"] == [{"rank": 1, "name": runs[0]["name"], "archive": "best-1.tar.gz"}]
    with tarfile.open(tmp_path / "best-1.tar.gz") as tar:
        assert f"{runs[0]['name']}/model.safetensors" in tar.getnames()
    assert not (tmp_path / runs[1]["name"] / "model.safetensors").exists()  # the others keep their figures only
    assert "(control)" in done.stdout and "Δ validation network AP" in done.stdout
    assert all("another-base" in r["name"] for r in runs)  # --models: every run started from the base given
    metrics = json.loads((tmp_path / runs[1]["name"] / "metrics.json").read_text())
    assert metrics["base_model"] == str(base) and metrics["bundle"]["model"] == str(base)


def test_seed_average_reads_the_runs_and_averages_their_networks_and_weights(bundle, tmp_path, capsys):
    """benchmarks/seed_average.py: the ensemble's figures are the runs' averaged margins'; a run averaged with itself
    (weights too) reads as the run; runs that did not start from one head are refused."""
    import importlib.util
    import shutil
    from pathlib import Path

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from plm import calibration

    spec = importlib.util.spec_from_file_location(
        "seed_average", Path(__file__).resolve().parents[2] / "benchmarks" / "seed_average.py"
    )
    seed_average = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_average)
    directory, _ = bundle
    runs = []
    for seed in (1, 2):
        out = tmp_path / f"s{seed}"
        options = ["--seed", str(seed), "--head-seed", "5", "--epochs", "1", "--threads", "1"]
        assert finetune_bundle.main([str(directory), "--out", str(out), *options]) == 0
        runs.append(str(out))
    assert seed_average.main([str(directory), *runs, "--json", str(tmp_path / "two.json")]) == 0
    two = json.loads((tmp_path / "two.json").read_text())

    def test_rows(run):
        lines = (json.loads(line) for line in open(Path(run) / "predictions.jsonl", encoding="utf-8"))
        return [p for p in lines if p["split"] == "test"]

    labels = np.array([p["label"] for p in test_rows(runs[0])])
    margins = [np.array([calibration.margin(p["probabilities"][1]) for p in test_rows(run)]) for run in runs]
    ensemble = two["test"]["rows"]["ensemble"]["network"]["auroc"]
    assert ensemble == pytest.approx(roc_auc_score(labels, (margins[0] + margins[1]) / 2))
    for name in ("s1", "s2", "ensemble", "morpheme regression", "char regression (baseline)"):
        assert two["test"]["rows"][name]["network"] is not None
    assert "guideline" not in two or two["guideline"]["examples"] < two["test"]["examples"]

    assert seed_average.main([str(directory), runs[0], runs[0], "--weights", "--json", str(tmp_path / "one.json")]) == 0
    one = json.loads((tmp_path / "one.json").read_text())["test"]["rows"]
    assert one["ensemble"]["network"] == pytest.approx(one["s1"]["network"])
    assert one["weights averaged"]["network"] == pytest.approx(one["s1"]["network"], abs=1e-3)

    other = tmp_path / "no-head-seed"
    shutil.copytree(runs[1], other)
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["config"]["head_seed"] = None
    (other / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SystemExit) as stopped:
        seed_average.main([str(directory), runs[0], str(other), "--weights"])
    assert stopped.value.code == 2 and "one --head-seed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        seed_average.main([str(directory), runs[0], str(directory)])
    assert stopped.value.code == 2 and "no predictions.jsonl" in capsys.readouterr().err
