"""build_corpus throughput and train_tokenizer overhead, measured on real text.

    .venv/bin/python benchmarks/corpus.py [--mb 20] [--processes N] [--vocab-size 32000]

Input: the Olive Young cream/essence reviews (CSV, `review` rules), the 2017
petitions (JSONL, `public` rules) and Naver movie reviews from nsmc_raw_extra
(TSV, `review` rules), cut to about --mb megabytes, from /work/shared/data
(or $HWADMIN_SHARED_DATA).

Prints:
- build_corpus MB/s of input on 1 process and on N, per process, the speed-up;
- the rule-based sentence splitter against kiwipiepy's on the same reviews;
- train_tokenizer (plm.vocab.train_tokenizers: training and saving the folder)
  against a bare `tokenizers` BertWordPieceTokenizer.train on the same corpus.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, sys.path[0] is benchmarks/, whose queue.py would hide the standard library's.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from plm import corpus, vocab  # noqa: E402
from plm.text import load_rules, normalise_documents  # noqa: E402

SHARED = Path(os.environ.get("HWADMIN_SHARED_DATA", "/work/shared/data"))


def make_input(folder, megabytes):
    """Real sources; the movie reviews are cut so that the whole is about `megabytes`."""
    reviews = SHARED / "oliveyoung_cream_essence_reviews"
    petitions = SHARED / "petitions_2017_08" / "petitions_2017-08"
    fixed = sum(p.stat().st_size for p in reviews.glob("table1_*.csv")) + petitions.stat().st_size
    movies = folder / "movies.tsv"
    budget = max(0, int(megabytes * 1e6) - fixed)
    with open(SHARED / "nsmc_raw_extra" / "naver_movie_reviews_extra.tsv", encoding="utf-8") as src, open(
        movies, "w", encoding="utf-8"
    ) as dst:
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


def build(sources, out, processes):
    started, cpu = time.perf_counter(), time.process_time()
    stats = corpus.build_corpus(sources, out, processes=processes)
    return stats, time.perf_counter() - started, time.process_time() - cpu


def splitter_speeds(kiwi_chars=150_000):
    rows = [row["review_text"] for path in sorted((SHARED / "oliveyoung_cream_essence_reviews").glob("table1_*.csv"))
            for row in corpus.csv_rows(path)]
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
        wordpiece.train(files, vocab_size=vocab_size, min_frequency=min_frequency, limit_alphabet=3000,
                        special_tokens=vocab.SPECIAL_TOKENS, show_progress=False)

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
    parser.add_argument("--vocab-size", type=int, default=32_000)
    parser.add_argument("--min-frequency", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = make_input(tmp, args.mb)
        one, one_s, one_cpu = build(sources, tmp / "one", 1)
        many, many_s, _ = build(sources, tmp / "many", args.processes)
        mb = one["bytes_in"] / 1e6
        print(f"text in: {mb:.1f} MB, {one['documents_in']:,} documents -> {one['documents_out']:,} documents, "
              f"{one['sentences_out']:,} sentences (machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
        print(f"build_corpus, 1 process:   {one_s:6.1f} s  {mb / one_s:6.2f} MB/s wall, {mb / one_cpu:.2f} MB/s of CPU time")
        print(f"build_corpus, {args.processes} processes: {many_s:6.1f} s  {mb / many_s:6.2f} MB/s  "
              f"({mb / many_s / args.processes:.2f} MB/s per process), speed-up x{one_s / many_s:.2f}")
        print("goal: >= 10 MB/s per process")

        sample_mb, speeds = splitter_speeds()
        print(f"sentence splitter on {sample_mb:.2f} MB of reviews (all review rules, CPU time): rules splitter {speeds['rules']:.2f} MB/s, "
              f"kiwipiepy splitter {speeds['kiwi']:.3f} MB/s (rules x{speeds['rules'] / speeds['kiwi']:.0f} faster)")

        times = tokenizer_times(tmp / "one", tmp / "tokenizer", args.vocab_size, args.min_frequency)
        (bare_wall, bare_cpu), (ours_wall, ours_cpu) = times["bare"], times["ours"]
        print(f"train_tokenizer, vocab {args.vocab_size:,}, best of 3: bare tokenizers {bare_wall:.2f} s wall / {bare_cpu:.2f} s CPU, "
              f"ours (train + save folder) {ours_wall:.2f} s / {ours_cpu:.2f} s; overhead {100 * (ours_wall / bare_wall - 1):+.1f}% wall, "
              f"{100 * (ours_cpu / bare_cpu - 1):+.1f}% CPU (goal <= 10%)")

if __name__ == "__main__":
    main()
