"""build_corpus throughput against a baseline in the same run, and train_tokenizer overhead, on real text.

    .venv/bin/python benchmarks/corpus.py [--mb 20] [--processes N] [--repeats 2] [--vocab-size 32000]

Input: the Olive Young cream/essence reviews (CSV, `review` rules), the 2017
petitions (JSONL, `public` rules) and Naver movie reviews from nsmc_raw_extra
(TSV, `review` rules), cut to about --mb megabytes, from ../shared/data
(or $HWADMIN_SHARED_DATA).

Prints:
- build_corpus on 1 process: MB of input per CPU second (the steady figure on a
  shared machine) and per wall second, best of --repeats, against the same
  build with the previous normaliser (tests/plm/helper_reference_text.py, the plain
  definition of the rules) as the baseline, the two runs alternating; and
  whether both wrote the same corpus, byte for byte, and the same stats;
- build_corpus on N processes: MB/s per process (wall), MB per CPU second of
  all the processes, and the speed-up over 1 process (wall; it needs idle CPUs);
- the rule-based sentence splitter against kiwipiepy's;
- train_tokenizer (plm.vocab.train_tokenizers: training and saving the folder)
  against a bare `tokenizers` BertWordPieceTokenizer.train on the same corpus.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's packages, run as a script

from plm import corpus, vocab  # noqa: E402
from plm.shared import shared_data_dir  # noqa: E402
from plm.text import load_rules, normalise_documents  # noqa: E402
from tests.plm import helper_reference_text as reference_text  # noqa: E402

SHARED = shared_data_dir()


def make_input(folder, megabytes):
    """Real sources; the movie reviews are cut so that the whole is about `megabytes`."""
    reviews = SHARED / "oliveyoung_cream_essence_reviews"
    petitions = SHARED / "petitions_2017_08" / "petitions_2017-08"
    fixed = sum(p.stat().st_size for p in reviews.glob("table1_*.csv")) + petitions.stat().st_size
    movies = folder / "movies.tsv"
    budget = max(0, int(megabytes * 1e6) - fixed)
    with (
        open(SHARED / "nsmc_raw_extra" / "naver_movie_reviews_extra.tsv", encoding="utf-8") as src,
        open(movies, "w", encoding="utf-8") as dst,
    ):
        written = 0
        for line in src:
            dst.write(line)
            written += len(line.encode("utf-8"))
            if written >= budget:
                break
    return [
        corpus.parse_source(f"csv:{reviews}"),
        corpus.parse_source(f"jsonl:{petitions}:public"),
        corpus.parse_source(f"csv:{movies}"),
    ]


def reference_chunk(documents, rules):
    """plm.text.normalise_chunk's interface over the previous normaliser."""
    docs, counts = reference_text.normalise_documents(documents, rules)
    return ["\n".join(sentences) if sentences else None for sentences in docs], counts


@contextlib.contextmanager
def normaliser(function):
    """build_corpus with another normaliser (worker processes are forked, so they see it too)."""
    saved = corpus.normalise_chunk
    corpus.normalise_chunk = function
    try:
        yield
    finally:
        corpus.normalise_chunk = saved


def build(sources, out, processes, function=None):
    """(stats, wall seconds, CPU seconds of this process and its workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu = time.perf_counter(), time.process_time()
    with normaliser(function or corpus.normalise_chunk):
        stats = corpus.build_corpus(sources, out, processes=processes)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool's workers have been joined by now
    cpu += (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return stats, wall, cpu


def same_output(a, b):
    """Whether two builds wrote the same shards, byte for byte, and the same stats (but for the timings); and the size."""
    shards_a, shards_b = sorted((a / "shards").glob("*.txt")), sorted((b / "shards").glob("*.txt"))
    data_a = [p.read_bytes() for p in shards_a]
    same = [p.name for p in shards_a] == [p.name for p in shards_b] and data_a == [p.read_bytes() for p in shards_b]
    stats_a, stats_b = (json.loads((d / "stats.json").read_text(encoding="utf-8")) for d in (a, b))
    for stats in (stats_a, stats_b):
        for key in ("seconds", "mb_per_second", "processes"):
            stats.pop(key)
    return same and stats_a == stats_b, sum(map(len, data_a))


def splitter_speeds(kiwi_chars=150_000):
    rows = [
        row["review_text"]
        for path in sorted((SHARED / "oliveyoung_cream_essence_reviews").glob("table1_*.csv"))
        for row in corpus.csv_rows(path)
    ]
    sample, size = [], 0
    for text in rows:
        sample.append(text)
        size += len(text)
        if size >= kiwi_chars:
            break
    megabytes = sum(len(t.encode("utf-8")) for t in sample) / 1e6
    speeds = {}  # MB per CPU second
    for splitter in ("rules", "kiwi"):
        rules = dataclasses.replace(load_rules("review"), splitter=splitter)
        normalise_documents(sample[:10], rules)  # load kiwi's model outside the clock
        started = time.process_time()
        normalise_documents(sample, rules)
        speeds[splitter] = megabytes / (time.process_time() - started)
    return megabytes, speeds


def tokenizer_times(corpus_dir, out, vocab_size, min_frequency, repeats=3):
    """Best wall and CPU seconds of each, alternating which goes first; transformers is imported beforehand."""
    import transformers  # noqa: F401  (a one-time import of a few seconds, the same for any corpus size)
    from tokenizers import BertWordPieceTokenizer

    files = [str(f) for f in vocab.corpus_files([corpus_dir])]

    def bare():
        wordpiece = BertWordPieceTokenizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False, wordpieces_prefix="##"
        )
        wordpiece.train(
            files,
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            limit_alphabet=3000,
            special_tokens=vocab.SPECIAL_TOKENS,
            show_progress=False,
        )

    def ours():
        vocab.train_tokenizers([corpus_dir], out, [vocab_size], min_frequency, show_progress=False)

    times = {"bare": [], "ours": []}
    for i in range(repeats):
        for name, run in (("bare", bare), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("bare", bare)):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: (min(w for w, _ in t), min(c for _, c in t)) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20, help="input size in MB (default 20)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--repeats", type=int, default=2, help="1-process builds of each normaliser, alternating (default 2)"
    )
    parser.add_argument("--vocab-size", type=int, default=32_000)
    parser.add_argument("--min-frequency", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = make_input(tmp, args.mb)
        runs = {"ours": [], "baseline": []}
        for i in range(args.repeats):
            for name in ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours"):
                stats, wall, cpu = build(sources, tmp / name, 1, reference_chunk if name == "baseline" else None)
                runs[name].append((wall, cpu))
                if name == "ours":
                    one = stats
        many, many_wall, many_cpu = build(sources, tmp / "many", args.processes)
        identical, size = same_output(tmp / "ours", tmp / "baseline")
        identical_many, _ = same_output(tmp / "ours", tmp / "many")
        mb = one["bytes_in"] / 1e6
        (wall, cpu), (base_wall, base_cpu) = (
            (min(w for w, _ in runs[name]), min(c for _, c in runs[name])) for name in ("ours", "baseline")
        )
        print(
            f"text in: {mb:.1f} MB, {one['documents_in']:,} documents -> {one['documents_out']:,} documents, "
            f"{one['sentences_out']:,} sentences (machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})"
        )
        print(
            f"build_corpus, 1 process, best of {args.repeats}: {cpu:.2f} s CPU = {mb / cpu:.2f} MB/s per CPU second; "
            f"{wall:.2f} s wall = {mb / wall:.2f} MB/s"
        )
        print(
            f"  baseline, the previous normaliser in the same build (alternating): {base_cpu:.2f} s CPU = "
            f"{mb / base_cpu:.2f} MB/s per CPU second; {base_wall:.2f} s wall = {mb / base_wall:.2f} MB/s; "
            f"ours x{base_cpu / cpu:.1f} (CPU), x{base_wall / wall:.1f} (wall)"
        )
        print(
            f"  the same corpus ({size:,} bytes) and stats as the baseline: {'yes' if identical else 'NO'}; "
            f"as on {args.processes} processes: {'yes' if identical_many else 'NO'}"
        )
        print(
            f"build_corpus, {args.processes} processes: {many_wall:.2f} s wall = {mb / many_wall:.2f} MB/s "
            f"({mb / many_wall / args.processes:.2f} MB/s per process), {many_cpu:.2f} s CPU in all processes = "
            f"{mb / many_cpu:.2f} MB/s per CPU second; speed-up over 1 process x{wall / many_wall:.2f} (wall)"
        )
        print("goal: >= 10 MB/s per process")

        sample_mb, speeds = splitter_speeds()
        print(
            f"sentence splitter on {sample_mb:.2f} MB of reviews (all review rules, CPU time): rules splitter {speeds['rules']:.2f} MB/s, "
            f"kiwipiepy splitter {speeds['kiwi']:.3f} MB/s (rules x{speeds['rules'] / speeds['kiwi']:.0f} faster)"
        )

        times = tokenizer_times(tmp / "ours", tmp / "tokenizer", args.vocab_size, args.min_frequency)
        (bare_wall, bare_cpu), (ours_wall, ours_cpu) = times["bare"], times["ours"]
        print(
            f"train_tokenizer, vocab {args.vocab_size:,}, best of 3: bare tokenizers {bare_wall:.2f} s wall / {bare_cpu:.2f} s CPU, "
            f"ours (train + save folder) {ours_wall:.2f} s / {ours_cpu:.2f} s; overhead {100 * (ours_wall / bare_wall - 1):+.1f}% wall, "
            f"{100 * (ours_cpu / bare_cpu - 1):+.1f}% CPU (goal <= 10%)"
        )


if __name__ == "__main__":
    main()
