"""build_pretraining_data: TFRecords in the original ELECTRA schema, read back with tf.data."""

import random
import re

import pytest
from django.core.management import call_command

from plm.pretraining_data import ExampleBuilder, build_pretraining_data
from plm.shared import shared_data_dir
from plm.vocab import load_tokenizer
from tests import tiny

NSMC = str(shared_data_dir() / "nsmc" / "ratings_train.txt")


def nsmc_texts(limit):
    from pathlib import Path

    path = Path(NSMC)
    if not path.exists():  # a clean clone: the sample reviews are real Korean text too
        return tiny.sample_texts()[:limit]
    lines = path.read_text(encoding="utf-8").splitlines()[1 : limit + 1]
    return [line.split("\t")[1] for line in lines if line.split("\t")[1].strip()]


def read_examples(paths, length):
    import tensorflow as tf

    from plm.electra.train import parse_example

    dataset = tf.data.TFRecordDataset([str(p) for p in paths]).map(lambda r: parse_example(r, length))
    return [{k: v.numpy().tolist() for k, v in example.items()} for example in dataset]


def interleave(shards):
    """Records of round-robin shards in the order they were written."""
    out, i = [], 0
    while any(i < len(s) for s in shards):
        out += [s[i] for s in shards if i < len(s)]
        i += 1
    return out


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    tiny.train_tokenizer(directory, tiny.sample_texts() + nsmc_texts(1000))
    return directory


def test_one_sentence_documents_decode_to_the_corpus_in_two_processes(tmp_path, tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    texts = [re.sub(r"\s+", " ", t).strip() for t in nsmc_texts(600)]
    halves = [texts[:300], texts[300:]]
    for k, half in enumerate(halves):
        (tmp_path / f"corpus-{k}.txt").write_text("".join(f"{t}\n\n" for t in half), encoding="utf-8")

    stats = build_pretraining_data(
        [tmp_path / "corpus-0.txt", tmp_path / "corpus-1.txt"],
        tokenizer_dir,
        tmp_path / "out",
        max_seq_length=128,
        num_out_files=4,
        num_processes=2,
        progress=False,
    )

    shards = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert shards == [f"pretrain_data.tfrecord-{i}-of-4" for i in range(4)]
    read = {i: read_examples([tmp_path / "out" / f"pretrain_data.tfrecord-{i}-of-4"], 128) for i in range(4)}
    assert stats.examples == sum(len(r) for r in read.values()) == 600
    # process 0 wrote file 0 to shards 0 and 2, process 1 file 1 to shards 1 and 3, round-robin
    for k, shard_ids in enumerate([(0, 2), (1, 3)]):
        examples = interleave([read[i] for i in shard_ids])
        same = 0
        for text, example in zip(halves[k], examples):
            ids = example["input_ids"][: sum(example["input_mask"])]
            assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
            assert ids[1:-1] == tokenizer(text, add_special_tokens=False)["input_ids"][:126]
            same += "".join(tokenizer.decode(ids[1:-1]).split()) == "".join(text.split())
        assert same >= 0.9 * len(halves[k])  # cased, Hangul intact: the text comes back
    assert 0 < stats.padding_share < 1


def test_command_writes_the_original_schema(tmp_path, tokenizer_dir):
    import tensorflow as tf

    tokenizer = load_tokenizer(tokenizer_dir)
    with open(tmp_path / "reviews.txt", "w", encoding="utf-8") as f:
        for text in tiny.sample_texts():  # one sentence a line, a blank line after each review
            f.write("".join(s + "\n" for s in re.split(r"(?<=[.!?~])\s+", text.strip()) if s) + "\n")
    from io import StringIO

    out = StringIO()
    call_command(
        "build_pretraining_data",
        str(tmp_path / "reviews.txt"),
        tokenizer=str(tokenizer_dir),
        output=str(tmp_path / "out"),
        max_seq_length=32,
        num_out_files=3,
        verbosity=0,
        stdout=out,
    )
    assert re.search(r"\d+ examples .* tokens, \d+\.\d% padding", out.getvalue())

    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == [f"pretrain_data.tfrecord-{i}-of-3" for i in range(3)]
    raw = next(iter(tf.data.TFRecordDataset([str(files[0])])))
    features = tf.train.Example.FromString(raw.numpy()).features.feature
    assert sorted(features) == ["input_ids", "input_mask", "segment_ids"]
    assert all(len(features[k].int64_list.value) == 32 for k in features)

    examples = read_examples(files, 32)
    two_segments = 0
    for example in examples:
        ids, mask, segments = example["input_ids"], example["input_mask"], example["segment_ids"]
        n = sum(mask)
        assert mask == [1] * n + [0] * (32 - n) and ids[n:] == [0] * (32 - n) and segments[n:] == [0] * (32 - n)
        assert ids[0] == tokenizer.cls_token_id and ids[n - 1] == tokenizer.sep_token_id
        seps = [i for i in range(n) if ids[i] == tokenizer.sep_token_id]
        assert len(seps) in (1, 2)
        assert segments[: seps[0] + 1] == [0] * (seps[0] + 1)  # A and its [SEP]
        assert segments[seps[0] + 1 : n] == [1] * (n - seps[0] - 1)  # B and its [SEP]
        two_segments += len(seps) == 2
    assert two_segments > 0.1 * len(examples)
    unk = sum(e["input_ids"].count(tokenizer.unk_token_id) for e in examples)
    assert unk < 0.02 * sum(sum(e["input_mask"]) for e in examples)


def test_example_builder_segment_and_length_statistics():
    """Long documents: about 10 % single-segment examples and about 5 % random shorter target lengths."""
    rng = random.Random(1)
    builder = ExampleBuilder(cls_id=2, sep_id=3, max_length=128, rng=random.Random(0))
    examples = []
    for _ in range(40000):
        sentence = [rng.randrange(5, 100) for _ in range(rng.randrange(4, 16))]
        example = builder.add_line(sentence)
        if example:
            examples.append(example)
    n = len(examples)
    assert n > 2500
    assert all(len(ids) == len(segments) <= 128 and ids[0] == 2 and ids[-1] == 3 for ids, segments in examples)
    single = sum(1 for _, segments in examples if segments[-1] == 0) / n
    short = sum(1 for ids, _ in examples if len(ids) < 100) / n
    assert 0.07 < single < 0.16
    assert 0.025 < short < 0.075
    # a document ends at a blank line: what has accumulated becomes an example at once
    builder = ExampleBuilder(cls_id=2, sep_id=3, max_length=128, rng=random.Random(0))
    assert builder.add_line([7, 8]) is None
    assert builder.add_line([]) == ([2, 7, 8, 3], [0, 0, 0, 0])
    assert builder.add_line([]) is None


def test_joined_documents_fill_examples_and_a_file_end_still_flushes():
    builder = ExampleBuilder(cls_id=2, sep_id=3, max_length=128, rng=random.Random(0), join_documents=3)
    assert builder.add_line([7]) is None and builder.add_line([]) is None
    assert builder.add_line([8]) is None and builder.add_line([]) is None
    assert builder.add_line([9]) is None
    assert builder.add_line([]) == ([2, 7, 8, 9, 3], [0] * 5)  # the third document ends the example
    assert builder.add_line([10]) is None and builder.add_line([]) is None
    assert builder.add_line([], file_end=True) is not None  # a file's end flushes whatever is joined so far
    assert builder.add_line([11]) is None and builder.add_line([]) is None  # counting starts again per file


def test_joining_short_documents_cuts_the_padding(tmp_path, tokenizer_dir):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{text}\n\n" for text in tiny.sample_texts(300)), encoding="utf-8")
    alone = build_pretraining_data([corpus], tokenizer_dir, tmp_path / "one", max_seq_length=64, num_out_files=1)
    joined = build_pretraining_data(
        [corpus], tokenizer_dir, tmp_path / "eight", max_seq_length=64, num_out_files=1, join_documents=8
    )
    assert joined.examples < alone.examples  # measured: 308 → 204 examples, 20.8 % → 2.9 % padding
    assert joined.padding_share < alone.padding_share / 3
    with pytest.raises(ValueError, match="join_documents"):
        build_pretraining_data([corpus], tokenizer_dir, tmp_path / "x", num_out_files=1, join_documents=0)


def test_vocab_only_tokenizer_directory_is_refused(tmp_path, tokenizer_dir):
    vocab = load_tokenizer(tokenizer_dir).get_vocab()
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in sorted(vocab, key=vocab.get)), encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer.json"):
        load_tokenizer(tmp_path)
