"""The strong simple baseline every unused-review model is measured against.

A TF-IDF of character 2–4-grams within word boundaries (`char_wb`, sublinear term
frequency, `min_df=2`) feeding a class-balanced logistic regression (`C=10`):
twenty lines of scikit-learn that read spelling variants and spacing errors
("아직안써봤", "아직 안 써 봤") as well as any tokenizer does. It is trained on the
same train split as the model, scored on the same rows, and reported beside it
(and beside the keyword rule, the floor) by `finetune_classifier`,
`evaluate_classifier` and `register_classifier`. It is also the default teacher
of semi-supervised fine-tuning. A model it beats is not done.
"""

BASELINE_NAME = "char 2-4-gram TF-IDF + logistic regression"
BASELINE_PARAMS = {
    "analyzer": "char_wb",
    "ngram_range": (2, 4),
    "sublinear_tf": True,
    "min_df": 2,
    "C": 10.0,
    "class_weight": "balanced",
}
# The same regression on Kiwi morphemes (plm.morphemes): 1-2-grams of stems and endings. Not the
# defined baseline, but a stronger simple model on this data, reported beside it and usable as a
# teacher ("morph-baseline").
# Spelled out, not derived from BASELINE_PARAMS: a change to the defined baseline must not move this model.
MORPH_NAME = "morpheme 1-2-gram TF-IDF + logistic regression"
MORPH_PARAMS = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "min_df": 2,
    "C": 10.0,
    "class_weight": "balanced",
    "token_pattern": r"\S+",
    "preprocess": "kiwi-morphemes",
}


class BaselineError(Exception):
    """The baseline cannot be trained on these examples."""


class Baseline:
    """A fitted TF-IDF + logistic regression, with the text preprocessing its features need."""

    def __init__(self, pipeline, preprocess=None, reader=None):
        self.pipeline, self.preprocess, self.reader = pipeline, preprocess, reader

    def reads(self, texts):
        from .morphemes import preprocess

        if self.preprocess and self.reader is not None:
            return self.reader(texts)
        return preprocess(self.preprocess, texts)

    def scores(self, texts):
        texts = list(texts)
        return [float(p) for p in self.pipeline.predict_proba(self.reads(texts))[:, 1]] if texts else []


def fit_baseline(texts, labels, features="char", reader=None):
    """The fitted model; labels are 0/1 (1 = the violation, e.g. unused).

    features "char" is the baseline; "morph" the same regression on Kiwi morphemes, read by `reader` where the
    morphemes were worked out beforehand (a fine-tuning bundle's, `plm.finetune_bundle`).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if len({int(y) for y in labels}) != 2:
        raise BaselineError("the baseline needs both classes among its training examples")
    p = BASELINE_PARAMS if features == "char" else MORPH_PARAMS
    vectorizer = {k: p[k] for k in ("analyzer", "ngram_range", "sublinear_tf") if k in p}
    if "token_pattern" in p:
        vectorizer["token_pattern"] = p["token_pattern"]
    model = make_pipeline(
        TfidfVectorizer(**vectorizer, min_df=p["min_df"] if len(texts) >= 20 else 1),
        LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=5000),
    )
    fitted = Baseline(model, p.get("preprocess"), reader)
    model.fit(fitted.reads(list(texts)), [int(y) for y in labels])
    return fitted


def describe(features="char"):
    name, p = (BASELINE_NAME, BASELINE_PARAMS) if features == "char" else (MORPH_NAME, MORPH_PARAMS)
    return {"name": name, **{k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}}


# --- the companion: a fitted regression saved beside a model, scored without scikit-learn ----------

COMPANION_FILE = "companion.json"


class CompanionError(Exception):
    """A companion.json that cannot be written or read."""


def save_companion(baseline, directory, features="morph"):
    """Write the fitted word n-gram regression to DIRECTORY/companion.json: its vocabulary, idf
    weights, coefficients and intercept as plain JSON (no pickle), read back by `load_companion`."""
    import json
    from pathlib import Path

    vectorizer, regression = baseline.pipeline[0], baseline.pipeline[-1]
    if vectorizer.analyzer != "word":
        raise CompanionError("only a word n-gram regression (the morpheme one) can be saved as a companion")
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    payload = {
        **describe(features),
        "lowercase": bool(vectorizer.lowercase),
        "norm": vectorizer.norm,
        "terms": terms,
        "idf": [float(v) for v in vectorizer.idf_],
        "coef": [float(v) for v in regression.coef_[0]],
        "intercept": float(regression.intercept_[0]),
    }
    path = Path(directory) / COMPANION_FILE
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


class Companion:
    """A saved word n-gram TF-IDF + logistic regression: `margins(texts)` is its decision function
    (the log-odds scikit-learn's pipeline gives), computed with plain Python and numpy."""

    def __init__(self, payload, source="companion.json"):
        try:
            self.name = str(payload.get("name", "companion"))
            self.preprocess = payload.get("preprocess") or None
            low, high = (int(n) for n in payload["ngram_range"])
            self.ngram_range = (low, high)
            self.sublinear = bool(payload["sublinear_tf"])
            self.lowercase = bool(payload.get("lowercase", True))
            self.index = {term: i for i, term in enumerate(payload["terms"])}
            self.weights = [float(i) * float(c) for i, c in zip(payload["idf"], payload["coef"])]
            self.idf = [float(v) for v in payload["idf"]]
            self.intercept = float(payload["intercept"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CompanionError(f"{source}: not a companion regression ({type(exc).__name__}: {exc})") from None
        if not (len(self.index) == len(self.idf) == len(self.weights)) or low < 1 or high < low:
            raise CompanionError(f"{source}: terms, idf and coef must have one entry per term")
        if payload.get("norm") not in (None, "l2"):
            raise CompanionError(f"{source}: norm {payload.get('norm')!r}; only l2 is supported")
        self.normalise = payload.get("norm") == "l2"

    def margin(self, text):
        import math

        tokens = (text.lower() if self.lowercase else text).split()
        counts = {}
        low, high = self.ngram_range
        for n in range(low, high + 1):
            for start in range(len(tokens) - n + 1):
                i = self.index.get(" ".join(tokens[start : start + n]))
                if i is not None:
                    counts[i] = counts.get(i, 0) + 1
        if not counts:
            return self.intercept
        tf = {i: (1.0 + math.log(c)) if self.sublinear else float(c) for i, c in counts.items()}
        norm = math.sqrt(sum((v * self.idf[i]) ** 2 for i, v in tf.items())) if self.normalise else 1.0
        return self.intercept + sum(v * self.weights[i] for i, v in tf.items()) / (norm or 1.0)

    def margins(self, texts, read=None, read_as=None):
        """The decision function for each text. `read` may hold the texts already preprocessed as
        `read_as` (what the main model reads), reused when the companion reads the same."""
        from .morphemes import preprocess

        if read is None or read_as != self.preprocess:
            read = preprocess(self.preprocess, list(texts))
        return [self.margin(t) for t in read]


def load_companion(directory):
    """The directory's companion regression, or None when it has none."""
    import json
    from pathlib import Path

    path = Path(directory) / COMPANION_FILE
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompanionError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise CompanionError(f"{path}: must hold a JSON object")
    return Companion(payload, source=str(path))
