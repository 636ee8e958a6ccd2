"""Probabilities that mean what they say: calibration fitted on the validation split.

A fine-tuned classifier's softmax is rarely calibrated: soft targets from a
class-balanced teacher, early stopping and the class imbalance all shift it.
`fit` learns a map from the model's logit margin d = z_unused − z_used to a
probability on the validation split and `finetune_classifier` saves it as
`calibration.json` in the model directory; the workers (`moderation.scoring`),
`evaluate_classifier` and `register_classifier` apply it whenever they score.

Methods:
- `platt` (default): p = σ(a·d + b), temperature scaling with a bias (two
  parameters: robust with a few dozen positives on validation);
- `temperature`: p = σ(d / T), one parameter;
- `isotonic`: a monotone step function of d (needs more positives).

A `platt` calibration may also stack a **companion** (`companion.json`, the
morpheme regression of `plm.baseline`): p = σ(a·d + c·m + b), where m is the
companion's log-odds for the same text. Fitted on validation like the rest, it
is one logistic regression over the two models' margins: the stack and its
calibration in one step.

No torch: the functions take plain floats, so the worker applies them to the
logits it already has.
"""

import json
import math
from pathlib import Path

FILENAME = "calibration.json"
METHODS = ("platt", "temperature", "isotonic")


class CalibrationError(Exception):
    """A calibration that cannot be fitted or read."""


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def margin(p, eps=1e-7):
    """The logit margin behind a two-class softmax probability."""
    p = min(max(float(p), eps), 1 - eps)
    return math.log(p / (1 - p))


def fit(margins, labels, method="platt", companion=None):
    """A calibration (a JSON-able dict) from logit margins and 0/1 labels; with `companion` (the
    companion's margins on the same rows) a platt fit that stacks both."""
    import numpy as np

    d = np.asarray(margins, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if method not in METHODS:
        raise CalibrationError(f"unknown calibration method {method!r}; one of {', '.join(METHODS)}")
    if len(set(y.tolist())) != 2:
        raise CalibrationError("calibration needs both classes in the validation split")
    if companion is not None:
        if method != "platt":
            raise CalibrationError(f"a companion is stacked by platt calibration only, not {method}")
        m = np.asarray(companion, dtype=np.float64)
        if m.shape != d.shape:
            raise CalibrationError("the companion's margins must cover the same rows as the model's")
        from scipy.optimize import minimize

        def stacked_loss(params):
            z = params[0] * d + params[1] * m + params[2]
            return float(np.sum(np.logaddexp(0, z) - y * z))

        result = minimize(stacked_loss, x0=[1.0, 1.0, 0.0], method="L-BFGS-B")
        a, c, b = (float(v) for v in result.x)
        return {"method": "platt", "scale": a, "bias": b, "companion_scale": c}
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(d, y)
        return {
            "method": "isotonic",
            "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_],
        }
    from scipy.optimize import minimize

    def loss(params):
        a, b = (params[0], params[1]) if method == "platt" else (1.0 / max(params[0], 1e-3), 0.0)
        z = a * d + b
        return float(np.sum(np.logaddexp(0, z) - y * z))

    if method == "platt":
        result = minimize(loss, x0=[1.0, 0.0], method="L-BFGS-B")
        return {"method": "platt", "scale": float(result.x[0]), "bias": float(result.x[1])}
    result = minimize(loss, x0=[1.0], method="L-BFGS-B", bounds=[(1e-3, 100.0)])
    return {"method": "temperature", "temperature": float(result.x[0])}


def stacks(calibration):
    """Whether the calibration stacks a companion (and so needs its margins)."""
    return bool(calibration) and "companion_scale" in calibration


def apply(calibration, d, companion=None):
    """The calibrated probability for one logit margin (the plain softmax when calibration is None);
    `companion` is the companion's margin for the same text, needed when the calibration stacks one."""
    if not calibration:
        return _sigmoid(d)
    method = calibration["method"]
    if method == "platt":
        z = calibration["scale"] * d + calibration["bias"]
        if stacks(calibration):
            if companion is None:
                raise CalibrationError("this calibration stacks a companion model: its margin is needed")
            z += calibration["companion_scale"] * companion
        return _sigmoid(z)
    if method == "temperature":
        return _sigmoid(d / calibration["temperature"])
    if method == "isotonic":
        import numpy as np

        return float(np.interp(d, calibration["x"], calibration["y"]))
    raise CalibrationError(f"unknown calibration method {method!r}")


def apply_probabilities(calibration, probabilities, companion=None):
    companion = companion if companion is not None else [None] * len(probabilities)
    return [apply(calibration, margin(p), m) for p, m in zip(probabilities, companion)]


def load_companion(directory, calibration):
    """The companion a stacking calibration needs (`plm.baseline.load_companion`), or None when the
    calibration stacks none; CalibrationError when it does and the directory has no companion."""
    if not stacks(calibration):
        return None
    from .baseline import COMPANION_FILE, CompanionError
    from .baseline import load_companion as load

    try:
        companion = load(directory)
    except CompanionError as exc:
        raise CalibrationError(str(exc)) from None
    if companion is None:
        raise CalibrationError(f"{Path(directory) / FILENAME}: stacks a companion, but {COMPANION_FILE} is missing")
    return companion


def save(directory, calibration):
    path = Path(directory) / FILENAME
    path.write_text(json.dumps(calibration, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def load(directory):
    """The directory's calibration, or None when it has none."""
    path = Path(directory) / FILENAME
    if not path.exists():
        return None
    try:
        calibration = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(calibration, dict) or calibration.get("method") not in METHODS:
        raise CalibrationError(f"{path}: 'method' must be one of {', '.join(METHODS)}")
    needed = {"platt": ("scale", "bias"), "temperature": ("temperature",), "isotonic": ("x", "y")}[
        calibration["method"]
    ]
    if "companion_scale" in calibration and (
        calibration["method"] != "platt" or not isinstance(calibration["companion_scale"], (int, float))
    ):
        raise CalibrationError(f"{path}: 'companion_scale' must be a number of a platt calibration")
    missing = [key for key in needed if key not in calibration]
    if missing:
        raise CalibrationError(f"{path}: a {calibration['method']} calibration needs {', '.join(missing)}")
    return calibration
