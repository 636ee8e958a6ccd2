"""Build a pretraining corpus from several named sources, streaming, on N processes.

A source is a kind, a location and a rule set (plm.text.Rules):

    text:PATH          plain-text files, or a folder of *.txt (Wikipedia dumps, news)
    jsonl:PATH         review exports, one JSON object a line
    csv:PATH           review exports with a header (.tsv: tab-separated)
    reviews:[visible|all]   the project's Review table (good_text and bad_text)

Documents are read in chunks, normalised by a pool of worker processes (at most
two chunks per worker in flight, so memory stays flat; a worker sends back its
documents already encoded, with their hashes), deduplicated on a 64-bit hash of
the normalised text, and written in the layout ELECTRA's data builder reads:
one sentence a line, a blank line after each document, shards of about
`shard_mb` megabytes under OUT/shards/. OUT/stats.json says what went in, what
came out, what was dropped and why, and how often each token replaced
something.
"""

import csv
import dataclasses
import hashlib
import json
import sys
import time
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import compress
from operator import methodcaller
from pathlib import Path

import numpy as np

from plm.text import load_rules, normalise_chunk

KINDS = ("text", "jsonl", "csv", "reviews")
DEFAULT_RULES = {"text": "public", "jsonl": "review", "csv": "review", "reviews": "review"}
# Fields that hold review text, in the order they are joined into one document.
TEXT_FIELDS = ("good_text", "bad_text", "review_text", "review", "text", "document", "content", "context")
SHARD_DIR = "shards"


@dataclasses.dataclass
class Source:
    kind: str
    location: str
    rules: object
    label: str = ""

    @property
    def name(self):
        """The name in stats.json: the label a user gave, or KIND:LOCATION."""
        return self.label or (f"{self.kind}:{self.location}" if self.location else self.kind)


def parse_source(spec):
    """'[NAME=]KIND:LOCATION[:RULES]' -> Source. RULES is a profile name or a .toml file."""
    label = ""
    head = spec.split(":", 1)[0]
    if "=" in head:
        label, spec = spec.split("=", 1)
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise ValueError(f"source {spec!r}: the kind must be one of {', '.join(KINDS)} (as in text:data/wiki)")
    location, rules_spec = rest, DEFAULT_RULES[kind]
    head, sep, tail = rest.rpartition(":")
    if sep and (tail in ("public", "review") or tail.endswith(".toml")):
        location, rules_spec = head, tail
    if kind == "reviews":
        location = location or "visible"
        if location not in ("visible", "all"):
            raise ValueError(f"source {spec!r}: the Review table takes 'visible' or 'all', not {location!r}")
    elif not location or not Path(location).exists():
        raise ValueError(f"source {spec!r}: {location or 'no path'} does not exist")
    return Source(kind, location, load_rules(rules_spec), label)


# --- reading --------------------------------------------------------------------


def read_documents(source, text_fields=TEXT_FIELDS):
    """Yield the raw documents of one source, one string each."""
    if source.kind == "text":
        for path in _text_files(source.location):
            yield from _text_documents(path, source.rules.documents)
    elif source.kind == "jsonl":
        for path in _files(source.location, (".jsonl", ".json")):
            yield from (_join_fields(row, text_fields) for row in _jsonl_rows(path))
    elif source.kind == "csv":
        for path in _files(source.location, (".csv", ".tsv")):
            yield from _csv_documents(path, text_fields)
    else:
        yield from _review_table_documents(source.location)


def _files(location, suffixes):
    path = Path(location)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def _text_files(location):
    path = Path(location)
    return [path] if path.is_file() else sorted(p for p in path.rglob("*.txt") if p.is_file())


def _text_documents(path, mode):
    with open(path, encoding="utf-8", errors="replace") as f:
        if mode == "line":
            yield from (line for line in f if line.strip())
            return
        lines = []
        for line in f:
            if mode == "blank-line" and not line.strip():
                if lines:
                    yield "".join(lines)
                    lines = []
            else:
                lines.append(line)
        if lines:
            yield "".join(lines)


def _jsonl_rows(path):
    with open(path, encoding="utf-8-sig") as f:
        first = f.read(1)
        f.seek(0)
        if first == "[":  # a JSON array file (small exports)
            yield from json.load(f)
            return
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number} is not JSON ({exc.msg}); give one JSON object a line") from None


def csv_rows(path):
    """Rows of a CSV (or, by suffix, TSV without quoting) file as dicts."""
    csv.field_size_limit(sys.maxsize)
    tsv = Path(path).suffix.lower() in (".tsv", ".txt")
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if tsv else csv.DictReader(f)
        yield from reader


def _csv_documents(path, text_fields):
    """_join_fields over csv_rows(path), without a dict a row: the same documents."""
    csv.field_size_limit(sys.maxsize)
    tsv = Path(path).suffix.lower() in (".tsv", ".txt")
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if tsv else csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        column = {name: i for i, name in enumerate(header)}  # as in DictReader, a repeated name means its last column
        columns = [column[field] for field in text_fields if field in column]
        if len(columns) == 1:
            (i,) = columns
            for row in reader:
                if row:  # DictReader skips empty rows
                    yield row[i].strip() if i < len(row) else ""
            return
        for row in reader:
            if row:
                parts = [row[i].strip() for i in columns if i < len(row)]
                yield "\n".join(part for part in parts if part)


def _join_fields(row, text_fields):
    parts = [row.get(field) for field in text_fields]
    return "\n".join(part.strip() for part in parts if isinstance(part, str) and part.strip())


def _review_table_documents(which):
    from moderation.models import Review, join_review_text

    reviews = Review.objects.all() if which == "all" else Review.objects.filter(visibility=Review.Visibility.VISIBLE)
    for good, bad in reviews.order_by("pk").values_list("good_text", "bad_text").iterator(chunk_size=2000):
        yield join_review_text(good, bad)


def chunked(documents, chunk_chars):
    chunk, size = [], 0
    for doc in documents:
        chunk.append(doc)
        size += len(doc)
        if size >= chunk_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


# --- the work of one chunk (runs in a worker process) -----------------------------


def process_chunk(documents, rules):
    """Normalise a chunk (in a worker process): what the writer needs, compact.

    Returns (data, sizes, hashes, sentences, chars, counts): the kept documents
    as UTF-8, each followed by a blank line, one after another; per document its
    size in bytes, a 64-bit hash of its text (for deduplication), its sentences
    and characters; and the counts of the chunk.
    """
    texts, counts = normalise_chunk(documents, rules)
    counts["documents_in"] = len(documents)
    counts["chars_in"] = sum(map(len, documents))
    counts["bytes_in"] = sum(map(len, map(str.encode, documents)))
    # Per document, with C-level maps rather than a Python loop (a chunk holds thousands).
    present = [text for text in texts if text is not None]  # None: no sentence left
    counts["dropped_empty"] += len(texts) - len(present)
    newlines = np.fromiter(map(methodcaller("count", "\n"), present), dtype=np.int64, count=len(present))
    chars = np.fromiter(map(len, present), dtype=np.int64, count=len(present))
    keep = chars - newlines >= rules.min_document_chars
    kept = list(compress(present, keep.tolist()))
    counts["dropped_too_short"] += len(present) - len(kept)
    encoded = list(map(str.encode, kept))
    hashes = b"".join(map(methodcaller("digest"), map(partial(hashlib.blake2b, digest_size=8), encoded)))
    return (
        b"\n\n".join(encoded) + b"\n\n" if encoded else b"",
        np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)) + 2,
        np.frombuffer(hashes, dtype="<u8"),
        newlines[keep] + 1,
        chars[keep],
        counts,
    )


# --- deduplication --------------------------------------------------------------


class SeenHashes:
    """A set of 64-bit hashes kept in sorted numpy arrays: 8 bytes a document.

    New hashes go into a small sorted array that is merged into the main one
    when it grows past an eighth of it, so inserts stay cheap and memory is
    the hashes themselves, not Python objects.
    """

    def __init__(self):
        self.main = np.empty(0, dtype=np.uint64)
        self.recent = np.empty(0, dtype=np.uint64)

    def __len__(self):
        return len(self.main) + len(self.recent)

    def add_new(self, hashes):
        """Mark the hashes seen; return a boolean mask of those not seen before (first in the batch wins)."""
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        fresh = np.zeros(len(hashes), dtype=bool)
        fresh[order[first]] = True
        fresh &= ~self._contains(hashes)
        self.recent = _merge(self.recent, np.sort(hashes[fresh]))
        if len(self.recent) > max(65536, len(self.main) // 8):
            self.main, self.recent = _merge(self.main, self.recent), np.empty(0, dtype=np.uint64)
        return fresh

    def _contains(self, hashes):
        found = np.zeros(len(hashes), dtype=bool)
        for array in (self.main, self.recent):
            if len(array):
                i = np.minimum(np.searchsorted(array, hashes), len(array) - 1)
                found |= array[i] == hashes
        return found


def _merge(a, b):
    """Two sorted arrays with no value in common, merged (np.union1d without its sort of both)."""
    return np.insert(a, np.searchsorted(a, b), b) if len(a) and len(b) else (a if len(a) else b.astype(np.uint64))


# --- writing --------------------------------------------------------------------


class ShardWriter:
    """Writes documents into OUT/shards/corpus-00000.txt, ... of about shard_bytes each.

    A new shard starts before a document when the current one holds shard_bytes or more.
    """

    def __init__(self, directory, shard_bytes):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.glob("corpus-*.txt"):
            old.unlink()
        self.shard_bytes = shard_bytes
        self.paths, self.file, self.written = [], None, 0

    def write(self, text):
        data = (text + "\n\n").encode("utf-8")
        self.write_many(data, np.array([len(data)]))

    def write_many(self, data, sizes):
        """Documents already encoded, each with its blank line, one after another: sizes says where each ends."""
        ends = np.cumsum(sizes)
        first, start = 0, 0
        while first < len(sizes):
            if self.file is None or self.written >= self.shard_bytes:
                self._next_shard()
            # The documents up to the first that would start at shard_bytes or more go in this shard.
            last = int(np.searchsorted(ends, start + self.shard_bytes - self.written, side="left"))
            last = min(max(last, first), len(sizes) - 1)
            end = int(ends[last])
            self.file.write(data[start:end])
            self.written += end - start
            first, start = last + 1, end

    def _next_shard(self):
        self.close()
        path = self.directory / f"corpus-{len(self.paths):05d}.txt"
        self.paths.append(path)
        self.file = open(path, "wb")
        self.written = 0

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


# --- the build ------------------------------------------------------------------


def build_corpus(
    sources, out_dir, processes=1, shard_mb=100, chunk_chars=1_000_000, text_fields=TEXT_FIELDS, progress=None
):
    """Build the corpus; return the stats (also written to OUT/stats.json).

    progress: a callable taking the number of documents just read (a tqdm's update).
    """
    out_dir = Path(out_dir)
    writer = ShardWriter(out_dir / SHARD_DIR, int(shard_mb * 1_000_000))
    seen = SeenHashes()
    totals, per_source = Counter(), {}
    started = time.perf_counter()

    def jobs():
        for source in sources:
            for chunk in chunked(read_documents(source, text_fields), chunk_chars):
                yield source, chunk

    def collect(source, result):
        data, sizes, hashes, sentences, chars, counts = result
        fresh = seen.add_new(hashes) if len(hashes) else np.zeros(0, dtype=bool)
        kept = int(fresh.sum())
        counts["dropped_duplicate"] += len(fresh) - kept
        if kept:
            if kept < len(fresh):  # leave the duplicates out: copy the runs of fresh documents
                ends = np.cumsum(sizes)
                edges = np.flatnonzero(np.diff(np.concatenate(([False], fresh, [False])).astype(np.int8)) != 0)
                starts, stops = edges[0::2], edges[1::2]
                data = b"".join(data[ends[a] - sizes[a] : ends[b - 1]] for a, b in zip(starts.tolist(), stops.tolist()))
                sizes, sentences, chars = sizes[fresh], sentences[fresh], chars[fresh]
            writer.write_many(data, sizes)
            counts["documents_out"] += kept
            counts["sentences_out"] += int(sentences.sum())
            counts["chars_out"] += int(chars.sum())
        totals.update(counts)
        per_source.setdefault(source.name, Counter()).update(counts)
        if progress:
            progress(counts["documents_in"])

    try:
        if processes <= 1:
            for source, chunk in jobs():
                collect(source, process_chunk(chunk, source.rules))
        else:
            with ProcessPoolExecutor(max_workers=processes) as pool:
                in_flight = deque()
                for source, chunk in jobs():
                    in_flight.append((source, pool.submit(process_chunk, chunk, source.rules)))
                    if len(in_flight) >= 2 * processes:
                        done_source, future = in_flight.popleft()
                        collect(done_source, future.result())
                while in_flight:
                    done_source, future = in_flight.popleft()
                    collect(done_source, future.result())
    finally:
        writer.close()

    seconds = time.perf_counter() - started
    stats = {
        **_summary(totals),
        "sources": {
            s.name: {**_summary(per_source.get(s.name, Counter())), "rules": dataclasses.asdict(s.rules)}
            for s in sources
        },
        "shards": [str(path.relative_to(out_dir)) for path in writer.paths],
        "processes": processes,
        "seconds": round(seconds, 3),
        "mb_per_second": round(totals["bytes_in"] / 1e6 / seconds, 3) if seconds else None,
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2), encoding="utf-8")
    return stats


REPLACEMENTS = ("url", "email", "phone", "person", "laughing")
CHANGES = (
    "emoji_shortened",
    "emoji_dropped",
    "special_dropped",
    "foreign_dropped",
    "numbers_dropped",
    "repeats_shortened",
)


def _summary(counts):
    return {
        "documents_in": counts["documents_in"],
        "documents_out": counts["documents_out"],
        "sentences_out": counts["sentences_out"],
        "chars_in": counts["chars_in"],
        "chars_out": counts["chars_out"],
        "bytes_in": counts["bytes_in"],
        "dropped": {
            "duplicate": counts["dropped_duplicate"],
            "too_short": counts["dropped_too_short"],
            "empty": counts["dropped_empty"],
        },
        "replacements": {key: counts[key] for key in REPLACEMENTS},
        "changes": {key: counts[key] for key in CHANGES},
    }
