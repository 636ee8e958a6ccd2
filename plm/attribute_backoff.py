"""The back-off attribute tagger: the taxonomy's phrases first, a char n-gram regression for the rest.

The phrase tagger (plm.attributes.PhraseTagger) is precise on the hand-labelled sentences and misses
what its phrases do not spell out; the char 2-4-gram TF-IDF + logistic regression per output (the
baseline of plm.attributes_model, fitted on the hand-labelled train split) reads the other wordings
and is less precise. Backed off, a sentence's attribute is the phrase tagger's reading where a phrase
of that attribute matches (probability 1.0), and the regression's where none does, with one threshold
per attribute chosen on the validation split for the combination (`attributes_model.choose_thresholds`
on the combined probabilities: a phrase hit is 1.0, so it always passes).

Whether an attribute is mentioned comes from a regression of its own, fitted on every sentence that
mentions it, whichever the side ("presence"); the per-output regressions only say which side. Pooled so,
an attribute's rarer side ("자극이 없어요" beside "따가워요") no longer has to be found from its own few
rows: cross-validated by product on the 2,641 train and validation sentences of 2026-12-03 (5 folds,
3 to fit, 1 for thresholds, 1 to score), micro-F1 0.786 against 0.773 for the per-output maximum, higher
in 4 folds of 5 and level in the fifth. Directories of format 1 (no presence regressions) still load and
tag as they did.

A directory may carry a **partner** (`partner/`, format 3): an ELECTRA attribute model with the same
labels (plm.attributes_model.AttributeTagger). Its probabilities are then averaged with the regression's
(`partner_weight` the ELECTRA's share, 0.5) before the phrases decide, and the thresholds are chosen on
validation for that mean. The two read different things (char n-grams of the words, a network over Kiwi
morphemes) and err on different sentences: on the hand-labelled sentences of 2026-12-03 the mean read
validation micro-F1 0.832 against 0.818 for the regression and 0.831 for the ELECTRA, test 0.868 against
0.846 and 0.849. The build exports the partner to int8 ONNX (`partner/model.int8.onnx`, as registration
does for classifiers) and chooses the thresholds on what that export answers; `backoff.json` names the
runtime, and the tagger then needs onnxruntime, tokenizers and Kiwi, not torch (a worker, never the web
process). A partner kept in torch (`--partner-runtime torch`) imports torch and transformers.

Saved without pickle: `backoff.json` (labels, thresholds, the vectorizer's settings and terms) and
`backoff.safetensors` (idf, coefficients, intercepts, float32). Tagging needs numpy and safetensors,
not scikit-learn: `char_wb_ngrams` spells out scikit-learn's `char_wb` analyzer, and `save` refuses
to write a regression whose numpy probabilities differ from scikit-learn's on the validation texts.
"""

import json
import math
import re
from pathlib import Path

NAME = (
    "phrase tagger, backed off to a char 2-4-gram TF-IDF + logistic regressions (per attribute: presence; "
    "per output: the side)"
)
CONFIG_FILE = "backoff.json"
WEIGHTS_FILE = "backoff.safetensors"
FORMAT = 3  # 3: an optional partner; 2: presence regressions (their columns follow the outputs'); 1, without them
FORMATS = (1, 2, 3)
PARTNER_DIR = "partner"
PARTNER_WEIGHT = 0.5
_WHITE_SPACES = re.compile(r"\s\s+")


class BackoffError(Exception):
    """A back-off tagger directory that cannot be written or read."""


def char_wb_ngrams(text, low, high, lowercase=True):
    """scikit-learn's `char_wb` analyzer: character n-grams inside each word padded with one space."""
    text = _WHITE_SPACES.sub(" ", text.lower() if lowercase else text)
    grams = []
    for word in text.split():
        word = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(word[:n])
            while offset + n < len(word):
                offset += 1
                grams.append(word[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


class NgramRegression:
    """A char n-gram TF-IDF (sublinear tf, l2 norm) and one logistic regression per column, in numpy."""

    def __init__(self, terms, idf, coef, intercept, ngram_range=(2, 4), lowercase=True):
        import numpy as np

        self.index = {term: i for i, term in enumerate(terms)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)  # terms x outputs
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.ngram_range, self.lowercase = tuple(int(n) for n in ngram_range), bool(lowercase)
        if self.coef.shape != (len(self.index), len(self.intercept)) or self.idf.shape != (len(self.index),):
            raise BackoffError(
                f"the regression's shapes do not agree: {len(self.index)} terms, idf {self.idf.shape}, "
                f"coefficients {self.coef.shape}, {len(self.intercept)} intercepts"
            )

    def probabilities(self, texts):
        """[n, outputs] numpy array of sigmoid probabilities."""
        import numpy as np

        rows = np.empty((len(texts), len(self.intercept)))
        low, high = self.ngram_range
        for r, text in enumerate(texts):
            counts = {}
            for gram in char_wb_ngrams(text, low, high, self.lowercase):
                i = self.index.get(gram)
                if i is not None:
                    counts[i] = counts.get(i, 0) + 1
            logits = self.intercept.copy()
            if counts:
                idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
                values = np.array([1.0 + math.log(c) for c in counts.values()]) * self.idf[idx]
                logits += (values / np.linalg.norm(values)) @ self.coef[idx]
            rows[r] = logits
        return 1.0 / (1.0 + np.exp(-rows))


class BackoffTagger:
    """`tag(sentences)` -> [{attribute: (polarity, probability)}], as the other attribute taggers answer.

    `regression` has one column per output of `layout`, then one per attribute of `presence` (its
    presence regression; the attributes with two sides), in that order."""

    def __init__(self, layout, thresholds, regression, taxonomy=None, presence=(), partner=None, partner_weight=None):
        from .attributes import PhraseTagger
        from .attributes_model import output_groups

        self.layout, self.thresholds, self.regression = list(layout), dict(thresholds), regression
        self.presence = [str(a) for a in presence]
        self.partner = partner  # an ELECTRA attribute model (plm.attributes_model.AttributeTagger), or None
        self.partner_weight = float(PARTNER_WEIGHT if partner_weight is None else partner_weight)
        if partner is not None and list(partner.layout) != self.layout:
            raise BackoffError("the partner's labels are not the regression's: build them from the same taxonomy")
        if not 0.0 < self.partner_weight < 1.0:
            raise BackoffError(f"the partner's weight must lie between 0 and 1, not {self.partner_weight}")
        self.topic = None  # a TopicAggregation (plm.attributes_model), when the directory has one
        self.phrases = PhraseTagger(taxonomy)
        self.outputs = output_groups(self.layout)  # {attribute: [(output index, value)]}
        unknown = [a for a in self.presence if a not in self.outputs]
        if unknown or len(set(self.presence)) != len(self.presence):
            raise BackoffError(f"presence regressions for unknown or repeated attributes: {self.presence}")
        if len(regression.intercept) != len(self.layout) + len(self.presence):
            raise BackoffError(
                f"the regression has {len(regression.intercept)} columns, not {len(self.layout)} outputs + "
                f"{len(self.presence)} presence regressions"
            )

    def regression_probabilities(self, sentences):
        """[n, outputs] numpy array: the regression's reading before the phrases. An attribute with a
        presence regression carries its probability on the side its outputs rank first, 0.0 on the other."""
        import numpy as np

        full = self.regression.probabilities([str(s or "") for s in sentences])
        rows = full[:, : len(self.layout)].copy()
        for k, attribute in enumerate(self.presence):
            columns = [i for i, _value in self.outputs[attribute]]
            side = rows[:, columns].argmax(axis=1)
            block = np.zeros((len(rows), len(columns)))
            block[np.arange(len(rows)), side] = full[:, len(self.layout) + k]
            rows[:, columns] = block
        return rows

    def model_probabilities(self, sentences):
        """[n, outputs] numpy array before the phrases: the regression's, or with a partner the weighted
        mean of the regression's and the partner's."""
        import numpy as np

        rows = self.regression_probabilities(sentences)
        if self.partner is None or not len(rows):
            return rows
        theirs = np.asarray(self.partner.probabilities(sentences), dtype=rows.dtype)
        return (1.0 - self.partner_weight) * rows + self.partner_weight * theirs

    def probabilities(self, sentences):
        """The regression's probabilities (with a partner, their mean with the partner's), with every
        output a phrase decides set to 1.0 (its polarity) and 0.0 (the attribute's other polarity)."""
        sentences = [str(s or "") for s in sentences]
        rows = self.model_probabilities(sentences).tolist() if sentences else []
        for row, sentence in zip(rows, sentences):
            for attribute, value in self.phrases.tag(sentence).items():
                for j, output_value in self.outputs.get(attribute, ()):
                    row[j] = 1.0 if output_value == value else 0.0
        return rows

    def tag(self, sentences):
        from .attributes_model import decode

        return [decode(row, self.layout, self.thresholds) for row in self.probabilities(sentences)]

    def review_topic(self, sentences):
        """A review's topic (보습, 진정, 사용감 or 자극) from its sentences, by the learned aggregation the
        directory carries (`topic.json`); None when it carries none."""
        from .attributes_model import decode

        if self.topic is None:
            return None
        probabilities = self.probabilities(sentences)
        tags = [decode(row, self.layout, self.thresholds) for row in probabilities]
        return self.topic.review_topic(tags, probabilities)


def fit(split, taxonomy, log=print, partner=None, partner_weight=None):
    """The back-off tagger from the hand-labelled rows: the regressions on split["train"] (one per output,
    one per attribute for its presence), the thresholds on split["validation"] (with a partner, an ELECTRA
    attribute model of the same labels, for the mean of its probabilities and the regression's)."""
    import numpy as np

    from .attributes_model import choose_thresholds, fit_columns, fit_tfidf, label_layout

    layout = label_layout(taxonomy)
    train_texts, train_labels = [r["text"] for r in split["train"]], [r["labels"] for r in split["train"]]
    baseline = fit_tfidf(train_texts, train_labels, layout)
    vectorizer = baseline.vectorizer
    presence = [a.id for a in taxonomy if len(a.allowed_values()) > 1]  # a one-output attribute's is that output
    presence_models = fit_columns(
        vectorizer.transform(train_texts), [[int(a in labels) for labels in train_labels] for a in presence]
    )
    models = list(baseline.models) + presence_models
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    coef = np.zeros((len(terms), len(models)))
    intercept = np.full(len(models), -30.0)  # a column no train sentence carries: never
    for j, model in enumerate(models):
        if model is not None:
            coef[:, j], intercept[j] = model.coef_[0], model.intercept_[0]
    regression = NgramRegression(terms, vectorizer.idf_, coef, intercept, vectorizer.ngram_range, vectorizer.lowercase)
    texts = [r["text"] for r in split["validation"]]
    if texts:
        x = vectorizer.transform(texts)
        reference = np.stack(
            [m.predict_proba(x)[:, 1] if m is not None else np.zeros(len(texts)) for m in models], axis=1
        )
        gap = float(np.max(np.abs(regression.probabilities(texts) - reference)))
        if gap > 1e-6:
            raise BackoffError(f"the numpy regression differs from scikit-learn's by {gap:.2e} on validation")
    tagger = BackoffTagger(layout, {}, regression, taxonomy, presence, partner, partner_weight)
    gold = [r["labels"] for r in split["validation"]]
    tagger.thresholds = choose_thresholds(gold, tagger.probabilities(texts), layout)
    with_partner = (
        f" (the regression averaged with the partner {partner.directory}, weight {tagger.partner_weight})"
        if partner is not None
        else ""
    )
    log(
        f"back-off tagger: regressions on {len(split['train'])} train sentences ({len(terms)} char n-grams; "
        f"{sum(m is not None for m in baseline.models)} of {len(layout)} outputs and "
        f"{sum(m is not None for m in presence_models)} of {len(presence)} attributes' presence carried), "
        f"thresholds chosen on {len(texts)} validation sentences{with_partner}"
    )
    return tagger


def save(tagger, directory, taxonomy_version, metrics=None):
    """Write the tagger's files into `directory`; a partner's files go to `directory/partner/` (copied
    from where it was loaded, unless it was loaded from there), and an earlier build's partner that this
    tagger does not have is removed."""
    import numpy as np
    from safetensors.numpy import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _save_partner(tagger.partner, directory / PARTNER_DIR)
    regression = tagger.regression
    terms = sorted(regression.index, key=regression.index.get)
    save_file(
        {
            "idf": regression.idf.astype(np.float32),
            "coef": regression.coef.astype(np.float32),
            "intercept": regression.intercept.astype(np.float32),
        },
        str(directory / WEIGHTS_FILE),
    )
    config = {
        "format": FORMAT,
        "name": NAME,
        "taxonomy_version": taxonomy_version,
        "labels": tagger.layout,
        "presence": tagger.presence,
        "thresholds": tagger.thresholds,
        "analyzer": "char_wb",
        "ngram_range": list(regression.ngram_range),
        "lowercase": regression.lowercase,
        "sublinear_tf": True,
        "norm": "l2",
        "terms": terms,
    }
    if tagger.partner is not None:
        config["partner"] = {
            "directory": PARTNER_DIR,
            "weight": tagger.partner_weight,
            "runtime": getattr(tagger.partner, "runtime", "torch"),
        }
    (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return directory


def _save_partner(partner, target):
    import shutil

    if partner is None:
        if target.exists():
            shutil.rmtree(target)  # an earlier build's: its thresholds were chosen for another tagger
        return
    source = Path(partner.directory).resolve()
    if target.exists() and target.resolve() == source:
        return
    incoming = target.with_name(f".{target.name}-incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    try:
        incoming.mkdir()
        for item in sorted(source.iterdir()):
            if item.is_file():
                shutil.copyfile(item, incoming / item.name)
        if target.exists():
            shutil.rmtree(target)
        incoming.rename(target)
    except OSError as exc:
        shutil.rmtree(incoming, ignore_errors=True)
        raise BackoffError(f"{target}: the partner could not be copied from {source} ({exc})") from None


def is_backoff_dir(directory):
    return (Path(directory) / CONFIG_FILE).is_file()


def load(directory, taxonomy=None):
    """The tagger of a directory `save` wrote; BackoffError (saying what is wrong) otherwise. The labels
    must be those of the taxonomy the phrases come from."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from .attributes import load_taxonomy
    from .attributes_model import TOPIC_FILE, AttributeModelError, TopicAggregation, label_layout

    directory = Path(directory)
    path = directory / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.get("format") not in FORMATS or config.get("analyzer") != "char_wb" or config.get("norm") != "l2":
            raise ValueError(f"format {config.get('format')!r}, analyzer {config.get('analyzer')!r}")
        layout, terms = [str(x) for x in config["labels"]], [str(t) for t in config["terms"]]
        presence = [str(a) for a in config["presence"]] if config["format"] >= 2 else []
        thresholds = {str(k): float(v) for k, v in config["thresholds"].items()}
        ngram_range, lowercase = config["ngram_range"], config["lowercase"]
        partner_config = config.get("partner") if config["format"] >= 3 else None
        if partner_config is not None:
            if partner_config.get("directory") != PARTNER_DIR:
                raise ValueError(f"partner directory {partner_config.get('directory')!r}, not {PARTNER_DIR!r}")
            partner_weight = float(partner_config["weight"])
            partner_runtime = partner_config.get("runtime", "torch")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackoffError(f"{path}: not a back-off tagger's {CONFIG_FILE} ({type(exc).__name__}: {exc})") from None
    try:
        weights = load_file(str(directory / WEIGHTS_FILE))
        regression = NgramRegression(
            terms, weights["idf"], weights["coef"], weights["intercept"], ngram_range, lowercase
        )
    except (OSError, KeyError, SafetensorError) as exc:
        raise BackoffError(f"{directory / WEIGHTS_FILE}: does not load ({type(exc).__name__}: {exc})") from None
    taxonomy = list(taxonomy) if taxonomy is not None else load_taxonomy()
    if layout != label_layout(taxonomy):
        raise BackoffError(
            f"{path}: its labels are not the taxonomy's (built for taxonomy version "
            f"{config.get('taxonomy_version')}); build it again with manage.py build_attribute_tagger"
        )
    partner = None
    if partner_config is not None:
        from .attributes_model import load as load_partner

        try:
            partner = load_partner(directory / PARTNER_DIR, runtime=partner_runtime)
        except AttributeModelError as exc:
            raise BackoffError(f"{directory}: its partner does not load: {exc}") from None
    try:
        tagger = BackoffTagger(
            layout, thresholds, regression, taxonomy, presence, partner, partner_weight if partner else None
        )
    except BackoffError as exc:
        raise BackoffError(f"{directory}: {exc}") from None
    try:
        tagger.topic = TopicAggregation.load(directory)
    except AttributeModelError as exc:
        raise BackoffError(str(exc)) from None
    if tagger.topic is not None and tagger.topic.layout != layout:
        raise BackoffError(f"{directory / TOPIC_FILE}: built for other labels than the tagger's")
    return tagger
