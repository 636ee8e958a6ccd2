"""ELECTRA's replaced-token detection in PyTorch, for a GPU machine that has no TensorFlow.

`pretrain_plm` is the TensorFlow implementation (TFRecords, a TPU or GPUs, checkpoints that
`port_checkpoint` turns into a HuggingFace directory). This module is the short path for one GPU
with PyTorch and transformers alone: it reads packed token ids (`sequences.npy`, written by
`manage.py build_domain_pretraining`), trains a generator and a discriminator that share their
embeddings, and writes the discriminator as a HuggingFace directory (`ElectraForPreTraining`) that
`finetune_classifier --model` and `build_unused_model --base-model` start from. It needs neither
Django nor the project's settings, so the data directory and this file are all a GPU machine needs:

    python -m plm.electra.torch_pretrain DATA_DIR --out OUT_DIR --seconds 300

The objective is the original release's (`../shared/reference/electra-facts.md`): 15 % of the real
tokens other than [CLS] and [SEP] are chosen, 85 % of those become [MASK] and 15 % keep their token;
the generator (a smaller ELECTRA with the same embeddings) predicts the chosen tokens, a sample of
its prediction (Gumbel-max, temperature 1, no gradient) replaces each, and the discriminator learns
which tokens were replaced. Loss = generator MLM loss + 50 × discriminator loss, AdamW with linear
warm-up and decay. One difference: the positions of a row are drawn without replacement (the original
draws with replacement). All shapes are static, so a GPU step never waits on the host.

`--seconds` bounds the run: after a short warm-up the step rate is measured and the schedule is set
to the number of steps that fit (never more than `--steps`), so the learning rate still decays to 0.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def pack(token_lists, max_length, cls_id, sep_id, pad_id=0):
    """Texts' token ids packed into rows of `max_length`: [CLS] a [SEP] b [SEP] … then padding.

    A text longer than a row is cut into row-sized pieces; a text that does not fit the room left in
    the current row starts a new row, so no text is split without need."""
    if max_length < 8:
        raise ValueError(f"max_length {max_length}: at least 8 tokens per row")
    room = max_length - 2  # [CLS] and one [SEP]
    rows, row = [], [cls_id]
    for ids in token_lists:
        ids = list(ids)
        for start in range(0, len(ids), room):
            piece = ids[start : start + room]
            if len(row) + len(piece) + 1 > max_length:
                rows.append(row)
                row = [cls_id]
            row += piece + [sep_id]
    if len(row) > 1:
        rows.append(row)
    out = np.full((len(rows), max_length), pad_id, dtype=np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def with_shape(recipe, hidden_size=None, layers=None, heads=None, embedding_size=None):
    """The recipe with another discriminator shape: the intermediate size follows the hidden size (× 4) and the heads
    default to one per 64 hidden units, as `build_domain_pretraining` sets them."""
    recipe = dict(recipe)
    if hidden_size:
        recipe["hidden_size"] = hidden_size
        recipe["intermediate_size"] = 4 * hidden_size
        recipe["num_attention_heads"] = max(1, hidden_size // 64)
    if layers:
        recipe["num_hidden_layers"] = layers
    if heads:
        recipe["num_attention_heads"] = heads
    if embedding_size:
        recipe["embedding_size"] = embedding_size
    if recipe["hidden_size"] % recipe["num_attention_heads"]:
        raise ValueError(
            f"hidden size {recipe['hidden_size']} is not a multiple of {recipe['num_attention_heads']} attention heads"
        )
    return recipe


def build_models(recipe):
    """(generator, discriminator) from a recipe's model shape, sharing the token, position and type embeddings."""
    from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

    hidden, layers = recipe["hidden_size"], recipe["num_hidden_layers"]
    common = {
        "vocab_size": recipe["vocab_size"],
        "embedding_size": recipe["embedding_size"],
        "max_position_embeddings": recipe["max_position_embeddings"],
        "pad_token_id": recipe["pad_token_id"],
    }
    disc_config = ElectraConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=recipe["num_attention_heads"],
        intermediate_size=recipe["intermediate_size"],
        **common,
    )
    gen_hidden = max(16, int(hidden * recipe["generator_hidden_fraction"]))
    gen_heads = max(1, gen_hidden // 64)
    gen_config = ElectraConfig(
        hidden_size=gen_hidden,
        num_hidden_layers=layers,
        num_attention_heads=gen_heads,
        intermediate_size=gen_hidden * 4,
        **common,
    )
    discriminator = ElectraForPreTraining(disc_config)
    generator = ElectraForMaskedLM(gen_config)
    generator.electra.embeddings = discriminator.electra.embeddings  # shared, as in the original
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    return generator, discriminator


def mask_tokens(input_ids, special, mask_id, mask_prob, max_predictions, generator=None):
    """Positions to predict and the masked input, with static shapes (no host synchronisation on a GPU).

    Per row, num = max(1, min(max_predictions, round(mask_prob × real tokens))) positions are drawn without
    replacement among the tokens that are not special; 85 % of them become [MASK]. Returns (masked ids [B, L],
    positions [B, N], weights [B, N]: 1 for the first num slots, 0 for the rest)."""
    import torch

    scores = torch.rand(input_ids.shape, device=input_ids.device, generator=generator)
    scores = scores.masked_fill(special, -1.0)
    positions = scores.topk(max_predictions, dim=-1).indices  # [B, N], the real non-special tokens first
    candidates = (~special).sum(-1, keepdim=True)
    wanted = (candidates.float() * mask_prob).round().clamp(min=1).clamp(max=max_predictions)
    wanted = torch.minimum(wanted, candidates.float())
    weights = (torch.arange(max_predictions, device=input_ids.device)[None, :] < wanted).float()
    to_mask = (torch.rand(positions.shape, device=input_ids.device, generator=generator) < 0.85) & weights.bool()
    mask_values = torch.where(to_mask, mask_id, input_ids.gather(1, positions))
    return input_ids.scatter(1, positions, mask_values), positions, weights


def rtd_step(generator, discriminator, input_ids, attention_mask, special, recipe, disc_weight=50.0, rng=None):
    """One replaced-token-detection forward pass: (loss, statistics tensors)."""
    import torch
    import torch.nn.functional as F

    max_predictions = int((recipe["mask_prob"] + 0.005) * input_ids.shape[1])  # the original's cap
    masked, positions, weights = mask_tokens(
        input_ids, special, recipe["mask_token_id"], recipe["mask_prob"], max_predictions, rng
    )
    hidden = generator.electra(input_ids=masked, attention_mask=attention_mask).last_hidden_state
    picked = hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))  # [B, N, H]
    logits = generator.generator_lm_head(generator.generator_predictions(picked)).float()  # [B, N, V]
    originals = input_ids.gather(1, positions)
    token_loss = F.cross_entropy(logits.transpose(1, 2), originals, reduction="none")  # [B, N]
    gen_loss = (token_loss * weights).sum() / weights.sum()
    with torch.no_grad():
        uniform = torch.rand(logits.shape, device=logits.device, generator=rng).clamp_(1e-9, 1.0)
        sampled = (logits - torch.log(-torch.log(uniform))).argmax(-1)
        sampled = torch.where(weights.bool(), sampled, originals)  # unweighted slots keep their token
    replaced_ids = input_ids.scatter(1, positions, sampled)
    labels = (replaced_ids != input_ids).float()
    disc_logits = discriminator(input_ids=replaced_ids, attention_mask=attention_mask).logits.float()
    real = attention_mask.float()
    token_disc = F.binary_cross_entropy_with_logits(disc_logits, labels, reduction="none")
    disc_loss = (token_disc * real).sum() / real.sum()
    stats = {
        "gen_loss": gen_loss.detach(),
        "disc_loss": disc_loss.detach(),
        "gen_accuracy": ((sampled == originals).float() * weights).sum() / weights.sum(),
        "predicted": weights.sum(),
        "disc_logits": disc_logits.detach(),
        "disc_labels": labels,
        "real": attention_mask.bool(),
    }
    return gen_loss + disc_weight * disc_loss, stats


def evaluate(generator, discriminator, held_out, recipe, device, batch_size, seed=1234):
    """Held-out rows, a fixed masking: discriminator AUC and accuracy on generator replacements, generator accuracy."""
    import torch

    rng = torch.Generator(device=device).manual_seed(seed)
    generator.eval(), discriminator.eval()
    logits, labels, gen_correct, gen_total, losses = [], [], 0.0, 0, []
    with torch.no_grad(), autocast(device):
        for start in range(0, len(held_out), batch_size):
            ids = held_out[start : start + batch_size]
            attention, special = masks(ids, recipe)
            loss, stats = rtd_step(generator, discriminator, ids, attention, special, recipe, rng=rng)
            losses.append(float(loss))
            real = stats["real"]
            logits.append(stats["disc_logits"][real].float())
            labels.append(stats["disc_labels"][real])
            n = int(stats["predicted"])
            gen_correct += float(stats["gen_accuracy"]) * n
            gen_total += n
    generator.train(), discriminator.train()
    from sklearn.metrics import roc_auc_score

    logits, labels = torch.cat(logits), torch.cat(labels)
    predicted = logits > 0
    replaced = labels.bool()
    both = 0 < int(replaced.sum()) < replaced.numel()
    return {
        "loss": sum(losses) / len(losses),
        "disc_auc": float(roc_auc_score(replaced.cpu().numpy(), logits.cpu().numpy())) if both else None,
        "disc_accuracy": float((predicted == replaced).float().mean()),
        "disc_recall_replaced": float(predicted[replaced].float().mean()) if replaced.any() else None,
        "replaced_share": float(labels.mean()),
        "gen_accuracy": gen_correct / max(gen_total, 1),
    }


def masks(ids, recipe):
    """(attention mask, special-token mask) of a batch of packed rows."""
    attention = (ids != recipe["pad_token_id"]).long()
    special = (ids == recipe["pad_token_id"]) | (ids == recipe["cls_token_id"]) | (ids == recipe["sep_token_id"])
    return attention, special


def synchronize(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device):
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def optimizer_for(generator, discriminator, learning_rate, weight_decay):
    import torch

    seen, decay, no_decay = set(), [], []
    for model in (discriminator, generator):
        for name, parameter in model.named_parameters():
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            (no_decay if "LayerNorm" in name or name.endswith("bias") else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(iter(discriminator.parameters())).is_cuda  # one kernel per step for all parameters on a GPU
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-6, fused=fused)


def pretrain(
    data_dir,
    out_dir,
    *,
    seconds=300.0,
    steps=100000,
    batch_size=256,
    learning_rate=5e-4,
    warmup=0.1,
    weight_decay=0.01,
    seed=0,
    device=None,
    log=print,
    log_every=500,
    shape=None,
):
    """Pretrain on data_dir's sequences for at most `seconds` of training (and `steps`); write out_dir. Returns the log.

    `shape` replaces the data's model shape (`with_shape`), so one data directory serves several sizes."""
    import torch

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    recipe = with_shape(json.loads((data_dir / "pretraining.json").read_text(encoding="utf-8")), **(shape or {}))
    sequences = np.load(data_dir / "sequences.npy")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    rows = torch.from_numpy(sequences.astype(np.int64))
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))
    held = min(max(len(rows) // 50, 8), 4096)
    held_out, train = rows[order[:held]].to(device), rows[order[held:]].to(device)
    if len(train) < batch_size:
        batch_size = max(1, len(train))
    generator, discriminator = build_models(recipe)
    generator.to(device), discriminator.to(device)
    optimizer = optimizer_for(generator, discriminator, learning_rate, weight_decay)
    schedule = {"total": steps, "warmup": max(1, int(warmup * steps))}

    def factor(step):
        if step < schedule["warmup"]:
            return (step + 1) / schedule["warmup"]
        return max(0.0, (schedule["total"] - step) / max(1, schedule["total"] - schedule["warmup"]))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    rng = torch.Generator(device=device).manual_seed(seed + 1)
    history = [{"step": 0, **evaluate(generator, discriminator, held_out, recipe, device, batch_size)}]
    log(f"step 0: held-out {json.dumps(history[-1])}")
    started, step, epoch, measured = time.perf_counter(), 0, 0, False
    params = [p for group in optimizer.param_groups for p in group["params"]]
    while step < schedule["total"]:
        epoch += 1
        permutation = torch.randperm(len(train), device=device, generator=rng)
        for start in range(0, len(train) - batch_size + 1, batch_size):
            ids = train[permutation[start : start + batch_size]]
            attention, special = masks(ids, recipe)
            with autocast(device):
                loss, stats = rtd_step(generator, discriminator, ids, attention, special, recipe, rng=rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step == 50:
                synchronize(device)
                mark = time.perf_counter()
            elif step == 150 and not measured:  # the rate after warm-up sets how many steps fit
                synchronize(device)
                now = time.perf_counter()
                rate = 100 / (now - mark)
                fit = step + int(rate * (seconds - (now - started)) * 0.97)
                schedule["total"] = max(step + 1, min(steps, fit))
                schedule["warmup"] = max(1, min(schedule["warmup"], int(warmup * schedule["total"])))
                measured = True
                log(f"{rate:.1f} steps/s: {schedule['total']} steps fit {seconds:.0f} s")
            if time.perf_counter() - started > seconds * 1.05:  # a hard stop, also before the rate is known
                schedule["total"] = step
            if step % log_every == 0 or step == schedule["total"]:
                history.append(
                    {
                        "step": step,
                        "epoch": epoch,
                        "seconds": round(time.perf_counter() - started, 1),
                        "learning_rate": scheduler.get_last_lr()[0],
                        "train_gen_loss": float(stats["gen_loss"]),
                        "train_disc_loss": float(stats["disc_loss"]),
                        **evaluate(generator, discriminator, held_out, recipe, device, batch_size),
                    }
                )
                log(f"step {step}: {json.dumps(history[-1])}")
            if step >= schedule["total"]:
                break
    elapsed = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    discriminator.to("cpu")
    if recipe.get("preprocess"):
        discriminator.config.hwadmin_preprocess = recipe["preprocess"]
    discriminator.save_pretrained(out_dir)
    for name in TOKENIZER_FILES:
        if (data_dir / name).is_file():
            shutil.copy(data_dir / name, out_dir / name)
    result = {
        "recipe": recipe,
        "rows": len(rows),
        "held_out_rows": held,
        "batch_size": batch_size,
        "max_length": int(sequences.shape[1]),
        "learning_rate": learning_rate,
        "steps": step,
        "epochs": round(step * batch_size / len(train), 2),
        "train_seconds": round(elapsed, 1),
        "tokens_seen": int(step * batch_size * sequences.shape[1]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "seed": seed,
        "history": history,
        "final": history[-1],
    }
    (out_dir / "pretraining_log.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", help="a directory from manage.py build_domain_pretraining")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=300.0, help="training time budget (default 300)")
    parser.add_argument("--steps", type=int, default=100000, help="most steps (default 100000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda where there is one)")
    parser.add_argument("--log-every", type=int, default=500)
    shape = parser.add_argument_group("model shape (default: the data's pretraining.json)")
    shape.add_argument("--hidden-size", type=int, help="discriminator hidden size (intermediate: 4 ×)")
    shape.add_argument("--layers", type=int, help="discriminator layers")
    shape.add_argument("--heads", type=int, help="attention heads (default: hidden size / 64)")
    shape.add_argument("--embedding-size", type=int)
    args = parser.parse_args(argv)
    if not (Path(args.data_dir) / "sequences.npy").is_file():
        parser.error(f"{args.data_dir}: no sequences.npy (make it with manage.py build_domain_pretraining)")
    shape = {"hidden_size": args.hidden_size, "layers": args.layers, "heads": args.heads}
    shape["embedding_size"] = args.embedding_size
    try:
        with_shape(json.loads((Path(args.data_dir) / "pretraining.json").read_text(encoding="utf-8")), **shape)
    except ValueError as exc:
        parser.error(str(exc))
    result = pretrain(
        args.data_dir,
        args.out,
        seconds=args.seconds,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        device=args.device,
        log_every=args.log_every,
        shape=shape,
    )
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()
