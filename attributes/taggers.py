"""The sentence taggers: the taxonomy's phrase tagger, a registered back-off directory (the phrases, then
a char n-gram regression: plm.attribute_backoff), or a registered ELECTRA multi-label directory.

All answer `tag_sentences(sentences)` with, per sentence, {attribute id: (polarity, probability)}.
The phrase tagger (plm.attributes.PhraseTagger) is certain of what it finds (probability 1.0) and
imports nothing heavy; the back-off tagger needs numpy and safetensors; the ELECTRA tagger imports
torch and transformers only when a worker first tags with it (never in the web process).

`active_tagger()` is the AttributeModel to tag with: the active one, or, when none is active (or the
active phrase tagger was built from an older taxonomy version), the phrase tagger of the current
taxonomy, registered and activated on the spot.
"""

import functools
import json
import logging
import threading
import tomllib
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import AttributeModel

log = logging.getLogger(__name__)

POLARITIES = ("pos", "neg", "present")
DEFAULT_TAXONOMY = Path(settings.BASE_DIR) / "plm" / "resources" / "attributes.toml"


class TaggerError(Exception):
    """A registered tagger that cannot be loaded, or a directory that does not fit the taxonomy."""


def taxonomy_path():
    from plm import attributes as plm_attributes

    for name in ("TAXONOMY_FILE", "TAXONOMY_PATH", "DEFAULT_PATH"):
        value = getattr(plm_attributes, name, None)
        if isinstance(value, (str, Path)):
            return Path(value)
    return DEFAULT_TAXONOMY


@functools.lru_cache(maxsize=4)
def _taxonomy(path, mtime):
    from plm.attributes import load_taxonomy

    with open(path, "rb") as f:
        version = int(tomllib.load(f).get("version", 1))
    return version, tuple(load_taxonomy(path))


def taxonomy():
    """(version, attributes) of the taxonomy file, read once per change of the file."""
    path = taxonomy_path()
    return _taxonomy(str(path), path.stat().st_mtime_ns)


def attribute_names():
    """{id: attribute} in taxonomy order."""
    return {a.id: a for a in taxonomy()[1]}


# --- which tagger --------------------------------------------------------------------------------------------------


def activate(model):
    with transaction.atomic():
        AttributeModel.objects.filter(is_active=True).exclude(pk=model.pk).update(is_active=False)
        AttributeModel.objects.filter(pk=model.pk).update(is_active=True, activated_at=timezone.now())
    model.refresh_from_db()
    return model


def active_tagger():
    """The active AttributeModel; the current taxonomy's phrase tagger when none is (registered if need be)."""
    active = AttributeModel.objects.filter(is_active=True).first()
    version = taxonomy()[0]
    if active is not None and not (active.kind == AttributeModel.Kind.PHRASES and active.taxonomy_version != version):
        return active
    phrases, created = AttributeModel.objects.get_or_create(
        kind=AttributeModel.Kind.PHRASES,
        taxonomy_version=version,
        defaults={"name": f"phrases-taxonomy-v{version}", "path": str(taxonomy_path())},
    )
    if created:
        log.info("registered the phrase tagger of taxonomy version %d (#%d)", version, phrases.pk)
    return activate(phrases)


# --- tagging -------------------------------------------------------------------------------------------------------


class PhraseSentenceTagger:
    def __init__(self):
        from plm.attributes import PhraseTagger

        self.tagger = PhraseTagger(list(taxonomy()[1]))

    def tag_sentences(self, sentences):
        return [{a: (p, 1.0) for a, p in self.tagger.tag(s).items()} for s in sentences]

    def marks(self, sentence, attribute):
        """[(start, end)] of the phrases that tag `attribute` in the sentence (for highlighting)."""
        return [(h.start, h.end) for h in self.tagger.matches(sentence) if h.attribute == attribute]


def parse_label(label):
    attribute, _, polarity = str(label).partition(":")
    return attribute, polarity


def check_electra_dir(path):
    """The resolved directory if it is a multi-label attribute directory for this taxonomy; TaggerError if not.

    config.json's id2label names each output "<attribute id>:<pos|neg|present>"; thresholds.json, if
    there, maps labels to the probability above which they count (else 0.5).
    """
    from moderation.scoring import ModelLoadError, check_inside_model_root, check_model_files

    try:
        directory = check_inside_model_root(path)
        check_model_files(directory, path)
    except ModelLoadError as exc:
        raise TaggerError(str(exc)) from None
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaggerError(f"{path}: config.json is not readable JSON: {exc}") from None
    labels = [label for _, label in sorted((int(k), v) for k, v in (config.get("id2label") or {}).items())]
    known = attribute_names()
    bad = [label for label in labels if parse_label(label)[0] not in known or parse_label(label)[1] not in POLARITIES]
    if not labels or bad:
        raise TaggerError(
            f"{path}: config.json's id2label must name every output '<attribute id>:<pos|neg|present>' with "
            f"attribute ids of the taxonomy; {'it has no labels' if not labels else f'unknown: {bad[:5]}'}"
        )
    thresholds = {}
    if (directory / "thresholds.json").exists():
        try:
            thresholds = {str(k): float(v) for k, v in json.loads((directory / "thresholds.json").read_text()).items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise TaggerError(f"{path}: thresholds.json must map labels to numbers: {exc}") from None
    return directory, labels, thresholds


def check_backoff_dir(path):
    """The loaded plm.attribute_backoff tagger of a directory under HWADMIN_MODEL_DIR; TaggerError if not."""
    from moderation.scoring import ModelLoadError, check_inside_model_root
    from plm.attribute_backoff import BackoffError, load

    try:
        directory = check_inside_model_root(path)
    except ModelLoadError as exc:
        raise TaggerError(str(exc)) from None
    try:
        return directory, load(directory, taxonomy()[1])
    except BackoffError as exc:
        raise TaggerError(str(exc)) from None


class BackoffSentenceTagger:
    """The taxonomy's phrases first; char n-gram regressions (presence per attribute, the side per output)
    where no phrase matches, averaged with an ELECTRA partner's probabilities where the directory has one."""

    def __init__(self, path):
        _, self.tagger = check_backoff_dir(path)
        if getattr(self.tagger.partner, "runtime", None) == "torch":  # with the worker's threads
            from moderation.scoring import configure_torch

            configure_torch()  # an int8 partner's ONNX Runtime session already has them (no torch)

    def tag_sentences(self, sentences):
        return self.tagger.tag(sentences)


class ElectraSentenceTagger:
    """A HuggingFace sequence classifier with one sigmoid output per "<attribute>:<polarity>" label."""

    batch_size = 64

    def __init__(self, path):
        directory, self.labels, thresholds = check_electra_dir(path)
        self.thresholds = [thresholds.get(label, 0.5) for label in self.labels]
        from moderation.scoring import configure_torch, no_progress_bars

        self.torch = configure_torch()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            with no_progress_bars():
                self.model = AutoModelForSequenceClassification.from_pretrained(
                    str(directory), trust_remote_code=False, use_safetensors=True
                ).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
        except Exception as exc:  # transformers raises many kinds here
            raise TaggerError(f"{path}: the model does not load: {exc}") from exc
        if self.model.config.num_labels != len(self.labels):
            raise TaggerError(f"{path}: {self.model.config.num_labels} outputs for {len(self.labels)} labels")
        self.max_length = min(settings.HWADMIN["MAX_SEQ_LENGTH"], self.model.config.max_position_embeddings or 512)
        from plm import morphemes

        try:  # what the model reads: the text, or its Kiwi morphemes (config.json's hwadmin_preprocess)
            self.preprocess = morphemes.check(getattr(self.model.config, morphemes.CONFIG_KEY, None))
        except morphemes.PreprocessError as exc:
            raise TaggerError(f"{path}: {exc}") from None

    def tag_sentences(self, sentences):
        from plm import morphemes

        reads = morphemes.preprocess(self.preprocess, list(sentences))
        out = [{} for _ in sentences]
        order = sorted(range(len(reads)), key=lambda i: len(reads[i]))
        with self.torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                part = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [reads[i] for i in part],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                probabilities = self.torch.sigmoid(self.model(**batch).logits).tolist()
                for i, row in zip(part, probabilities, strict=True):
                    for label, p, threshold in zip(self.labels, row, self.thresholds, strict=True):
                        if p < threshold:
                            continue
                        attribute, polarity = parse_label(label)
                        if attribute not in out[i] or p > out[i][attribute][1]:
                            out[i][attribute] = (polarity, float(p))
        return out


_loaded = {}
_lock = threading.Lock()


def sentence_tagger(model):
    """The loaded tagger of an AttributeModel row, loaded at most once per process."""
    key = (model.pk, model.kind, model.path, model.taxonomy_version)
    with _lock:
        if key not in _loaded:
            _loaded.clear()
            if model.kind == AttributeModel.Kind.ELECTRA:
                _loaded[key] = ElectraSentenceTagger(model.path)
            elif model.kind == AttributeModel.Kind.BACKOFF:
                _loaded[key] = BackoffSentenceTagger(model.path)
            else:
                _loaded[key] = PhraseSentenceTagger()
        return _loaded[key]


@functools.lru_cache(maxsize=2)
def _phrase_tagger(attributes):
    return PhraseSentenceTagger()


def phrase_tagger():
    """The current taxonomy's phrase tagger, built once per change of the taxonomy."""
    return _phrase_tagger(taxonomy())
