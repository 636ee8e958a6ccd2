"""Replaced-token detection in PyTorch (plm.electra.torch_pretrain) and its data (build_domain_pretraining):
packing, masking, the shared embeddings, a toy run that learns and loads, and the base it gives build_unused_model."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from plm.electra import torch_pretrain
from tests import tiny

CLS, SEP, PAD, MASK = 2, 3, 0, 4


def test_pack_keeps_texts_whole_and_cuts_only_what_cannot_fit():
    rows = torch_pretrain.pack([[10, 11, 12], [20, 21], [30] * 9, [40]], 8, CLS, SEP, PAD)
    assert rows.dtype == np.int32 and rows.shape[1] == 8
    assert rows[0].tolist() == [CLS, 10, 11, 12, SEP, 20, 21, SEP]
    assert rows[1].tolist() == [CLS, 30, 30, 30, 30, 30, 30, SEP]  # a text longer than a row is cut…
    assert rows[2].tolist() == [CLS, 30, 30, 30, SEP, 40, SEP, PAD]  # …and its rest starts the next row
    assert len(rows) == 3
    with pytest.raises(ValueError, match="at least 8"):
        torch_pretrain.pack([[1]], 4, CLS, SEP)


def recipe(vocab_size=64, **shape):
    return {
        "vocab_size": vocab_size,
        "embedding_size": 16,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 1,
        "intermediate_size": 32,
        "max_position_embeddings": 64,
        "generator_hidden_fraction": 0.5,
        "mask_prob": 0.15,
        "pad_token_id": PAD,
        "cls_token_id": CLS,
        "sep_token_id": SEP,
        "mask_token_id": MASK,
        "preprocess": None,
        **shape,
    }


def test_masking_picks_real_tokens_only_in_the_original_proportions():
    import torch

    generator = torch.Generator().manual_seed(0)
    texts = [list(range(10, 10 + n)) for n in torch.randint(5, 60, (400,), generator=generator).tolist()]
    ids = torch.from_numpy(torch_pretrain.pack(texts, 64, CLS, SEP, PAD).astype(np.int64))
    attention, special = torch_pretrain.masks(ids, recipe())
    masked, positions, weights = torch_pretrain.mask_tokens(ids, special, MASK, 0.15, 9, generator)
    chosen = positions[weights.bool()]
    rows = torch.arange(len(ids))[:, None].expand_as(positions)[weights.bool()]
    assert not special[rows, chosen].any()  # never [CLS], [SEP] or padding
    expected = ((~special).sum(-1).float() * 0.15).round().clamp(1, 9)
    assert torch.equal(weights.sum(-1), expected)  # round(15 % of the real tokens), at most the cap
    assert len(set(zip(rows.tolist(), chosen.tolist(), strict=True))) == len(chosen)  # no position twice
    share = float((masked[rows, chosen] == MASK).float().mean())
    assert 0.80 < share < 0.90  # 85 % become [MASK], the rest keep their token
    unchosen = torch.ones_like(ids, dtype=torch.bool)
    unchosen[rows, chosen] = False
    assert torch.equal(masked[unchosen], ids[unchosen])


def test_generator_and_discriminator_share_their_embeddings():
    generator, discriminator = torch_pretrain.build_models(recipe(hidden_size=32, num_attention_heads=2))
    assert generator.electra.embeddings is discriminator.electra.embeddings
    assert generator.generator_lm_head.weight is discriminator.electra.embeddings.word_embeddings.weight
    assert generator.config.hidden_size == 16 and discriminator.config.hidden_size == 32


def make_data(directory, preprocess=None):
    """A data folder as build_domain_pretraining writes it, from the sample reviews and a tiny tokenizer."""
    from tokenizers import Tokenizer

    texts = tiny.sample_texts(300)
    tiny.train_tokenizer(directory, texts, vocab_size=500)
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    special = {name: tokenizer.token_to_id(f"[{name.upper()}]") for name in ("pad", "cls", "sep", "mask")}
    encoded = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    np.save(directory / "sequences.npy", torch_pretrain.pack(encoded, 48, special["cls"], special["sep"]))
    shape = recipe(tokenizer.get_vocab_size(), hidden_size=32, num_attention_heads=2, intermediate_size=64)
    shape.update({f"{k}_token_id": v for k, v in special.items()}, preprocess=preprocess)
    (directory / "pretraining.json").write_text(json.dumps(shape))
    return directory


def test_a_toy_run_learns_and_writes_a_directory_that_loads(tmp_path):
    from transformers import AutoTokenizer, ElectraForPreTraining

    data = make_data(tmp_path / "data", preprocess="kiwi-morphemes")
    out = tmp_path / "pretrained"
    result = torch_pretrain.pretrain(
        data, out, seconds=600, steps=40, batch_size=16, learning_rate=2e-3, device="cpu", log=lambda _: None
    )
    first, last = result["history"][0], result["final"]
    assert result["steps"] == 40 and last["step"] == 40
    assert last["loss"] < first["loss"] - 5  # the held-out loss falls (generator and discriminator both learn)
    assert 0 <= last["disc_auc"] <= 1 and 0 < last["replaced_share"] < 0.2
    model = ElectraForPreTraining.from_pretrained(out)
    assert model.config.hidden_size == 32 and model.config.hwadmin_preprocess == "kiwi-morphemes"
    assert AutoTokenizer.from_pretrained(out)("촉촉해요")["input_ids"][0] == result["recipe"]["cls_token_id"]
    logged = json.loads((out / "pretraining_log.json").read_text())
    assert logged["tokens_seen"] == 40 * 16 * 48 and logged["history"][-1] == logged["final"]


def test_the_time_budget_stops_a_run_and_still_writes_it(tmp_path):
    data = make_data(tmp_path / "data")
    result = torch_pretrain.pretrain(
        data, tmp_path / "out", seconds=0.0, steps=1000, batch_size=8, device="cpu", log=lambda _: None
    )
    assert result["steps"] == 1 and (tmp_path / "out" / "model.safetensors").is_file()


def test_the_command_line_replaces_the_datas_model_shape(tmp_path, capsys):
    from transformers import ElectraForPreTraining

    data = make_data(tmp_path / "data")
    argv = [str(data), "--out", str(tmp_path / "wide"), "--steps", "1", "--batch-size", "4", "--device", "cpu"]
    torch_pretrain.main([*argv, "--hidden-size", "64", "--layers", "3"])
    config = ElectraForPreTraining.from_pretrained(tmp_path / "wide").config
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (64, 3, 256)
    assert config.num_attention_heads == 1  # one head per 64 hidden units, as build_domain_pretraining sets them
    logged = json.loads((tmp_path / "wide" / "pretraining_log.json").read_text())
    assert (
        logged["recipe"]["hidden_size"] == 64
        and json.loads((data / "pretraining.json").read_text())["hidden_size"] == 32
    )
    with pytest.raises(SystemExit) as stopped:
        torch_pretrain.main([*argv, "--hidden-size", "64", "--heads", "3"])
    assert stopped.value.code == 2 and "not a multiple of 3 attention heads" in capsys.readouterr().err


@pytest.mark.django_db
def test_build_domain_pretraining_packs_the_pool_and_its_base_sets_the_classifiers_reading(tmp_path):
    out = tmp_path / "domain"
    printed = io.StringIO()
    call_command(
        "build_domain_pretraining", "--out", str(out), "--max-unlabelled", "120", "--max-length", "64", stdout=printed
    )
    assert "pool: 120 unlabelled reviews" in printed.getvalue()
    rows = np.load(out / "sequences.npy")
    shape = json.loads((out / "pretraining.json").read_text())
    assert rows.dtype == np.uint16 and rows.shape[1] == 64
    assert (rows[:, 0] == shape["cls_token_id"]).all() and shape["preprocess"] == "kiwi-morphemes"
    assert shape["corpus"]["tokens"] == int((rows != shape["pad_token_id"]).sum()) - int(
        ((rows == shape["cls_token_id"]) | (rows == shape["sep_token_id"])).sum()
    )
    assert (out / "tokenizer.json").is_file() and not (out / "pool.txt").exists()
    with pytest.raises(CommandError, match="at least 8"):
        call_command("build_domain_pretraining", "--out", str(out), "--max-length", "4")

    base = tmp_path / "base"
    torch_pretrain.pretrain(out, base, seconds=600, steps=2, batch_size=4, device="cpu", log=lambda _: None)
    # the base reads Kiwi morphemes: build_unused_model follows it, and refuses another reading
    with pytest.raises(CommandError, match="pass --preprocess kiwi-morphemes"):
        call_command("build_unused_model", "--base-model", str(base), "--preprocess", "none")
