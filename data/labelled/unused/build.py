"""Over 500 lines: one script per labelled set, its subcommands (select, merge, verify, relink) sharing their readers.

Build the hand-labelled unused-review (미사용 리뷰) set.

Subcommands (run from the repository root with the project's Python):

  select   read the four Olive Young review sets, dedupe by text, draw a seeded
           random sample plus cue-phrase candidates, write candidates.jsonl
  select-more
           round 2: append reviews chosen where they teach most (the baseline's
           top and its uncertain band, baseline-vs-model disagreement) plus a
           random slice to candidates.jsonl
  show     print unlabelled candidates (id and text) for reading, a batch at a time
  record   append labels for a batch to labels.tsv (source_ref <TAB> label)
  merge    join labels.tsv with candidates.jsonl, assign whole products to
           train / validation / test, write reviews.jsonl
  verify   check that every source_ref in reviews.jsonl holds its text in the source
           data (needs the shared data sets; HWADMIN_SHARED_DATA overrides the path)

The labels themselves are decided by a person reading each review following
docs/labelling_guideline.md; this script only selects, records and merges.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for plm.splits
from plm.baseline import fit_baseline  # noqa: E402
from plm.beauty import dedupe, norm_space  # noqa: E402
from plm.beauty import load_reviews as _load_reviews  # noqa: E402
from plm.shared import shared_data_dir  # noqa: E402
from plm.splits import stable_split  # noqa: E402

NEW_PRODUCT_FRACTIONS = (0.70, 0.15, 0.15)
DATA = shared_data_dir()
CANDIDATES = HERE / "candidates.jsonl"
LABELS = HERE / "labels.tsv"
OUTPUT = HERE / "reviews.jsonl"

SEED = 20261128
N_RANDOM = 1000
ROUND2_SEED = 20261201
# round 2 (select-more): how many reviews each route contributes, in this order
ROUND2 = (("random2", 400), ("top:baseline", 500), ("uncertain:baseline", 500), ("disagree:baseline-word", 500))
# round 3 (select-more --model DIR): the ELECTRA student of round 2's labels beside the baseline
ROUND3 = (("random3", 400), ("disagree:baseline-electra", 500), ("top:electra", 300), ("uncertain:electra", 300))
ROUNDS = {2: ROUND2, 3: ROUND3}
ROUND_SEEDS = {2: ROUND2_SEED, 3: ROUND2_SEED + 100}
LABELS_ALLOWED = ("unused", "used", "gift", "unclear")
SHORT = {"u": "unused", "g": "gift", "x": "unclear", "s": "used"}

# Cue phrases, most specific first; a review is credited to the first cue it
# contains. ``cap`` bounds how many candidates one cue contributes (frequent,
# weak cues such as 배송 or 기대 would otherwise swamp the candidate file).
CUES: list[tuple[str, int]] = [
    ("미개봉", 60),
    ("개봉 전", 60),
    ("개봉전", 60),
    ("개봉도", 40),
    ("뜯지", 40),
    ("아직 사용", 120),
    ("아직 안 써", 60),
    ("아직 안써", 60),
    ("아직 안 발", 30),
    ("아직 안발", 30),
    ("아직 못 써", 40),
    ("아직 못써", 40),
    ("아직 써보", 40),
    ("사용 전", 60),
    ("사용전", 60),
    ("사용하기 전", 30),
    ("안 써봤", 30),
    ("안써봤", 30),
    ("안 써봐", 20),
    ("안써봐", 30),
    ("후기 남길", 40),
    ("리뷰 남길", 40),
    ("후기 남기", 20),
    ("리뷰 남기", 20),
    ("써보고", 40),
    ("사용해보고", 40),
    ("사용해 보고", 25),
    ("써 보고", 20),
    ("쟁여", 40),
    ("쟁임", 30),
    ("쟁였", 25),
    ("선물", 40),
    ("아직", 50),
    ("배송", 50),
    ("포장", 25),
    ("기대", 30),
]


_norm_space = norm_space


def load_reviews() -> list[dict]:
    """Every review of the four sets, in a fixed order, with product id and reference."""
    return _load_reviews(DATA)


def select() -> list[dict]:
    pool = dedupe(load_reviews())
    rng = random.Random(SEED)
    random_idx = set(rng.sample(range(len(pool)), N_RANDOM))
    chosen = [dict(pool[i], selected_by="random") for i in sorted(random_idx)]
    by_cue: dict[str, list[dict]] = defaultdict(list)
    for i, r in enumerate(pool):
        if i in random_idx:
            continue
        flat = _norm_space(r["text"])
        for cue, _cap in CUES:
            if cue in flat:
                by_cue[cue].append(r)
                break
    for cue, cap in CUES:
        found = by_cue.get(cue, [])
        take = found if len(found) <= cap else random.Random(f"{SEED}:{cue}").sample(found, cap)
        chosen.extend(dict(r, selected_by=f"cue:{cue}") for r in take)
    # labelling order: cue candidates first (each group shuffled), then the random sample
    rand, cue = chosen[:N_RANDOM], chosen[N_RANDOM:]
    random.Random(SEED + 1).shuffle(cue)
    random.Random(SEED + 2).shuffle(rand)
    chosen = cue + rand
    for n, r in enumerate(chosen):
        r["id"] = n
    return chosen


def _electra_scores(model_dir: str, pool: list[dict]):
    """A classifier directory's (calibrated) scores, as the workers compute them."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")
    django.setup()
    import numpy as np

    from moderation.scoring import load_model_dir, predict_proba

    model, tokenizer, max_length = load_model_dir(model_dir)
    return np.array(predict_proba(model, tokenizer, [r["text"] for r in pool], max_length))


def _round2_scores(labelled: list[dict], pool: list[dict]):
    """The baseline (character 2-4-gram TF-IDF + logistic regression) and a second model of
    another view (word 1-2-gram TF-IDF + logistic regression), both trained on the train and
    validation rows of the labelled set (unused = 1, used = 0), scoring the pool."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows = [r for r in labelled if r["split"] != "test" and r["label"] in ("unused", "used")]
    texts = [r["text"] for r in rows]
    y = np.array([r["label"] == "unused" for r in rows], dtype=int)
    pool_texts = [r["text"] for r in pool]
    # the baseline is the project's own (plm/baseline.py); the word model is the second view
    scores = {"baseline": np.array(fit_baseline(texts, y).scores(pool_texts))}
    word = make_pipeline(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=2, token_pattern=r"(?u)\b\w+\b"),
        LogisticRegression(C=10, class_weight="balanced", max_iter=3000),
    )
    word.fit(texts, y)
    scores["word"] = word.predict_proba(pool_texts)[:, 1]
    return scores


def select_more(labelled: list[dict], candidates: list[dict], round_number: int = 2, model_dir: str | None = None):
    """Round 2 or 3: reviews not yet candidates, chosen where the models are least sure or disagree.

    Round 2 (the baseline beside a word n-gram model):
    - ``random2``: a uniform random slice (keeps prevalence estimates honest);
    - ``top:baseline``: the baseline's highest scores (what a queue would show first);
    - ``uncertain:baseline``: the next reviews whose baseline probability is closest to 0.5;
    - ``disagree:baseline-word``: the largest gap between the two models' rank percentiles.
    Round 3 (the baseline beside the ELECTRA student in ``model_dir``): ``random3``,
    ``disagree:baseline-electra``, ``top:electra``, ``uncertain:electra`` alike.
    Each review enters by the first route that picks it; the scores never decide a label.
    """
    import numpy as np

    taken = {_norm_space(c["text"]) for c in candidates}
    pool = [r for r in dedupe(load_reviews()) if _norm_space(r["text"]) not in taken]
    scores = _round2_scores(labelled, pool)
    base, other = scores["baseline"], scores["word"]
    if round_number == 3:
        other = _electra_scores(model_dir, pool)
    rank = lambda s: np.argsort(np.argsort(s, kind="stable"), kind="stable") / max(1, len(s) - 1)  # noqa: E731
    gap = np.abs(rank(base) - rank(other))
    chosen: list[int] = []
    used: set[int] = set()
    plan = ROUNDS[round_number]
    budget = dict(plan)
    seed = ROUND_SEEDS[round_number]
    by_rank = lambda values: [int(i) for i in np.argsort(values, kind="stable")]  # noqa: E731
    shuffled = random.Random(seed).sample(range(len(pool)), len(pool))
    if round_number == 2:
        orders = {
            "random2": shuffled,
            "top:baseline": by_rank(-base),
            "uncertain:baseline": by_rank(np.abs(base - 0.5)),
            "disagree:baseline-word": by_rank(-gap),
        }
    else:
        # disagreement where it matters: one of the two puts the review in its top tenth
        near_top = np.maximum(rank(base), rank(other)) >= 0.9
        orders = {
            "random3": shuffled,
            "disagree:baseline-electra": by_rank(-(gap * near_top)),
            "top:electra": by_rank(-other),
            "uncertain:electra": by_rank(np.abs(other - 0.5)),
        }
    route_of = {}
    for route, _n in plan:
        got = 0
        for i in orders[route]:
            if got == budget[route]:
                break
            if int(i) in used:
                continue
            used.add(int(i))
            route_of[int(i)] = route
            chosen.append(int(i))
            got += 1
    random.Random(seed + 1).shuffle(chosen)  # labelling order hides the route
    start = max(c["id"] for c in candidates) + 1
    return [dict(pool[i], selected_by=route_of[i], id=start + n) for n, i in enumerate(chosen)]


def read_candidates() -> list[dict]:
    with CANDIDATES.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write_jsonl(path: Path, rows: list[dict], mode: str = "w") -> None:
    """Write (or with mode "a", append) rows as JSON lines."""
    with path.open(mode, encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def add_candidates(rows: list[dict], mode: str, what: str) -> None:
    """Write or append candidates to candidates.jsonl and say how many, by the route that chose them."""
    write_jsonl(CANDIDATES, rows, mode)
    print(f"{len(rows)} {what} -> {CANDIDATES}")
    print(Counter(r["selected_by"] for r in rows).most_common())


def read_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    if LABELS.exists():
        for line in LABELS.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            ref, label = line.split("\t")[:2]
            if label not in LABELS_ALLOWED:
                raise SystemExit(f"labels.tsv: unknown label {label!r} for {ref}")
            labels[ref] = label  # a later line corrects an earlier one
    return labels


def cmd_select(_args) -> None:
    add_candidates(select(), "w", "candidates")


def cmd_select_more(args) -> None:
    candidates = read_candidates()
    plan = ROUNDS[args.round]
    if any(c["selected_by"] in dict(plan) for c in candidates):
        raise SystemExit(f"candidates.jsonl already holds round {args.round}; nothing to do")
    if args.round == 3 and not args.model:
        raise SystemExit("round 3 needs --model DIR (the ELECTRA student trained on round 2's labels)")
    with OUTPUT.open(encoding="utf-8") as fh:
        labelled = [json.loads(line) for line in fh]
    add_candidates(select_more(labelled, candidates, args.round, args.model), "a", "more candidates")


def cmd_show(args) -> None:
    labels = read_labels()
    todo = [c for c in read_candidates() if c["source_ref"] not in labels]
    for c in todo[: args.n]:
        print(f"[{c['id']}] {_norm_space(c['text'])}")
    print(f"-- {len(todo)} unlabelled left", file=sys.stderr)


def cmd_record(args) -> None:
    """``record 100-199 --default used --set "105:u 130:g"``"""
    cands = {c["id"]: c for c in read_candidates()}
    lo, hi = (int(x) for x in args.range.split("-"))
    exceptions = {}
    for tok in (args.set or "").split():
        i, lab = tok.split(":")
        exceptions[int(i)] = SHORT.get(lab, lab)
    for i in exceptions:
        if not lo <= i <= hi:
            raise SystemExit(f"id {i} outside {args.range}")
    labels = read_labels()
    with LABELS.open("a", encoding="utf-8") as fh:
        for i in range(lo, hi + 1):
            if i not in cands or (cands[i]["source_ref"] in labels and i not in exceptions):
                continue
            label = exceptions.get(i, args.default)
            assert label in LABELS_ALLOWED, label
            fh.write(f"{cands[i]['source_ref']}\t{label}\n")
    print(Counter(read_labels().values()))


def _near_key(text: str) -> str:
    """Letters and digits of the first 40 of them: catches copies that differ in spacing or a tail."""
    return "".join(ch for ch in text if ch.isalnum())[:40]


def product_groups(rows: list[dict]) -> dict[str, str]:
    """Products linked by a near-identical review text (one reviewer posting the same text
    for two products) form one group, so such copies never end up in two splits."""
    parent: dict[str, str] = {}

    def find(p: str) -> str:
        parent.setdefault(p, p)
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    first_product: dict[str, str] = {}
    for r in rows:
        find(r["product_id"])
        key = _near_key(r["text"])
        if len(key) < 20:
            continue
        if key in first_product:
            a, b = find(first_product[key]), find(r["product_id"])
            if a != b:
                parent[max(a, b)] = min(a, b)
        else:
            first_product[key] = r["product_id"]
    return {p: find(p) for p in parent}


def assign_splits(rows: list[dict]) -> dict[str, str]:
    """Whole products (product groups) to train/validation/test.

    Round 1 (the rows selected by ``random`` or a ``cue:``) was dealt out as ~70/15/15 of the
    reviews and of the unused reviews (``deal_splits``); those products keep their split for
    good. A product first met in a later round joins the split of a known product it shares a
    near-identical text with, else takes the project's one stable hash (``plm.splits``), the
    same rule the training-data export uses. Returns product_id -> split."""
    first = [r for r in rows if _round(r) == 1]
    split_of = deal_splits(first)
    group_of = product_groups(rows)
    split_of_group = {group_of[p]: s for p, s in split_of.items()}
    for r in rows:
        p = r["product_id"]
        if p not in split_of:
            split_of[p] = split_of_group.get(group_of[p]) or stable_split(p, NEW_PRODUCT_FRACTIONS)
    return split_of


def _round(row: dict) -> int:
    if row["selected_by"] == "random" or row["selected_by"].startswith("cue:"):
        return 1
    return 3 if row["selected_by"] in dict(ROUND3) else 2


def deal_splits(rows: list[dict]) -> dict[str, str]:
    """Round 1: whole products (product groups) to train/validation/test: ~70/15/15 of the reviews,
    and ~70/15/15 of the unused reviews. Returns product_id -> split."""
    group_of = product_groups(rows)
    per_group: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        per_group[group_of[r["product_id"]]][r["label"]] += 1
    groups = sorted(per_group)
    random.Random(SEED).shuffle(groups)
    # groups with unused reviews first, so they are spread before the rest fills up
    groups.sort(key=lambda g: -per_group[g]["unused"])
    total = Counter()
    for c in per_group.values():
        total.update(c)
    n_all = sum(total.values())
    target = {"train": 0.70, "validation": 0.15, "test": 0.15}
    got = {s: Counter() for s in target}
    split_of_group = {}
    for g in groups:
        c = per_group[g]

        def deficit(s: str, c=c) -> float:
            if c["unused"]:
                return target[s] - got[s]["unused"] / max(1, total["unused"])
            return target[s] - sum(got[s].values()) / n_all

        s = max(target, key=deficit)
        split_of_group[g] = s
        got[s].update(c)
    return {p: split_of_group[g] for p, g in group_of.items()}


def build_rows() -> list[dict]:
    """The labelled rows with their splits, in file order (what ``merge`` writes)."""
    labels = read_labels()
    rows = []
    for c in read_candidates():
        label = labels.get(c["source_ref"])
        if label is None:
            continue
        rows.append(
            {
                "text": c["text"],
                "good_text": c["text"],
                "bad_text": "",
                "label": label,
                "product_id": c["product_id"],
                "split": None,
                "source": c["source"],
                "source_ref": c["source_ref"],
                "selected_by": c["selected_by"],
            }
        )
    split_of = assign_splits(rows)
    for r in rows:
        r["split"] = split_of[r["product_id"]]
    order = {"train": 0, "validation": 1, "test": 2}
    rows.sort(key=lambda r: (order[r["split"]], r["source"], r["source_ref"]))
    return rows


def cmd_merge(_args) -> None:
    rows = build_rows()
    write_jsonl(OUTPUT, rows)
    table = Counter((r["split"], r["label"]) for r in rows)
    print(f"{len(rows)} rows -> {OUTPUT}")
    for s in ("train", "validation", "test"):
        print(s, {lab: table[(s, lab)] for lab in LABELS_ALLOWED}, sum(table[(s, lab)] for lab in LABELS_ALLOWED))
    route = lambda r: r["selected_by"] if _round(r) > 1 else ("random" if r["selected_by"] == "random" else "cue")  # noqa: E731
    print(
        "selected_by",
        dict(Counter(route(r) for r in rows)),
        "unused among random:",
        sum(r["label"] == "unused" for r in rows if r["selected_by"] in ("random", "random2", "random3")),
    )


def cmd_relink(_args) -> None:
    """Point every candidate's ``source_ref`` at the row that holds its text in the shared data
    as it is now (rows were removed from the shared copies after round 1, so row numbers moved).
    Texts, product ids and labels stay; labels.tsv is rewritten under the new references."""
    current: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in load_reviews():
        current[(r["source"], _norm_space(r["text"]))].append(r)
    candidates = read_candidates()
    moved: dict[str, str] = {}
    for c in candidates:
        found = current.get((c["source"], _norm_space(c["text"])))
        if not found:
            raise SystemExit(f"candidate {c['id']} ({c['source_ref']}): its text is no longer in {c['source']}")
        row = next((r for r in found if r["product_id"] == c["product_id"]), found[0])
        if row["source_ref"] != c["source_ref"]:
            moved[c["source_ref"]] = row["source_ref"]
            c["source_ref"] = row["source_ref"]
    refs = Counter(c["source_ref"] for c in candidates)
    if max(refs.values()) > 1:
        raise SystemExit(f"two candidates would share a reference: {[r for r, n in refs.items() if n > 1][:5]}")
    lines = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            ref, label = line.split("\t")[:2]
            line = f"{moved.get(ref, ref)}\t{label}"
        lines.append(line)
    LABELS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_jsonl(CANDIDATES, candidates)
    print(f"{len(moved)} references moved; {len(candidates)} candidates")


def cmd_verify(_args) -> None:
    if not DATA.is_dir():
        raise SystemExit(f"source data not found at {DATA}; set HWADMIN_SHARED_DATA")
    source_text = {(r["source"], r["source_ref"]): r["text"] for r in load_reviews()}
    with OUTPUT.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    bad = [r["source_ref"] for r in rows if source_text.get((r["source"], r["source_ref"])) != r["text"]]
    if bad:
        raise SystemExit(f"{len(bad)} rows do not match their source, e.g. {bad[:5]}")
    print(f"all {len(rows)} rows match their source text")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("select").set_defaults(func=cmd_select)
    p = sub.add_parser("select-more")
    p.add_argument("--round", type=int, choices=sorted(ROUNDS), default=2)
    p.add_argument("--model", help="round 3: the ELECTRA classifier directory to compare with the baseline")
    p.set_defaults(func=cmd_select_more)
    p = sub.add_parser("show")
    p.add_argument("-n", type=int, default=80)
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("record")
    p.add_argument("range")
    p.add_argument("--default", default="used", choices=LABELS_ALLOWED)
    p.add_argument("--set", default="", help='exceptions, e.g. "105:u 130:g 141:x"')
    p.set_defaults(func=cmd_record)
    sub.add_parser("merge").set_defaults(func=cmd_merge)
    sub.add_parser("verify").set_defaults(func=cmd_verify)
    sub.add_parser("relink").set_defaults(func=cmd_relink)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
