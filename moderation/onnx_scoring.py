"""Over 500 lines: export, fusion, quantisation, verification, loading and scoring share one int8 file format.

int8 scoring with ONNX Runtime: export at registration, verify, and score without torch.

Registration (`registry.register`, or `manage.py export_onnx ID` for a classifier registered
earlier) exports the classifier to ONNX (`torch.onnx.export`, dynamic batch and sequence axes),
quantises its weights to int8 (`onnxruntime.quantization.quantize_dynamic`, QInt8) and saves
`model.int8.onnx` in the registered directory. It then scores the check's labelled test split
(the gate's rows) with both the fp32 torch model and the int8 model and stores what it found as
the classifier's `metrics["_onnx"]`: both AUROCs, the largest difference between the two
probabilities of one review, the file's SHA-256 and `verified`, true when the int8 AUROC lies
within `MAX_AUROC_DIFF` of the fp32 one.

Workers choose the runtime per classifier (`HWADMIN_SCORING_RUNTIME`):
- `torch`: always the torch model;
- `onnx`: always the int8 model; a missing, changed or unloadable `model.int8.onnx` is an
  error naming the file and the fix (an unverified one is used, with a warning);
- `auto` (default): the int8 model when it was verified and is the file that was verified
  (same SHA-256); otherwise, or if it does not load, the torch model, with the reason logged.

The ONNX path imports neither torch nor transformers: the tokenizer is `tokenizers.Tokenizer`
read from `tokenizer.json`, batches are padded with numpy, sorted by length as on the torch
path, and the directory's preprocessing (Kiwi morphemes) and calibration apply unchanged.
`open_int8` and `batch_logits` serve any classifier export, also the attribute tagger's partner
(plm.attributes_model.OnnxAttributeTagger), whose outputs are sigmoids rather than two classes.
"""

import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from hwadmin.threads import threads_spin
from plm import calibration, morphemes

from .scoring import POSITIVE_LABEL, ModelLoadError, companion_margins

log = logging.getLogger(__name__)

INT8_FILENAME = "model.int8.onnx"
RUNTIMES = ("torch", "onnx", "auto")
MAX_AUROC_DIFF = 0.005  # the int8 model's AUROC on the test split may differ from fp32's by at most this
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
FUSABLE_MODEL_TYPES = ("electra", "bert")


def runtime_setting():
    """HWADMIN_SCORING_RUNTIME, checked: torch, onnx or auto."""
    value = str(settings.HWADMIN.get("SCORING_RUNTIME", "auto") or "auto").strip().lower()
    if value not in RUNTIMES:
        raise ModelLoadError(
            f"HWADMIN_SCORING_RUNTIME={settings.HWADMIN.get('SCORING_RUNTIME')!r}: must be one of {', '.join(RUNTIMES)}"
        )
    return value


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- Scoring (no torch) -------------------------------------------------------


class OnnxClassifier:
    """An int8 classifier in an ONNX Runtime session, scored like `scoring.predict_proba` scores."""

    runtime = "onnx"

    def __init__(self, path, session, tokenizer, pad_id, max_length, calibration_fit, preprocess, companion=None):
        self.path = str(path)
        self.companion = companion
        self.session = session
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.max_length = max_length
        self.calibration = calibration_fit
        self.preprocess = preprocess
        self.input_names = [i.name for i in session.get_inputs()]

    def encode(self, texts, max_length=None):
        """Token ids and type ids of each text, truncated to max_length (special tokens included)."""
        self.tokenizer.enable_truncation(max_length or self.max_length)
        encodings = self.tokenizer.encode_batch(list(texts))
        return [e.ids for e in encodings], [e.type_ids for e in encodings]

    def logits(self, ids, type_ids):
        """The model's logits for one batch of unpadded token id lists (padded here, with numpy)."""
        return batch_logits(self.session, self.input_names, self.pad_id, ids, type_ids)

    def predict_proba(self, texts, max_length=None, batch_size=None, calibrated=True):
        """P(violation) for each text, in input order (the same contract as `scoring.predict_proba`)."""
        if not texts:
            return []
        fitted = self.calibration if calibrated else None
        batch_size = batch_size or settings.HWADMIN["SCORE_BATCH_SIZE"]
        raw_texts, texts = texts, morphemes.preprocess(self.preprocess, texts)
        companion = companion_margins(self, fitted, raw_texts, texts)
        ids, type_ids = self.encode(texts, max_length)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        probabilities = [0.0] * len(texts)
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            logits = self.logits([ids[i] for i in indices], [type_ids[i] for i in indices]).astype("float64")
            margins = (logits[:, POSITIVE_LABEL] - logits[:, 1 - POSITIVE_LABEL]).tolist()
            for i, d in zip(indices, margins):
                probabilities[i] = calibration.apply(fitted, d, companion[i] if companion else None)
        return probabilities


def batch_logits(session, input_names, pad_id, ids, type_ids):
    """A session's logits for one batch of unpadded token id lists (padded here, with numpy)."""
    import numpy as np

    width = max(len(row) for row in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(ids), width), dtype=np.int64)
    token_type_ids = np.zeros((len(ids), width), dtype=np.int64)
    for row, (tokens, types) in enumerate(zip(ids, type_ids)):
        input_ids[row, : len(tokens)] = tokens
        attention_mask[row, : len(tokens)] = 1
        token_type_ids[row, : len(types)] = types
    feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    return session.run(None, {name: feed[name] for name in input_names})[0]


def session_options():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    threads = settings.HWADMIN["TORCH_THREADS"]  # one knob for both runtimes: intra-op threads per worker
    if threads:
        options.intra_op_num_threads = threads
    # in a worker of several pool processes, waiting threads sleep and leave the cores (hwadmin/threads.py)
    if not threads_spin():
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def read_config(directory, path):
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no config.json, so this is not a HuggingFace model directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: config.json is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: config.json must hold a JSON object")
    return config


def pad_token_id(directory, tokenizer, config):
    """The id the tokenizer pads with (tokenizer_config.json's pad_token), else the config's pad_token_id."""
    names = []
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        try:
            data = json.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        token = data.get("pad_token") if isinstance(data, dict) else None
        names.append(token.get("content") if isinstance(token, dict) else token)
    for token in [*names, "[PAD]", "<pad>"]:
        if isinstance(token, str) and tokenizer.token_to_id(token) is not None:
            return tokenizer.token_to_id(token)
    return int(config.get("pad_token_id") or 0)


def open_int8(path, outputs=2):
    """(session, tokenizer, pad id, config) of a directory's model.int8.onnx: an ONNX Runtime session whose
    one output has `outputs` columns, and the directory's `tokenizers.Tokenizer` (no padding). Imports
    neither torch nor transformers. ModelLoadError, naming the file, when something is missing or does not
    load."""
    directory = Path(path)
    onnx_file = directory / INT8_FILENAME
    if not onnx_file.is_file():
        raise ModelLoadError(
            f"{path}: no {INT8_FILENAME}; export it with `manage.py export_onnx CLASSIFIER_ID` "
            f"(registration does it) or score with HWADMIN_SCORING_RUNTIME=torch"
        )
    config = read_config(directory, path)
    try:
        import onnxruntime as ort
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ModelLoadError(f"ONNX scoring needs onnxruntime and tokenizers (requirements.txt): {exc}") from None
    try:
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    except Exception as exc:  # tokenizers raises plain Exceptions
        raise ModelLoadError(f"{path}: tokenizer.json does not load: {exc}") from None
    tokenizer.no_padding()
    try:
        session = ort.InferenceSession(
            str(onnx_file), sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's InvalidProtobuf, Fail, InvalidGraph, ...
        raise ModelLoadError(
            f"{onnx_file}: does not load in ONNX Runtime ({type(exc).__name__}: {exc}); export it again with "
            f"`manage.py export_onnx CLASSIFIER_ID` or score with HWADMIN_SCORING_RUNTIME=torch"
        ) from None
    inputs = {i.name for i in session.get_inputs()}
    session_outputs = session.get_outputs()
    if (
        not {"input_ids", "attention_mask"} <= inputs
        or not inputs <= set(INPUT_NAMES)
        or len(session_outputs) != 1
        or session_outputs[0].shape[-1] != outputs
    ):
        raise ModelLoadError(
            f"{onnx_file}: not a {outputs}-output classifier export (inputs {sorted(inputs)}, outputs "
            f"{[o.shape for o in session_outputs]}); export it again with `manage.py export_onnx CLASSIFIER_ID`"
        )
    return session, tokenizer, pad_token_id(directory, tokenizer, config), config


def load_onnx(path, max_length=None):
    """The directory's model.int8.onnx in an ONNX Runtime session, with its tokenizer, calibration and
    preprocessing. Imports neither torch nor transformers. ModelLoadError, naming the file, when it is
    missing or does not load."""
    directory = Path(path)
    session, tokenizer, pad_id, config = open_int8(path)
    try:
        fitted = calibration.load(directory)
        companion = calibration.load_companion(directory, fitted)
        preprocess = morphemes.check(config.get(morphemes.CONFIG_KEY))
    except calibration.CalibrationError as exc:
        raise ModelLoadError(str(exc)) from None
    except morphemes.PreprocessError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    if max_length is None:
        max_length = min(settings.HWADMIN["MAX_SEQ_LENGTH"], config.get("max_position_embeddings") or 512)
    return OnnxClassifier(
        directory,
        session,
        tokenizer,
        pad_id,
        max_length,
        fitted,
        preprocess,
        companion,
    )


def choose_runtime(classifier):
    """("onnx" or "torch", why) for a Classifier row under HWADMIN_SCORING_RUNTIME.

    With `onnx`, a missing int8 model, one never exported by hwadmin or one changed since its
    export is a ModelLoadError; with `auto` each of these, or a failed verification, means torch.
    """
    setting = runtime_setting()
    if setting == "torch":
        return "torch", "HWADMIN_SCORING_RUNTIME=torch"
    record = (classifier.metrics or {}).get("_onnx") or {}
    onnx_file = Path(classifier.path) / INT8_FILENAME
    fix = f"run `manage.py export_onnx {classifier.pk}`"
    if not onnx_file.is_file():
        problem = f"{onnx_file}: no int8 model; {fix}"
    elif not record.get("sha256"):
        problem = f"{onnx_file}: no export is recorded for classifier #{classifier.pk}; {fix}"
    elif file_sha256(onnx_file) != record["sha256"]:
        problem = f"{onnx_file}: changed since it was exported and verified (SHA-256 differs); {fix}"
    else:
        problem = None
    if setting == "onnx":
        if problem:
            raise ModelLoadError(f"HWADMIN_SCORING_RUNTIME=onnx: {problem}, or set HWADMIN_SCORING_RUNTIME=auto")
        if not record.get("verified"):
            log.warning(
                "classifier %s: HWADMIN_SCORING_RUNTIME=onnx uses an int8 model that failed verification (%s)",
                classifier.pk,
                record.get("reason") or record.get("error") or "see metrics['_onnx']",
            )
        return "onnx", "HWADMIN_SCORING_RUNTIME=onnx"
    if problem:
        return "torch", problem
    if not record.get("verified"):
        return "torch", f"its int8 model was not verified ({record.get('reason') or record.get('error') or 'unknown'})"
    return "onnx", "int8 model verified on the labelled test split"


def load_for_worker(classifier):
    """(model, tokenizer, max_length) for a Classifier row, on the runtime `choose_runtime` picks.

    The model is an OnnxClassifier (scoring.predict_proba hands it the work) or a torch model.
    """
    from .scoring import load_model_dir

    runtime, reason = choose_runtime(classifier)
    if runtime == "onnx":
        try:
            model = load_onnx(classifier.path)
        except ModelLoadError as exc:
            if runtime_setting() == "onnx":
                raise
            log.warning("classifier %s: int8 model does not load, scoring with torch instead: %s", classifier.pk, exc)
        else:
            log.info("classifier %s: scoring with ONNX Runtime int8 (%s)", classifier.pk, reason)
            return model, model.tokenizer, model.max_length
    else:
        log.info("classifier %s: scoring with torch (%s)", classifier.pk, reason)
    return load_model_dir(classifier.path)


# --- Export and verification (registration: torch) ----------------------------


def fusion_shape(config):
    """(heads, hidden size) when ONNX Runtime's transformer optimizer knows the architecture's graph
    (BERT-shaped encoders: ELECTRA, BERT), else None."""
    if getattr(config, "model_type", None) not in FUSABLE_MODEL_TYPES:
        return None
    return int(config.num_attention_heads), int(config.hidden_size)


@contextmanager
def quiet_optimizer():
    """ONNX Runtime's transformer optimizer without its INFO lines (every node it fuses or removes, the
    operators it counts, the file it saves). Its modules log under the bare names its directory is imported
    by ("fusion_base", "onnx_model", ...), not under "onnxruntime.transformers": each is found by its file."""
    import onnxruntime.transformers

    package = Path(onnxruntime.transformers.__file__).resolve().parent
    names = {"onnxruntime.transformers"}
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if source and Path(source).resolve().is_relative_to(package):
            names.add(name)
    loggers = [logging.getLogger(name) for name in sorted(names)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def fuse_transformer(fp32, config):
    """The exported graph with attention, layer norms and GELU fused into ONNX Runtime's operators
    (`onnxruntime.transformers.optimizer`); the path of the fused file beside it, or `fp32` itself
    when nothing fused (then the plain graph is quantised, as before)."""
    from onnxruntime.transformers import optimizer

    heads, hidden = fusion_shape(config)
    with quiet_optimizer():
        fused = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
        counts = fused.get_fused_operator_statistics()
        if not counts.get("Attention"):
            log.warning("ONNX export: the optimizer fused no attention (%s); quantising the plain graph", counts)
            return fp32
        target = Path(fp32).with_name("model.fused.onnx")
        fused.save_model_to_file(str(target))
    return target


def export_int8(model, directory, fuse=True):
    """Export a loaded torch sequence classifier to ONNX, quantise it to int8, save DIR/model.int8.onnx.

    With `fuse` (default), a BERT-shaped encoder's attention, layer norms and GELU are first fused
    into ONNX Runtime's own operators (`fuse_transformer`), which run faster on a CPU. The fp32
    export is an intermediate file in a temporary folder inside the directory; the int8 file
    replaces any earlier one atomically. Returns its path.
    """
    import inspect
    import warnings

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    directory = Path(directory)
    target = directory / INT8_FILENAME
    names = [n for n in INPUT_NAMES if n in inspect.signature(model.forward).parameters]

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).logits

    vocab = int(getattr(model.config, "vocab_size", 100) or 100)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(min(5, vocab - 1), vocab, (2, 8), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 5:] = 0  # a padded row, so the trace keeps the masking
    example = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids)}
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    wrapper = Logits(model).eval()  # in eval mode: the exporter restores the wrapper's mode on the model after
    fusable = fuse and fusion_shape(model.config) is not None
    attention = getattr(model.config, "_attn_implementation", None)
    # the optimizer recognises eager attention's graph (the same arithmetic as SDPA's): export with it
    switch = fusable and attention not in (None, "eager")
    with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=directory) as tmp:
        fp32, int8 = Path(tmp) / "model.onnx", Path(tmp) / INT8_FILENAME
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the tracer's notes on Python conditionals, the exporter's notices
            if switch:
                model.set_attn_implementation("eager")
            try:
                torch.onnx.export(
                    wrapper,
                    tuple(example[n] for n in names),
                    str(fp32),
                    input_names=names,
                    output_names=["logits"],
                    dynamic_axes={**axes, "logits": {0: "batch"}},
                    opset_version=OPSET,
                    dynamo=False,
                    do_constant_folding=True,
                )
            finally:
                if switch:
                    model.set_attn_implementation(attention)
        source = fuse_transformer(fp32, model.config) if fusable else fp32
        quiet = _QuietQuantizer()
        logging.getLogger().addFilter(quiet)
        try:
            # the fused operators (com.microsoft domain) carry no type for shape inference: float is right
            quantize_dynamic(
                str(source),
                str(int8),
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        os.replace(int8, target)
    target.chmod(0o644)
    return target


class _QuietQuantizer(logging.Filter):
    """Drop quantize_dynamic's notes (one INFO line per tensor it leaves in float, its advice to pre-process)."""

    def filter(self, record):
        return record.levelno > logging.WARNING or (
            record.levelno == logging.WARNING and "pre-processing before quantization" not in record.getMessage()
        )


def auroc(labels, scores):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def build_int8(directory, check_code, data_path=None, log=None):
    """Export DIR/model.int8.onnx and verify it on the check's labelled test split; the report to store
    as metrics["_onnx"]. Never raises for a model that does not export or verify: the report says why
    (`verified` false, `error` or `reason`), the file is removed on an error, and workers keep torch."""
    from .registry import gate_data
    from .scoring import load_model_dir, predict_proba

    directory = Path(directory)
    report = {"file": INT8_FILENAME, "verified": False, "max_auroc_diff": MAX_AUROC_DIFF}
    start = time.perf_counter()
    try:
        model, tokenizer, max_length = load_model_dir(directory)
        onnx_file = export_int8(model, directory)
        report["export_seconds"] = round(time.perf_counter() - start, 2)
        report["sha256"] = file_sha256(onnx_file)
        report["bytes"] = onnx_file.stat().st_size
        found = gate_data(check_code, data_path)
        if found is None:
            report["reason"] = f"no labelled test split for the check {check_code!r} to verify on (pass --data)"
        else:
            _, texts, labels, source = found
            int8_model = load_onnx(directory, max_length=max_length)
            began = time.perf_counter()
            fp32_scores = predict_proba(model, tokenizer, texts, max_length)
            fp32_seconds = time.perf_counter() - began
            began = time.perf_counter()
            int8_scores = int8_model.predict_proba(texts, max_length)
            int8_seconds = time.perf_counter() - began
            auroc_fp32, auroc_int8 = auroc(labels, fp32_scores), auroc(labels, int8_scores)
            report.update(
                data=source,
                examples=len(labels),
                auroc_fp32=round(auroc_fp32, 6),
                auroc_int8=round(auroc_int8, 6),
                max_abs_diff=round(max(abs(a - b) for a, b in zip(fp32_scores, int8_scores)), 6),
                fp32_seconds=round(fp32_seconds, 2),
                int8_seconds=round(int8_seconds, 2),
                verified=abs(auroc_int8 - auroc_fp32) <= MAX_AUROC_DIFF,
            )
            if not report["verified"]:
                report["reason"] = (
                    f"AUROC {auroc_int8:.4f} (int8) vs {auroc_fp32:.4f} (fp32) on the test split "
                    f"differ by more than {MAX_AUROC_DIFF}"
                )
    except Exception as exc:  # the export's many failure kinds: torch, onnx, onnxruntime, a bad --data file
        (directory / INT8_FILENAME).unlink(missing_ok=True)
        report["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    report["seconds"] = round(time.perf_counter() - start, 2)
    if log:
        log(format_report(report))
    return report


def format_report(report):
    """One or two lines for the command's output: what was exported, verified, and which runtime follows."""
    if report.get("error"):
        return f"int8 ONNX: export failed ({report['error']}); no {report['file']}, workers keep the torch runtime"
    if report.get("auroc_fp32") is None:
        return (
            f"int8 ONNX: exported {report['file']} ({report['bytes'] / 1e6:.1f} MB) but not verified: "
            f"{report['reason']}; workers keep the torch runtime (HWADMIN_SCORING_RUNTIME=onnx forces it)"
        )
    figures = (
        f"AUROC {report['auroc_int8']:.4f} int8 vs {report['auroc_fp32']:.4f} fp32 on {report['examples']} "
        f"test reviews, largest probability difference {report['max_abs_diff']:.4f}, "
        f"{report['fp32_seconds']:.1f}s fp32 vs {report['int8_seconds']:.1f}s int8"
    )
    if report["verified"]:
        return (
            f"int8 ONNX: verified, {report['file']} ({report['bytes'] / 1e6:.1f} MB; {figures}); workers score "
            f"with ONNX Runtime (HWADMIN_SCORING_RUNTIME=auto)"
        )
    return (
        f"int8 ONNX: NOT verified ({figures}: differs by more than {MAX_AUROC_DIFF}); the classifier is "
        f"registered but workers keep the torch runtime"
    )
