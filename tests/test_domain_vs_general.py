"""benchmarks/domain_vs_general.py at tiny scale: its arguments, the phrase task's rows, one real fine-tune per
init on the unused set, and the table's arithmetic."""

import json

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
