"""Build the hand-labelled attribute sentence set (상품 속성 문장).

Subcommands (run from the repository root with the project's Python):

  select   read the four Olive Young review sets, split every review into sentences with
           the corpus splitter, drop short sentences and exact duplicates, draw 1,650
           sentences (about half uniformly at random, half stratified by the phrase
           tagger's hits so that rare attributes get enough mentions), assign each its
           split by product, write batches/batch-{1,2,3}.jsonl (550 sentences each)
  merge    read batches/labelled-{1,2,3}.jsonl (the batch rows plus "labels", written by
           the people who read and labelled them following docs/attribute_guideline.md),
           check every row against its batch, its source review and the taxonomy, write
           sentences.jsonl
  select-more
           a further batch from the products of the train and validation splits (the
           test split stays as it was, so figures before and after compare on the same
           rows): sentences not labelled yet, a random slice plus those where the shipped
           back-off tagger's regression is least sure of an attribute no phrase decides
           (``selected_by`` "random" or "uncertain:<attribute_id>"), written as the next
           batches/batch-<n>.jsonl with ids following the last one
  select-test
           a random batch from the products of the test split, sentences not labelled yet
           (``selected_by`` "random"): more test rows drawn as the first random half was, so
           the test figures rest on more sentences, and on sentences the phrase tagger did not
           choose; written as the next batches/batch-<n>.jsonl
  verify   check sentences.jsonl: every sentence is still a sentence of its source review,
           every label is valid under the taxonomy, every split is its product's split

The labels are decided by people reading each sentence; the phrase tagger only chose which
sentences to read (``selected_by``) and never decides a label. Needs the shared data sets
(HWADMIN_SHARED_DATA overrides the path).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for plm
from plm.attributes import PhraseTagger, load_taxonomy, split_many  # noqa: E402
from plm.beauty import dedupe, load_reviews  # noqa: E402
from plm.shared import shared_data_dir  # noqa: E402
from plm.splits import stable_split  # noqa: E402

FRACTIONS = (0.70, 0.15, 0.15)
SEED = 20261214
N_TOTAL = 1650
N_RANDOM = 825
BATCHES = 3
BATCH_SIZE = N_TOTAL // BATCHES
MIN_CHARS = 6
# for an attribute with polarity, at most this share of its stratified quota comes from
# sentences the tagger calls positive, so that negative mentions are met too
POS_SHARE = 0.6
BATCH_DIR = HERE / "batches"
MORE_SEED = 20261203
TEST_SEED = 20261204
TAGGER_DIR = HERE.parents[2] / "models" / "attributes-backoff"
OUTPUT = HERE / "sentences.jsonl"
FIELDS = ("id", "text", "review_ref", "product_id", "split", "selected_by")
SPLITS = ("train", "validation", "test")


def review_ref(review: dict) -> str:
    return f"{review['source']}/{review['source_ref']}"


def sentence_pool(data_dir=None) -> list[dict]:
    """Every sentence of the four sets, in source order: corpus-split, 6 characters or more,
    exact duplicates dropped (the first kept), with the review it comes from."""
    reviews = dedupe(load_reviews(data_dir or shared_data_dir()))
    seen, pool = set(), []
    for review, sentences in zip(reviews, split_many([r["text"] for r in reviews])):
        for text in sentences:
            if len(text) < MIN_CHARS or text in seen:
                continue
            seen.add(text)
            pool.append({"text": text, "review_ref": review_ref(review), "product_id": review["product_id"]})
    return pool


def select(pool: list[dict], taxonomy, n_total=N_TOTAL, n_random=N_RANDOM, seed=SEED) -> list[dict]:
    """The sentences to label: ``n_random`` uniformly at random, the rest spread evenly over the
    attributes among sentences the phrase tagger tags with them (an attribute with few hits gives
    all it has, the others share what is left; if all together have too few, random ones fill up). Returns rows with ``selected_by`` and ``split``,
    shuffled, with ids ``s-000001``... in that order."""
    rng = random.Random(seed)
    chosen = dict.fromkeys(rng.sample(range(len(pool)), n_random), "random")
    tagger = PhraseTagger(taxonomy)
    hits: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, row in enumerate(pool):
        if i in chosen:
            continue
        for attribute, value in tagger.tag(row["text"]).items():
            hits[attribute][value].append(i)
    budget = n_total - n_random
    todo = list(taxonomy)
    # fill the rarest attributes first, so an attribute's sentences are not all taken by others
    todo.sort(key=lambda a: sum(len(v) for v in hits[a.id].values()))
    for k, attribute in enumerate(todo):
        quota = (budget - sum(1 for s in chosen.values() if s != "random")) // (len(todo) - k)
        by_value = {v: [i for i in idx if i not in chosen] for v, idx in hits[attribute.id].items()}
        for idx in by_value.values():
            random.Random(f"{seed}:{attribute.id}").shuffle(idx)
        if attribute.polarity:
            neg = by_value.get("neg", [])
            pos = by_value.get("pos", [])
            n_pos = min(len(pos), max(int(quota * POS_SHARE), quota - len(neg)))
            take = pos[:n_pos] + neg[: quota - n_pos]
        else:
            take = by_value.get("present", [])[:quota]
        for i in take:
            chosen[i] = f"phrase:{attribute.id}"
    # a small pool with too few tagger hits: the rest is random too, so the total always holds
    short = n_total - len(chosen)
    if short > 0:
        rest = [i for i in range(len(pool)) if i not in chosen]
        for i in random.Random(seed + 2).sample(rest, min(short, len(rest))):
            chosen[i] = "random"
    order = list(chosen)
    random.Random(seed + 1).shuffle(order)  # labelling order hides the route
    rows = []
    for n, i in enumerate(order, start=1):
        row = pool[i]
        rows.append(
            {
                "id": f"s-{n:06d}",
                "text": row["text"],
                "review_ref": row["review_ref"],
                "product_id": row["product_id"],
                "split": stable_split(row["product_id"], FRACTIONS),
                "selected_by": chosen[i],
            }
        )
    return rows


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return rows


def source_sentences(data_dir=None) -> dict[str, list[str]]:
    """review_ref -> the review's sentences as the splitter gives them now."""
    reviews = load_reviews(data_dir or shared_data_dir())
    return {review_ref(r): s for r, s in zip(reviews, split_many([r["text"] for r in reviews]))}


def check_labels(row: dict, taxonomy, where: str) -> list[str]:
    """What is wrong with a row's labels (empty when nothing)."""
    allowed = {a.id: a.allowed_values() for a in taxonomy}
    labels = row.get("labels")
    if not isinstance(labels, dict):
        return [f"{where}: 'labels' must be an object {{attribute_id: value}} (an empty one for no attribute)"]
    problems = []
    for key, value in labels.items():
        if key not in allowed:
            problems.append(f"{where}: unknown attribute id {key!r} in labels")
        elif value not in allowed[key]:
            problems.append(f"{where}: label {key}={value!r} is not one of {', '.join(allowed[key])}")
    return problems


def check_rows(rows: list[dict], taxonomy, sentences_of: dict[str, list[str]], where: str) -> list[str]:
    problems = []
    ids = Counter(r.get("id") for r in rows)
    problems += [f"{where}: id {i!r} appears {n} times" for i, n in ids.items() if n > 1]
    for r in rows:
        at = f"{where}: {r.get('id')}"
        missing = [f for f in (*FIELDS, "labels") if f not in r]
        if missing:
            problems.append(f"{at}: missing field(s) {', '.join(missing)}")
            continue
        if r["text"] not in sentences_of.get(r["review_ref"], ()):
            problems.append(f"{at}: text is not a sentence of its source review {r['review_ref']}")
        if r["split"] != stable_split(r["product_id"], FRACTIONS):
            problems.append(f"{at}: split {r['split']!r} is not the split of product {r['product_id']}")
        problems += check_labels(r, taxonomy, at)
    return problems


def cmd_select(args) -> None:
    existing = sorted(BATCH_DIR.glob("batch-*.jsonl"))
    if existing and not args.force:
        raise SystemExit(
            f"{existing[0].parent} already holds batch files (they may be being labelled); "
            "select --force overwrites them"
        )
    taxonomy = load_taxonomy()
    pool = sentence_pool()
    rows = select(pool, taxonomy)
    for b in range(BATCHES):
        write_jsonl(BATCH_DIR / f"batch-{b + 1}.jsonl", rows[b * BATCH_SIZE : (b + 1) * BATCH_SIZE])
    print(f"{len(pool)} sentences in the pool; {len(rows)} selected -> {BATCH_DIR}/batch-{{1..{BATCHES}}}.jsonl")
    print("split", dict(Counter(r["split"] for r in rows)))
    print("selected_by", dict(Counter(r["selected_by"] for r in rows).most_common()))


def batch_count() -> int:
    """How many batch files there are: batch-1.jsonl ... batch-<n>.jsonl, none missing."""
    n = 0
    while (BATCH_DIR / f"batch-{n + 1}.jsonl").exists():
        n += 1
    return max(n, BATCHES)


def uncertainty(tagger, texts) -> list[tuple[float, str]]:
    """(how unsure, attribute) per text: for each attribute no phrase decides in the text, how close
    the regression's probability (before the phrases) is to the attribute's threshold (1 at the
    threshold, 0 at 0 or 1); the attribute where it is closest."""
    from plm.attributes_model import output_groups

    groups = output_groups(tagger.layout)
    out = []
    for row, text in zip(tagger.regression_probabilities(texts).tolist(), texts):
        decided = tagger.phrases.tag(text)
        best = (0.0, "")
        for attribute, outputs in groups.items():
            if attribute in decided:
                continue
            p = max(row[i] for i, _value in outputs)
            t = min(max(tagger.thresholds.get(attribute, 0.5), 1e-6), 1 - 1e-6)
            closeness = 1.0 - (t - p) / t if p < t else 1.0 - (p - t) / (1.0 - t)
            best = max(best, (closeness, attribute))
        out.append(best)
    return out


def select_more(pool, labelled, tagger, n_total, n_random, seed=MORE_SEED, first_id=1) -> list[dict]:
    """``n_random`` sentences drawn uniformly and ``n_total - n_random`` of the most uncertain ones, from
    train- and validation-split products, none already labelled; an uncertain one never shares its review
    with another chosen sentence (so one long review cannot fill the batch); shuffled."""
    seen = {r["text"] for r in labelled}
    candidates = [dict(r, split=stable_split(r["product_id"], FRACTIONS)) for r in pool if r["text"] not in seen]
    candidates = [r for r in candidates if r["split"] in ("train", "validation")]
    rng = random.Random(seed)
    picked = rng.sample(range(len(candidates)), n_random)
    chosen = dict.fromkeys(picked, "random")
    reviews = {candidates[i]["review_ref"] for i in picked}
    scores = uncertainty(tagger, [r["text"] for r in candidates])
    for i in sorted(range(len(candidates)), key=lambda i: (-scores[i][0], i)):
        if len(chosen) >= n_total:
            break
        if i in chosen or candidates[i]["review_ref"] in reviews or not scores[i][1]:
            continue
        chosen[i] = f"uncertain:{scores[i][1]}"
        reviews.add(candidates[i]["review_ref"])
    order = list(chosen)
    random.Random(seed + 1).shuffle(order)  # labelling order hides the route
    return [
        {
            "id": f"s-{first_id + n:06d}",
            **{k: candidates[i][k] for k in ("text", "review_ref", "product_id", "split")},
            "selected_by": chosen[i],
        }
        for n, i in enumerate(order)
    ]


def select_test(pool, labelled, n_total, seed=TEST_SEED, first_id=1) -> list[dict]:
    """``n_total`` sentences drawn uniformly from the test split's products, none already labelled, in the
    order drawn (a uniform draw has no route to hide)."""
    seen = {r["text"] for r in labelled}
    candidates = [dict(r, split=stable_split(r["product_id"], FRACTIONS)) for r in pool if r["text"] not in seen]
    candidates = [r for r in candidates if r["split"] == "test"]
    if n_total > len(candidates):
        raise SystemExit(f"--count {n_total}: the test split has only {len(candidates)} sentences not labelled yet")
    picked = random.Random(seed).sample(range(len(candidates)), n_total)
    return [
        {
            "id": f"s-{first_id + n:06d}",
            **{k: candidates[i][k] for k in ("text", "review_ref", "product_id", "split")},
            "selected_by": "random",
        }
        for n, i in enumerate(picked)
    ]


def unmerged_batches(labelled: list[dict]) -> list[Path]:
    """The batch files whose rows are not all in sentences.jsonl yet."""
    merged = {r["id"] for r in labelled}
    paths = [BATCH_DIR / f"batch-{b}.jsonl" for b in range(1, batch_count() + 1)]
    return [p for p in paths if not {r["id"] for r in read_jsonl(p)} <= merged]


def cmd_select_test(args) -> None:
    if args.count <= 0:
        raise SystemExit(f"--count must be positive (got {args.count})")
    labelled = read_jsonl(OUTPUT)
    pending = unmerged_batches(labelled)
    if pending and not args.force:
        raise SystemExit(
            f"{pending[0]} is not in {OUTPUT.name} yet: label it and run merge first (or select-test --force)"
        )
    last = max(int(r["id"].split("-")[1]) for r in labelled)
    rows = select_test(sentence_pool(), labelled, args.count, first_id=last + 1)
    path = BATCH_DIR / f"batch-{batch_count() + 1}.jsonl"
    write_jsonl(path, rows)
    print(f"{len(rows)} test-split sentences drawn at random -> {path}")


def cmd_select_more(args) -> None:
    from plm.attribute_backoff import load

    if not 0 <= args.random <= args.count or args.count <= 0:
        raise SystemExit(f"--count must be positive and --random between 0 and it (got {args.count} and {args.random})")
    n = batch_count()
    labelled = read_jsonl(OUTPUT)
    pending = unmerged_batches(labelled)
    if pending and not args.force:
        raise SystemExit(
            f"{pending[0]} is not in {OUTPUT.name} yet: label it and run merge first (or select-more --force)"
        )
    taxonomy = load_taxonomy()
    tagger = load(args.tagger, taxonomy)
    last = max(int(r["id"].split("-")[1]) for r in labelled)
    rows = select_more(sentence_pool(), labelled, tagger, args.count, args.random, first_id=last + 1)
    path = BATCH_DIR / f"batch-{n + 1}.jsonl"
    write_jsonl(path, rows)
    print(f"{len(rows)} sentences -> {path}")
    print("split", dict(Counter(r["split"] for r in rows)))
    print("selected_by", dict(Counter(r["selected_by"].split(":")[0] for r in rows)))


def cmd_merge(_args) -> None:
    taxonomy = load_taxonomy()
    batch_rows, labelled, missing = {}, [], []
    for b in range(1, batch_count() + 1):
        for r in read_jsonl(BATCH_DIR / f"batch-{b}.jsonl"):
            batch_rows[r["id"]] = r
        path = BATCH_DIR / f"labelled-{b}.jsonl"
        if path.exists():
            labelled += [dict(r, _file=path.name) for r in read_jsonl(path)]
        else:
            missing.append(path.name)
    if not labelled:
        raise SystemExit(
            f"no labelled batch in {BATCH_DIR} (expected labelled-1.jsonl ... labelled-{batch_count()}.jsonl)"
        )
    problems = []
    for r in labelled:
        batch = batch_rows.get(r.get("id"))
        if batch is None:
            problems.append(f"{r['_file']}: id {r.get('id')!r} is in no batch file")
            continue
        changed = [f for f in FIELDS if r.get(f) != batch[f]]
        if changed:
            problems.append(f"{r['_file']}: {r['id']}: field(s) {', '.join(changed)} differ from the batch file")
    rows = [{k: r[k] for k in (*FIELDS, "labels") if k in r} for r in labelled]
    problems += check_rows(rows, taxonomy, source_sentences(), "labelled")
    if problems:
        raise SystemExit(f"{len(problems)} problem(s), nothing written:\n" + "\n".join(problems[:50]))
    rows.sort(key=lambda r: r["id"])
    write_jsonl(OUTPUT, rows)
    summary(rows, taxonomy)
    if missing:
        print(f"not yet labelled: {', '.join(missing)}")


def summary(rows, taxonomy) -> None:
    print(f"{len(rows)} rows -> {OUTPUT}")
    print("split", dict(Counter(r["split"] for r in rows)), "no attribute:", sum(not r["labels"] for r in rows))
    counts = Counter((a, v) for r in rows for a, v in r["labels"].items())
    for a in taxonomy:
        print(f"  {a.id:15s}", {v: counts[(a.id, v)] for v in a.allowed_values()})


def cmd_verify(_args) -> None:
    taxonomy = load_taxonomy()
    rows = read_jsonl(OUTPUT)
    problems = check_rows(rows, taxonomy, source_sentences(), OUTPUT.name)
    if problems:
        raise SystemExit(f"{len(problems)} problem(s):\n" + "\n".join(problems[:50]))
    print(f"all {len(rows)} rows match their source review, their product's split and the taxonomy")


# Shaped as data/labelled/unused/build.py's main: two standalone scripts, each with its own subcommands.
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("select")
    p.add_argument("--force", action="store_true", help="overwrite existing batch files")
    p.set_defaults(func=cmd_select)
    p = sub.add_parser("select-more")
    p.add_argument("--count", type=int, default=400, help="sentences in the new batch (default 400)")
    p.add_argument("--random", type=int, default=100, help="of which drawn at random (default 100)")
    p.add_argument("--tagger", default=str(TAGGER_DIR), help="the back-off tagger whose uncertainty chooses")
    p.add_argument(
        "--force", action="store_true", help="even when an earlier batch is not merged into sentences.jsonl yet"
    )
    p.set_defaults(func=cmd_select_more)
    p = sub.add_parser("select-test")
    p.add_argument("--count", type=int, default=300, help="sentences in the new batch (default 300)")
    p.add_argument(
        "--force", action="store_true", help="even when an earlier batch is not merged into sentences.jsonl yet"
    )
    p.set_defaults(func=cmd_select_test)
    sub.add_parser("merge").set_defaults(func=cmd_merge)
    sub.add_parser("verify").set_defaults(func=cmd_verify)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
