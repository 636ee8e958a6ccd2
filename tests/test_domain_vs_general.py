"""benchmarks/domain_vs_general.py at tiny scale: its arguments, the phrase task's rows, one real fine-tune per
init on the unused set, and the table's arithmetic."""

import json
import shutil

import pytest

from tests.scripts import load_script
from tests.tiny import ROOT, make_classifier

dvg = load_script(ROOT / "benchmarks" / "domain_vs_general.py", "bench_domain_vs_general")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    base = tmp_path_factory.mktemp("dvg")
    return make_classifier(base / "domain", seed=1), make_classifier(base / "general", seed=2)


def test_arguments(two_models, capsys):
    domain, general = two_models
    args = dvg.parse_args(["compare", "--domain", str(domain), "--general", str(general)])
    assert args.tasks == ["goodbad", "category", "unused", "nsmc"] and args.seeds == [0, 1, 2]
    with pytest.raises(SystemExit):
        dvg.parse_args(["compare", "--domain", str(domain), "--general", str(domain.parent / "missing")])
    err = capsys.readouterr().err
    assert "--general" in err and "no config.json" in err
    with pytest.raises(SystemExit):
        dvg.parse_args(["compare", "--domain", str(domain), "--general", str(general), "--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_the_domain_corpus_file_holds_no_text_the_tasks_validate_or_test_on(tmp_path):
    from plm import datasets

    dvg.prepare(tmp_path)
    corpus = [json.loads(line)["text"] for line in open(tmp_path / "oliveyoung_pretraining.jsonl", encoding="utf-8")]
    held = dvg.held_out_texts()
    unused_test = set(datasets.load_unused().split("test")[0])
    assert len(corpus) > 15000 and len(held) > 5000 and unused_test <= held
    assert not held & set(corpus)
    check = [json.loads(line)["text"] for line in open(tmp_path / "heldout.jsonl", encoding="utf-8")]
    assert len(check) == 4000 and not set(check) & set(corpus)


def test_goodbad_phrases_are_deduplicated_and_ambiguous_ones_dropped(tmp_path, monkeypatch):
    folder = tmp_path / dvg.AIHUB.parent
    folder.mkdir(parents=True)
    rows = [
        "촉촉하고 좋아요,1",
        "촉촉하고 좋아요,1",
        "향이 별로,-1",
        "그냥 그래요,0",
        "양이 적어요,1",
        "양이 적어요,-1",
    ]
    (folder / dvg.AIHUB.name).write_text("\ufeffSentimentText,SentimentPolarity\n" + "\n".join(rows) + "\n")
    monkeypatch.setenv("HWADMIN_SHARED_DATA", str(tmp_path))
    data = dvg.load_goodbad_phrases()
    assert sorted(zip(data.texts, data.labels)) == [("촉촉하고 좋아요", 1), ("향이 별로", 0)]


@pytest.mark.django_db
def test_each_init_fine_tunes_on_the_same_rows(two_models, tmp_path):
    domain, general = two_models
    args = {
        "domain": str(domain),
        "general": str(general),
        "epochs": 1,
        "batch_size": 16,
        "learning_rate": 1e-3,
        "max_length": 32,
        "output": str(tmp_path),
    }
    limits = {"train": 120, "validation": 60, "test": 80}
    rows = [dvg.run_one({"task": "unused", "init": i, "seed": 0, "args": args, "limits": limits}) for i in dvg.INITS]
    assert [r["examples"] for r in rows] == [rows[0]["examples"]] * 3 and rows[0]["examples"]["train"] == 120
    assert all(r["measure"] == "average_precision" and 0.0 < r["test"] <= 1.0 for r in rows)
    for r in rows:
        metrics = json.loads((tmp_path / "unused" / f"{r['init']}-seed0" / "metrics.json").read_text())
        assert metrics["test"]["average_precision"] == r["test"]
        assert metrics["init"] == ("random" if r["init"] == "random" else "pretrained")
        assert metrics["base_model"] == str(general if r["init"] == "general" else domain)
    # three different starting points give three different models
    assert len({r["test"] for r in rows}) == 3


def test_summary_means_spreads_and_difference():
    rows = [
        {"task": "nsmc", "init": init, "seed": s, "test": value}
        for init, values in (("domain", (0.80, 0.82, 0.84)), ("general", (0.70, 0.70, 0.70)), ("random", (0.6,)))
        for s, value in enumerate(values)
    ]
    table = dvg.summarise(rows, ["nsmc"])["nsmc"]
    assert table["domain"]["mean"] == pytest.approx(0.82) and table["domain"]["sd"] == pytest.approx(0.02)
    assert table["random"]["sd"] == 0.0
    assert table["domain_minus_general"]["mean"] == pytest.approx(0.12)
    assert table["domain_minus_general"]["se"] == pytest.approx(0.02 / 3**0.5)
    text = dvg.format_table({"nsmc": table})
    assert "0.8200 ± 0.0200" in text and "+0.1200 ± 0.0115" in text


def test_inits_pick_which_starts_are_fine_tuned(two_models, tmp_path, capsys):
    domain, general = two_models
    args = dvg.parse_args(["compare", "--general", str(general), "--inits", "general", "random"])
    assert args.inits == ["general", "random"] and args.domain is None
    with pytest.raises(SystemExit):
        dvg.parse_args(["compare", "--general", str(general), "--inits", "domain", "random"])
    assert "--domain DIR is needed" in capsys.readouterr().err


@pytest.mark.django_db
def test_random_takes_the_general_architecture_without_a_domain_model(two_models, tmp_path):
    _, general = two_models
    args = {"domain": None, "general": str(general), "epochs": 1, "batch_size": 16, "learning_rate": 1e-3}
    args |= {"max_length": 32, "output": str(tmp_path)}
    row = dvg.run_one(
        {"task": "unused", "init": "random", "seed": 0, "args": args, "limits": {"train": 60, "validation": 40}}
    )
    metrics = json.loads((tmp_path / "unused" / "random-seed0" / "metrics.json").read_text())
    assert row["init"] == "random" and metrics["init"] == "random" and metrics["base_model"] == str(general)


def entry(domain=None, general=None, random=None):
    return {
        k: {"mean": v, "sd": 0.0, "n": 1}
        for k, v in (("domain", domain), ("general", general), ("random", random))
        if v is not None
    }


def test_the_better_run_leads_in_more_tasks_and_a_tie_goes_to_the_summed_lead():
    assert dvg.better_init({"a": entry(0.8, 0.7), "b": entry(0.5, 0.6), "c": entry(0.5, 0.51)}) == "general"
    assert dvg.better_init({"a": entry(0.9, 0.7), "b": entry(0.5, 0.6)}) == "domain"  # 1-1, domain +0.1 net
    assert dvg.better_init({"a": entry(0.75, 0.7), "b": entry(0.5, 0.6)}) == "general"


def fake_run(base, tokenizer_dir, name):
    """What the pipeline leaves for one run: a checkpoint with pretraining_config.json, train_log.jsonl,
    evaluate_pretraining's evaluation.json (with this machine's paths), the tokenizer and the corpus statistics."""
    from transformers import AutoTokenizer

    from tests.plm.test_porting import electra_variables, save_tf1_checkpoint, training_config

    run = base / "runs" / name
    shutil.copytree(tokenizer_dir, run / "tokenizer")  # pretrain_plm keeps its tokenizer beside the checkpoints
    vocab_size = len(AutoTokenizer.from_pretrained(str(tokenizer_dir)))
    config = training_config(vocab_size) | {"learning_rate": 2e-4, "num_warmup_steps": 2, "seed": 0}
    config |= {"train_batch_size": 32}
    (run / "pretraining_config.json").write_text(json.dumps(config))
    save_tf1_checkpoint(run / "model.ckpt-400", electra_variables(vocab_size))
    (run / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-400"\n')
    log = [{"step": 200, "examples_per_second": 32.0}, {"step": 400, "examples_per_second": 16.0}]
    (run / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    figures = {"discriminator_auc": 0.61, "random_replacement_auc": 0.74, "representation_spread": 0.38}
    results = [{"step": 400, "checkpoint": str(run / "model.ckpt-400"), **figures}]
    (run / "evaluation.json").write_text(
        json.dumps({"data": [str(base)], "batches": 2, "batch_size": 8, "results": results})
    )
    corpus = base / "corpus" / name
    corpus.mkdir(parents=True)
    sources = {"nsmc_train": {"documents_out": 98574, "chars_out": 4711979}}
    (corpus / "stats.json").write_text(json.dumps({"documents_out": 98574, "chars_out": 4711979, "sources": sources}))
    return run


def test_ship_ports_the_chosen_run_in_float16_with_its_card(tmp_path, tiny_tokenizer_dir):
    import argparse

    import torch
    from safetensors.torch import load_file

    work = tmp_path / "dvg"
    fake_run(work, tiny_tokenizer_dir, "general")
    table = {"unused": entry(general=0.70, random=0.66), "nsmc": entry(general=0.69, random=0.71)}
    validation = {"unused": entry(general=0.66, random=0.64), "nsmc": entry(general=0.70, random=0.72)}
    summary = {
        "date": "2026-12-02T15:00:00+00:00",
        "args": {"seeds": [0, 1, 2], "train": 3000, "validation": 500, "epochs": 2, "batch_size": 32},
        "table": table,
        "validation_table": validation,
    }
    summary["args"] |= {"learning_rate": 3e-4, "max_length": 64, "general": str(dvg.ROOT / "var" / "x"), "output": "/y"}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    output = tmp_path / "pretrained-electra"
    args = argparse.Namespace(summary=[str(tmp_path / "summary.json")], work=str(work), output=str(output), init=None)
    with pytest.raises(SystemExit, match="pass --init"):
        dvg.ship(args)  # one pretrained run in the summary: which one is not the script's to guess
    args.init = "general"
    dvg.ship(args)

    weights = load_file(str(output / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float16}
    assert json.loads((output / "config.json").read_text())["dtype"] == "float32"
    comparison = json.loads((output / "comparison.json").read_text())
    assert comparison["shipped"] == "general" and comparison["beats_random_on_validation"] == {
        "unused": True,
        "nsmc": False,
    }
    assert comparison["steps"] == 400 and comparison["training_seconds"] == 200 * 32 / 32 + 200 * 32 / 16
    assert comparison["args"]["general"] == "var/x" and "output" not in comparison["args"]
    card = (output / "README.md").read_text()
    assert "| unused | average_precision | – | 0.700 ± 0.000 | 0.660 ± 0.000 | – |" in card
    assert "better than random weights on: unused." in card and "400 steps of batch 32" in card
    assert "discriminator AUC on generator replacements 0.610" in card and "| nsmc_train | 98,574 |" in card
    for path in output.iterdir():  # nothing names this machine's folders
        if path.suffix in (".json", ".md", ".txt"):
            assert str(tmp_path) not in path.read_text(encoding="utf-8"), path.name


def test_summaries_of_the_same_settings_join_and_others_are_refused():
    settings = {"seeds": [0, 1], "train": 3000, "validation": 500, "test": 1500, "epochs": 2, "batch_size": 32}
    settings |= {"learning_rate": 3e-4, "max_length": 64}
    rows = lambda init, values: [  # noqa: E731
        {"task": "unused", "init": init, "seed": s, "test": v, "validation": v - 0.01} for s, v in enumerate(values)
    ]
    early = {
        "date": "2026-12-02T14:00:00+00:00",
        "args": settings | {"general": "a"},
        "rows": rows("random", (0.6, 0.62)),
    }
    late = {
        "date": "2026-12-02T16:00:00+00:00",
        "args": settings | {"general": "b"},
        "rows": rows("general", (0.7, 0.7)),
    }
    joined = dvg.join_summaries([early, late])
    assert joined["date"] == late["date"] and joined["args"]["general"] == "b" and len(joined["rows"]) == 4
    assert joined["args"]["inits"] == ["general", "random"]
    assert joined["table"]["unused"]["random"]["mean"] == pytest.approx(0.61)
    assert joined["validation_table"]["unused"]["general"]["mean"] == pytest.approx(0.69)
    with pytest.raises(SystemExit, match="different settings \\(epochs\\)"):
        dvg.join_summaries([early, late | {"args": settings | {"epochs": 3}}])


def pipeline(tmp_path, *stages, **env):
    """benchmarks/domain_vs_general.sh with PY=echo: the commands each stage would run, not run."""
    import os
    import subprocess

    environment = {**os.environ, "PY": "echo", "OUT": str(tmp_path), **env}
    script = ROOT / "benchmarks" / "domain_vs_general.sh"
    done = subprocess.run(["bash", str(script), *stages], env=environment, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_pipeline_script_runs_both_or_one_run_through_every_stage(tmp_path):
    out = pipeline(tmp_path, "runs", "check", "compare", "ship")
    for c in ("general", "domain"):
        run = (tmp_path / f"{c}.log").read_text()
        assert f"pretrain_plm --data {tmp_path}/tfrecords/{c} --tokenizer {tmp_path}/tok/{c}" in run
        assert "--num-train-steps 5000 --num-warmup-steps 500" in run and "--seed 0" in run
        assert f"port_checkpoint {tmp_path}/runs/{c} --output {tmp_path}/hf/{c} --verify" in out
    assert (
        f"compare --general {tmp_path}/hf/general --domain {tmp_path}/hf/domain --inits general domain random\n" in out
    )
    assert f"ship --work {tmp_path}\n" in out  # the better of the two

    out = pipeline(tmp_path, "runs", "compare", "ship", RUNS="general", STEPS="800", TASKS="unused")
    assert "--num-train-steps 800 --num-warmup-steps 80" in (tmp_path / "general.log").read_text()
    assert f"compare --general {tmp_path}/hf/general --inits general random --tasks unused\n" in out
    assert f"ship --work {tmp_path} --init general\n" in out
