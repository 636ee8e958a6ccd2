"""build_corpus: the ELECTRA layout, dedup, stats, the Review table, flat memory."""

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from plm import corpus

DATA = Path(__file__).resolve().parent.parent / "data" / "plm"
REVIEWS = DATA / "reviews.csv"
GENERAL = DATA / "general.txt"
ROOT = Path(__file__).resolve().parents[2]


def read_documents(out_dir):
    """The documents of all shards, each a list of lines, checking the layout on the way."""
    docs = []
    shards = sorted((Path(out_dir) / "shards").glob("corpus-*.txt"))
    assert shards, "no shards written"
    for shard in shards:
        text = shard.read_text(encoding="utf-8")
        assert text.endswith("\n\n") and not text.startswith("\n")
        assert "\n\n\n" not in text  # exactly one blank line between documents
        for block in text[:-2].split("\n\n"):
            lines = block.split("\n")
            assert all(line and line == line.strip() for line in lines)
            docs.append(lines)
    return docs


def test_layout_dedup_and_stats(tmp_path):
    out = tmp_path / "corpus"
    call_command(
        "build_corpus",
        "--source",
        f"csv:{REVIEWS}",
        "--source",
        f"csv:{REVIEWS}",  # the same reviews again: every document is a duplicate
        "--source",
        f"general=text:{GENERAL}",
        "--out",
        str(out),
        "--processes",
        "2",
        "--shard-mb",
        "0.2",
        "--chunk-chars",
        "50000",
        verbosity=0,
    )
    docs = read_documents(out)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert len(list((out / "shards").glob("*.txt"))) == len(stats["shards"]) > 1
    assert stats["documents_out"] == len(docs) == len({"\n".join(d) for d in docs})
    assert stats["sentences_out"] == sum(len(d) for d in docs)
    assert stats["chars_out"] == sum(len("\n".join(d)) for d in docs)

    reviews = stats["sources"][f"csv:{REVIEWS}"]
    rows = sum(1 for _ in corpus.csv_rows(REVIEWS))
    assert reviews["documents_in"] == 2 * rows
    assert reviews["dropped"]["duplicate"] >= rows  # the second copy, and the reviews that repeat within the file
    assert reviews["documents_out"] + sum(reviews["dropped"].values()) == reviews["documents_in"]
    assert reviews["rules"]["emoji"] == "normalise" and stats["sources"]["general"]["rules"]["emoji"] == "drop"
    assert reviews["replacements"]["laughing"] > 0
    general = stats["sources"]["general"]
    paragraphs = [p for p in GENERAL.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    assert general["documents_in"] == len(paragraphs)
    assert stats["documents_in"] == reviews["documents_in"] + general["documents_in"]
    # No raw laugh runs or phone-like strings are left in the output.
    text = "\n".join("\n".join(d) for d in docs)
    assert "ㅋㅋ" not in text and "{laughing}" in text


def test_one_and_many_processes_write_the_same_corpus(tmp_path):
    sources = [corpus.parse_source(f"csv:{REVIEWS}"), corpus.parse_source(f"text:{GENERAL}")]
    corpus.build_corpus(sources, tmp_path / "one", processes=1, chunk_chars=40_000)
    corpus.build_corpus(sources, tmp_path / "two", processes=2, chunk_chars=40_000)
    assert read_documents(tmp_path / "one") == read_documents(tmp_path / "two")


def test_too_short_documents_are_dropped_by_threshold(tmp_path):
    rules = tmp_path / "strict.toml"
    rules.write_text('profile = "review"\nmin_document_chars = 40\n', encoding="utf-8")
    stats = corpus.build_corpus([corpus.parse_source(f"csv:{REVIEWS}:{rules}")], tmp_path / "out")
    docs = read_documents(tmp_path / "out")
    assert stats["dropped"]["too_short"] > 0
    assert min(len("".join(d)) for d in docs) >= 40


def test_bad_sources_fail_with_a_clear_message(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("build_corpus", "--source", f"csv:{tmp_path}/nope.csv", "--out", str(tmp_path), verbosity=0)
    with pytest.raises(CommandError, match="the kind must be one of"):
        call_command("build_corpus", "--source", f"pdf:{REVIEWS}", "--out", str(tmp_path), verbosity=0)


@pytest.mark.django_db
def test_review_table_source(tmp_path):
    from moderation.models import Product, Review

    product = Product.objects.create(external_id="oy-1", name="센텔리안24 마데카 크림", category="크림")
    when = datetime(2026, 9, 1, tzinfo=UTC)
    rows = [
        ("r1", "촉촉하고 순해요 ㅋㅋ 재구매 의사 있어요", "용량이 조금 작아요", "visible"),
        ("r2", "향이 좋고 흡수가 빨라요", "", "visible"),
        ("r3", "아직 개봉전이에요. 써보고 리뷰 다시 남기겠음", "", "blinded"),
    ]
    # Review fields as keywords, a shape plm.attributes_model's signature happens to have; no logic is shared.
    for external_id, good, bad, visibility in rows:
        Review.objects.create(
            source="test",
            external_id=external_id,
            product=product,
            rating=5,
            good_text=good,
            bad_text=bad,
            written_at=when,
            visibility=visibility,
        )
    call_command(
        "build_corpus", "--source", "reviews", "--out", str(tmp_path / "visible"), "--processes", "1", verbosity=0
    )
    assert read_documents(tmp_path / "visible") == [
        ["촉촉하고 순해요 {laughing} 재구매 의사 있어요", "용량이 조금 작아요"],
        ["향이 좋고 흡수가 빨라요"],
    ]
    call_command(
        "build_corpus", "--source", "reviews:all", "--out", str(tmp_path / "all"), "--processes", "1", verbosity=0
    )
    assert read_documents(tmp_path / "all")[-1] == ["아직 개봉전이에요.", "써보고 리뷰 다시 남기겠음"]


MEASURE = textwrap.dedent(
    """
    import sys
    from plm import corpus
    source = corpus.parse_source(sys.argv[1])
    stats = corpus.build_corpus([source], sys.argv[2], processes=1, shard_mb=50)
    # VmHWM: the peak resident set of this process since exec (ru_maxrss would
    # carry over the parent's peak across fork and exec).
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(peak, stats["bytes_in"], stats["documents_out"])
    """
)


def generate_input(path, megabytes):
    """Real lines (reviews and Wikipedia/news paragraphs), repeated with a varying
    prefix so that no document is an exact duplicate; one document a line."""
    lines = [row["review_text"].replace("\n", " ") for row in corpus.csv_rows(REVIEWS) if row["review_text"].strip()]
    lines += [p.replace("\n", " ") for p in GENERAL.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    target, written, copy = megabytes * 1_000_000, 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            copy += 1
            for line in lines:
                data = f"{copy}번째 {line}\n"
                f.write(data)
                written += len(data.encode("utf-8"))
    return written


def peak_rss_kb(input_path, out_dir, rules):
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, f"text:{input_path}:{rules}", str(out_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    peak, bytes_in, documents = map(int, result.stdout.split())
    return peak, bytes_in, documents


def test_memory_stays_flat_on_a_200_mb_input(tmp_path):
    """Peak RSS of a build over 200 MB is within 30 MB of one over 20 MB.

    The build runs in one process (the pool's workers hold one chunk each, so
    they do not change the picture) with a lean rule set (no replacement
    rules, line splitting): what is measured is the streaming (reading, chunks,
    dedup table, shard writing), and the lean rules keep the test near 30 s on
    two cores. The dedup table grows by 8 bytes a document (about 6 MB here).
    """
    rules = tmp_path / "lean.toml"
    rules.write_text(
        'profile = "public"\nemoji = "keep"\nspecial = "keep"\npunctuation = "keep"\nrepeat = 0\n'
        "url = false\nemail = false\nphone = false\nperson = false\nlaughing = false\n"
        'splitter = "lines"\ndocuments = "line"\nmin_document_chars = 1\n',
        encoding="utf-8",
    )
    small_peak, small_bytes, small_docs = peak_rss_kb(_input(tmp_path, "small.txt", 20), tmp_path / "small", rules)
    big_peak, big_bytes, big_docs = peak_rss_kb(_input(tmp_path, "big.txt", 200), tmp_path / "big", rules)
    print(f"peak RSS: {small_peak:,} kB on {small_bytes / 1e6:.0f} MB, {big_peak:,} kB on {big_bytes / 1e6:.0f} MB")
    assert big_bytes > 9 * small_bytes and big_docs > 9 * small_docs  # it really read and wrote 10x as much
    assert big_peak - small_peak < 30_000, f"peak RSS grew from {small_peak} kB to {big_peak} kB"


def _input(tmp_path, name, megabytes):
    path = tmp_path / name
    generate_input(path, megabytes)
    return path
