"""The pretrained discriminator shipped in models/pretrained-electra: complete, under 30 MB, float16 on disk and
float32 in memory, its card and comparison agree, and it does what pretraining taught it: it tells replaced
tokens in real review sentences from original ones, where the same architecture from new weights cannot."""

import json
import random
from pathlib import Path

import pytest
import torch
from sklearn.metrics import roc_auc_score

from tests import tiny

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "pretrained-electra"


@pytest.fixture(scope="module")
def discriminator():
    from transformers import ElectraForPreTraining

    return ElectraForPreTraining.from_pretrained(str(SHIPPED)).eval()


def test_the_directory_is_complete_small_and_loads_as_float32(discriminator):
    from safetensors import safe_open

    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "comparison.json"):
        assert (SHIPPED / name).is_file(), name
    for name in ("pretraining_check.json", "pretraining_config.json", "corpus_stats.json"):
        assert (SHIPPED / name).is_file(), name
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) <= 30 * 1024 * 1024
    with safe_open(str(SHIPPED / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert {p.dtype for p in discriminator.parameters()} == {torch.float32}


def test_the_card_quotes_the_comparison_it_ships_with():
    comparison = json.loads((SHIPPED / "comparison.json").read_text(encoding="utf-8"))
    card = (SHIPPED / "README.md").read_text(encoding="utf-8")
    assert comparison["shipped"] in ("general", "domain") and f"The **{comparison['shipped']}** run" in card
    for task, entry in comparison["table"].items():
        shipped = entry[comparison["shipped"]]
        assert f"| {task} |" in card and f"{shipped['mean']:.3f} ± {shipped['sd']:.3f}" in card
    check = json.loads((SHIPPED / "pretraining_check.json").read_text(encoding="utf-8"))
    final = max(check["results"], key=lambda r: r["step"])
    assert final["step"] == comparison["steps"] and final["representation_spread"] > 0.05  # not collapsed


def replaced_token_auc(model, tokenizer, texts, seed=0):
    """ROC AUC of the discriminator's logits: 15 % of each sentence's tokens replaced by random vocabulary
    entries (label 1) against the tokens left as they were (label 0)."""
    rng = random.Random(seed)
    special = set(tokenizer.all_special_ids)
    vocabulary = [i for i in range(len(tokenizer)) if i not in special]
    labels, logits = [], []
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=64)["input_ids"]
        positions = [i for i, t in enumerate(ids) if t not in special]
        replaced = set(rng.sample(positions, max(1, round(0.15 * len(positions)))))
        corrupted = [rng.choice(vocabulary) if i in replaced else t for i, t in enumerate(ids)]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([corrupted])).logits[0]
        labels += [int(i in replaced) for i in positions]
        logits += [float(out[i]) for i in positions]
    return roc_auc_score(labels, logits)


def test_it_spots_replaced_tokens_in_real_reviews_and_new_weights_do_not(discriminator):
    from transformers import AutoTokenizer, ElectraConfig, ElectraForPreTraining

    tokenizer = AutoTokenizer.from_pretrained(str(SHIPPED))
    texts = [r["good_text"] for r in tiny.sample_reviews()[:120]]
    pretrained = replaced_token_auc(discriminator, tokenizer, texts)
    torch.manual_seed(0)
    fresh = ElectraForPreTraining(ElectraConfig.from_pretrained(str(SHIPPED))).eval()
    untrained = replaced_token_auc(fresh, tokenizer, texts)
    assert pretrained >= 0.65 and abs(untrained - 0.5) < 0.08, (pretrained, untrained)
