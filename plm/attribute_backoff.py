"""The back-off attribute tagger: the taxonomy's phrases first, a char n-gram regression for the rest.

The phrase tagger (plm.attributes.PhraseTagger) is precise on the hand-labelled sentences and misses
what its phrases do not spell out; the char 2-4-gram TF-IDF + logistic regression per output (the
baseline of plm.attributes_model, fitted on the hand-labelled train split) reads the other wordings
and is less precise. Backed off, a sentence's attribute is the phrase tagger's reading where a phrase
of that attribute matches (probability 1.0), and the regression's where none does, with one threshold
per attribute chosen on the validation split for the combination (`attributes_model.choose_thresholds`
on the combined probabilities: a phrase hit is 1.0, so it always passes).

Saved without pickle: `backoff.json` (labels, thresholds, the vectorizer's settings and terms) and
`backoff.safetensors` (idf, coefficients, intercepts, float32). Tagging needs numpy and safetensors,
not scikit-learn: `char_wb_ngrams` spells out scikit-learn's `char_wb` analyzer, and `save` refuses
to write a regression whose numpy probabilities differ from scikit-learn's on the validation texts.
"""

import json
import math
import re
from pathlib import Path

NAME = "phrase tagger, backed off to a char 2-4-gram TF-IDF + logistic regression per output"
CONFIG_FILE = "backoff.json"
WEIGHTS_FILE = "backoff.safetensors"
FORMAT = 1
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
    """A char n-gram TF-IDF (sublinear tf, l2 norm) and one logistic regression per output, in numpy."""

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
    """`tag(sentences)` -> [{attribute: (polarity, probability)}], as the other attribute taggers answer."""

    def __init__(self, layout, thresholds, regression, taxonomy=None):
        from .attributes import PhraseTagger
        from .attributes_model import output_groups

        self.layout, self.thresholds, self.regression = list(layout), dict(thresholds), regression
        self.phrases = PhraseTagger(taxonomy)
        self.outputs = output_groups(self.layout)  # {attribute: [(output index, value)]}

    def probabilities(self, sentences):
        """The regression's probabilities, with every output a phrase decides set to 1.0 (its polarity)
        and 0.0 (the attribute's other polarity)."""
        sentences = [str(s or "") for s in sentences]
        rows = self.regression.probabilities(sentences).tolist() if sentences else []
        for row, sentence in zip(rows, sentences):
            for attribute, value in self.phrases.tag(sentence).items():
                for j, output_value in self.outputs.get(attribute, ()):
                    row[j] = 1.0 if output_value == value else 0.0
        return rows

    def tag(self, sentences):
        from .attributes_model import decode

        return [decode(row, self.layout, self.thresholds) for row in self.probabilities(sentences)]


def fit(split, taxonomy, log=print):
    """The back-off tagger from the hand-labelled rows: the regression on split["train"], the thresholds
    on split["validation"]."""
    import numpy as np

    from .attributes_model import choose_thresholds, fit_tfidf, label_layout

    layout = label_layout(taxonomy)
    baseline = fit_tfidf([r["text"] for r in split["train"]], [r["labels"] for r in split["train"]], layout)
    vectorizer = baseline.vectorizer
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    coef = np.zeros((len(terms), len(layout)))
    intercept = np.full(len(layout), -30.0)  # an output no train sentence carries: never
    for j, model in enumerate(baseline.models):
        if model is not None:
            coef[:, j], intercept[j] = model.coef_[0], model.intercept_[0]
    regression = NgramRegression(terms, vectorizer.idf_, coef, intercept, vectorizer.ngram_range, vectorizer.lowercase)
    texts = [r["text"] for r in split["validation"]]
    if texts:
        gap = float(np.max(np.abs(regression.probabilities(texts) - np.asarray(baseline.probabilities(texts)))))
        if gap > 1e-6:
            raise BackoffError(f"the numpy regression differs from scikit-learn's by {gap:.2e} on validation")
    tagger = BackoffTagger(layout, {}, regression, taxonomy)
    gold = [r["labels"] for r in split["validation"]]
    tagger.thresholds = choose_thresholds(gold, tagger.probabilities(texts), layout)
    log(
        f"back-off tagger: regression on {len(split['train'])} train sentences ({len(terms)} char n-grams, "
        f"{sum(m is not None for m in baseline.models)} of {len(layout)} outputs carried), thresholds chosen on "
        f"{len(texts)} validation sentences"
    )
    return tagger


def save(tagger, directory, taxonomy_version, metrics=None):
    import numpy as np
    from safetensors.numpy import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
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
        "thresholds": tagger.thresholds,
        "analyzer": "char_wb",
        "ngram_range": list(regression.ngram_range),
        "lowercase": regression.lowercase,
        "sublinear_tf": True,
        "norm": "l2",
        "terms": terms,
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    if metrics is not None:
        (directory / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    return directory


def is_backoff_dir(directory):
    return (Path(directory) / CONFIG_FILE).is_file()


def load(directory, taxonomy=None):
    """The tagger of a directory `save` wrote; BackoffError (saying what is wrong) otherwise. The labels
    must be those of the taxonomy the phrases come from."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from .attributes import load_taxonomy
    from .attributes_model import label_layout

    directory = Path(directory)
    path = directory / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.get("format") != FORMAT or config.get("analyzer") != "char_wb" or config.get("norm") != "l2":
            raise ValueError(f"format {config.get('format')!r}, analyzer {config.get('analyzer')!r}")
        layout, terms = [str(x) for x in config["labels"]], [str(t) for t in config["terms"]]
        thresholds = {str(k): float(v) for k, v in config["thresholds"].items()}
        ngram_range, lowercase = config["ngram_range"], config["lowercase"]
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
    return BackoffTagger(layout, thresholds, regression, taxonomy)
