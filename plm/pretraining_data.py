"""ELECTRA pretraining TFRecords from a corpus (one sentence per line, blank line between documents).

Examples are built as the original `build_pretraining_dataset.py` builds them: tokenized lines
accumulate until the target length; a blank line ends a document (and flushes what has
accumulated); 10 % of examples keep a single segment, the others split the sentences into
A and B at about half the length (50 % chance of overflowing into A); 5 % of examples get a
random target length in [5, L]. `join_documents` N > 1 reads N consecutive documents as one (only
every Nth blank line, and a file's end, flushes): short documents, one review each, otherwise leave
most of every example as padding. Each record holds three int64 features of exactly L values,
zero-padded:

    input_ids    [CLS] A [SEP] (B [SEP])
    input_mask   1 for real tokens
    segment_ids  0 for A and its [SEP], 1 for B and its [SEP]

Input files are split across P tokenizing processes (the fast tokenizer of tokenizer.json, in
batches); the examples of process j go round-robin to shards j, j + P, j + 2P, ...
(`pretrain_data.tfrecord-{i}-of-{n}`), written by the parent process.
"""

import dataclasses
import glob
import multiprocessing
import os
import random
from pathlib import Path

from .vocab import load_tokenizer

SHARD_NAME = "pretrain_data.tfrecord-{index}-of-{count}"
TOKENIZE_BATCH = 1000


@dataclasses.dataclass
class BuildStats:
    examples: int = 0
    tokens: int = 0  # real tokens, [CLS] and [SEP] included
    positions: int = 0  # examples × max_seq_length
    single_segment: int = 0
    lines: int = 0

    def add(self, other: "BuildStats"):
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    @property
    def padding_share(self) -> float:
        return 1 - self.tokens / self.positions if self.positions else 0.0


def corpus_files(inputs) -> list:
    """Text files named by paths, directories (every *.txt inside, recursively) or glob patterns."""
    files = []
    for item in inputs:
        item = str(item)
        if os.path.isdir(item):
            files += sorted(glob.glob(os.path.join(item, "**", "*.txt"), recursive=True))
        elif any(c in item for c in "*?["):
            files += sorted(glob.glob(item))
        elif os.path.exists(item):
            files.append(item)
        else:
            raise FileNotFoundError(f"{item} does not exist")
    return files


class ExampleBuilder:
    """Turns tokenized lines into examples (the original ExampleBuilder, on token ids)."""

    def __init__(self, cls_id, sep_id, max_length, rng: random.Random, join_documents=1):
        self.cls_id, self.sep_id, self.max_length, self.rng = cls_id, sep_id, max_length, rng
        self.sentences, self.length, self.target_length = [], 0, max_length
        self.join_documents, self.documents = join_documents, 0

    def add_line(self, token_ids, file_end=False):
        """Add one tokenized line ([] for a blank line); returns an example (ids, segments) or None."""
        if not token_ids:
            self.documents = 0 if file_end else self.documents + 1
            ends = file_end or self.documents % self.join_documents == 0
            return self.create_example() if self.length and ends else None
        self.sentences.append(token_ids)
        self.length += len(token_ids)
        return self.create_example() if self.length >= self.target_length else None

    def create_example(self):
        first_target = 100000 if self.rng.random() < 0.1 else (self.target_length - 3) // 2
        first, second = [], []
        for sentence in self.sentences:
            if (
                not first
                or len(first) + len(sentence) < first_target
                or (not second and len(first) < first_target and self.rng.random() < 0.5)
            ):
                first += sentence
            else:
                second += sentence
        first = first[: self.max_length - 2]
        second = second[: max(0, self.max_length - len(first) - 3)]
        self.sentences, self.length = [], 0
        self.target_length = self.rng.randint(5, self.max_length) if self.rng.random() < 0.05 else self.max_length
        return self.pack(first, second)

    def pack(self, first, second):
        input_ids = [self.cls_id] + first + [self.sep_id]
        segment_ids = [0] * len(input_ids)
        if second:
            input_ids += second + [self.sep_id]
            segment_ids += [1] * (len(second) + 1)
        return input_ids, segment_ids


def serialize(input_ids, segment_ids, max_length) -> bytes:
    import tensorflow as tf

    pad = max_length - len(input_ids)

    def feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "input_ids": feature(input_ids + [0] * pad),
                "input_mask": feature([1] * len(input_ids) + [0] * pad),
                "segment_ids": feature(segment_ids + [0] * pad),
            }
        )
    )
    return example.SerializeToString()


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.strip().replace("\n", " ")


def generate_examples(job: dict):
    """Tokenize a job's input files in batches; yield (examples, lines read) chunks in corpus order."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(job["tokenizer"]) / "tokenizer.json"))
    builder = ExampleBuilder(
        job["cls_id"],
        job["sep_id"],
        job["max_seq_length"],
        random.Random(job["seed"] * 1000 + job["job_id"]),
        job["join_documents"],
    )
    for path in job["inputs"]:
        batch = []
        for line in read_lines(path):
            batch.append(line)
            if len(batch) == TOKENIZE_BATCH:
                yield examples_of(batch, tokenizer, builder), len(batch)
                batch = []
        yield examples_of(batch + [None], tokenizer, builder), len(batch) + 1  # None: the file's end


def examples_of(lines, tokenizer, builder) -> list:
    encoded = tokenizer.encode_batch([line for line in lines if line], add_special_tokens=False)
    ids = iter(e.ids for e in encoded)
    examples = []
    for line in lines:
        token_ids = next(ids) if line else []
        if line and not token_ids:
            continue  # nothing the tokenizer keeps: not a document boundary
        example = builder.add_line(token_ids, file_end=line is None)
        if example is not None:
            examples.append(example)
    return examples


def produce(job: dict, queue) -> None:
    """A worker process: send its examples to the writing process through `queue`."""
    try:
        for examples, lines in generate_examples(job):
            queue.put((job["job_id"], examples, lines))
        queue.put((job["job_id"], None, 0))
    except Exception as exc:  # report it to the parent, which stops with the message
        queue.put((job["job_id"], f"{type(exc).__name__}: {exc}", 0))


class ShardWriter:
    """Writes one job's examples round-robin over its shards and counts them."""

    def __init__(self, paths, max_seq_length, stats: BuildStats):
        import tensorflow as tf

        self.writers = [tf.io.TFRecordWriter(path) for path in paths]
        self.length, self.stats, self.written = max_seq_length, stats, 0

    def write(self, examples):
        for ids, segments in examples:
            self.writers[self.written % len(self.writers)].write(serialize(ids, segments, self.length))
            self.written += 1
            self.stats.examples += 1
            self.stats.tokens += len(ids)
            self.stats.positions += self.length
            self.stats.single_segment += segments[-1] == 0

    def close(self):
        for writer in self.writers:
            writer.close()


def count_lines(files) -> int:
    total = 0
    for path in files:
        with open(path, "rb") as f:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return total


def build_pretraining_data(
    inputs,
    tokenizer_dir,
    output_dir,
    *,
    max_seq_length=128,
    num_out_files=1000,
    num_processes=1,
    seed=0,
    join_documents=1,
    progress=True,
) -> BuildStats:
    """Write `num_out_files` TFRecord shards of ELECTRA pretraining examples; returns the totals."""
    from tqdm import tqdm

    files = corpus_files(inputs)
    if not files:
        raise ValueError(f"no corpus files found in {', '.join(map(str, inputs))}")
    tokenizer = load_tokenizer(tokenizer_dir)  # fails early, here, with a clear message
    if num_out_files < 1 or num_processes < 1 or join_documents < 1:
        raise ValueError("num_out_files, num_processes and join_documents must be at least 1")
    num_processes = min(num_processes, num_out_files, len(files))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        {
            "job_id": j,
            "inputs": files[j::num_processes],
            "outputs": [
                str(output_dir / SHARD_NAME.format(index=i, count=num_out_files))
                for i in range(j, num_out_files, num_processes)
            ],
            "tokenizer": str(tokenizer_dir),
            "cls_id": tokenizer.cls_token_id,
            "sep_id": tokenizer.sep_token_id,
            "max_seq_length": max_seq_length,
            "seed": seed,
            "join_documents": join_documents,
        }
        for j in range(num_processes)
    ]

    stats = BuildStats()
    writers = {job["job_id"]: ShardWriter(job["outputs"], max_seq_length, stats) for job in jobs}
    bar = tqdm(total=count_lines(files) + len(files), unit="line", disable=not progress)
    if num_processes == 1:
        for examples, lines in generate_examples(jobs[0]):
            writers[0].write(examples)
            stats.lines += lines
            bar.update(lines)
    else:
        run_workers(jobs, writers, bar)
    for writer in writers.values():
        writer.close()
    bar.close()
    stats.lines -= len(files)  # the blank line added at the end of each file
    return stats


def run_workers(jobs, writers, bar):
    """Tokenize in worker processes; write here, in each job's order."""
    import queue as queues

    context = multiprocessing.get_context("spawn")
    queue = context.Queue(maxsize=64)
    workers = [context.Process(target=produce, args=(job, queue), daemon=True) for job in jobs]
    for worker in workers:
        worker.start()
    running = len(workers)
    try:
        while running:
            try:
                job_id, examples, lines = queue.get(timeout=5)
            except queues.Empty:
                if any(w.exitcode not in (None, 0) for w in workers):
                    raise RuntimeError("a tokenizing process died; rerun with --num-processes 1 to see why") from None
                continue
            if examples is None:
                running -= 1
            elif isinstance(examples, str):
                raise RuntimeError(f"tokenizing failed: {examples}")
            else:
                writers[job_id].write(examples)
                writers[job_id].stats.lines += lines
                bar.update(lines)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
