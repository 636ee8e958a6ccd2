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

    def __init__(self, pipeline, preprocess=None):
        self.pipeline, self.preprocess = pipeline, preprocess

    def scores(self, texts):
        from .morphemes import preprocess

        texts = list(texts)
        return (
            [float(p) for p in self.pipeline.predict_proba(preprocess(self.preprocess, texts))[:, 1]] if texts else []
        )


def fit_baseline(texts, labels, features="char"):
    """The fitted model; labels are 0/1 (1 = the violation, e.g. unused).

    features "char" is the baseline; "morph" the same regression on Kiwi morphemes.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from .morphemes import preprocess

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
    model.fit(preprocess(p.get("preprocess"), list(texts)), [int(y) for y in labels])
    return Baseline(model, p.get("preprocess"))


def describe(features="char"):
    name, p = (BASELINE_NAME, BASELINE_PARAMS) if features == "char" else (MORPH_NAME, MORPH_PARAMS)
    return {"name": name, **{k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}}
