"""Name-based checkpoints in the original ELECTRA (TF1 `Saver`) format.

A checkpoint is a tensor bundle `model.ckpt-{step}.index` / `.data-00000-of-00001` whose
tensors carry plain names (`electra/embeddings/word_embeddings`, `global_step`,
`<weight>/adam_m`, ...), plus the `checkpoint` state file that `tf.train.latest_checkpoint`
reads. `tf.train.list_variables` / `tf.train.load_variable` and the original TF1 code read
these files; object-based `tf.train.Checkpoint` paths would not match any of those names.
"""

import os
from pathlib import Path

import tensorflow as tf

CONFIG_FILE = "pretraining_config.json"


def save(directory, step: int, variables: dict, keep: int = 5) -> str:
    """Write `variables` (name -> tf.Variable) as `directory/model.ckpt-{step}`; keep the newest `keep` (0: all)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    prefix = str(directory / f"model.ckpt-{step}")
    names = list(variables)
    with tf.device("CPU:0"):
        tensors = [tf.identity(variables[name].read_value()) for name in names]
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
    state = tf.train.get_checkpoint_state(str(directory))
    previous = [p for p in (state.all_model_checkpoint_paths if state else []) if p != prefix]
    kept = previous + [prefix]
    if keep and len(kept) > keep:
        for old in kept[:-keep]:
            for file in tf.io.gfile.glob(old + ".*"):
                tf.io.gfile.remove(file)
        kept = kept[-keep:]
    # the state file is written last, so an interrupted save leaves the previous checkpoint as the latest
    write_state(directory, kept)
    return prefix


def write_state(directory: Path, prefixes: list) -> None:
    """The `checkpoint` text file (relative paths, newest last), replaced atomically."""
    lines = [f'model_checkpoint_path: "{os.path.basename(prefixes[-1])}"']
    lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in prefixes]
    temporary = directory / "checkpoint.tmp"
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(temporary, directory / "checkpoint")


def resolve(path) -> str:
    """A checkpoint prefix from a prefix or a directory (its latest checkpoint)."""
    path = str(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in {path}: expected a `checkpoint` file and model.ckpt-* files")
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"{path}.index does not exist: give a checkpoint prefix or its directory")
    return path


def read_config(prefix):
    """The `pretraining_config.json` that sits beside a checkpoint."""
    from plm.electra.config import PretrainingConfig

    config_path = Path(prefix).parent / CONFIG_FILE
    if not config_path.exists():
        raise FileNotFoundError(f"{config_path} is missing: pass a PretrainingConfig for this checkpoint")
    return PretrainingConfig.from_json(config_path)


def restore(prefix, variables: dict, allow_missing=()) -> None:
    """Assign every variable (name -> tf.Variable) from checkpoint `prefix`; names and shapes must match."""
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    missing = [name for name in variables if name not in shapes and name not in allow_missing]
    wrong = [
        f"{name} {shapes[name]} (model {variables[name].shape.as_list()})"
        for name in variables
        if name in shapes and list(shapes[name]) != variables[name].shape.as_list()
    ]
    if missing or wrong:
        raise ValueError(
            f"checkpoint {prefix} does not fit the configuration: "
            + (f"{len(missing)} missing (e.g. {', '.join(missing[:3])}); " if missing else "")
            + (f"{len(wrong)} with another shape (e.g. {'; '.join(wrong[:3])})" if wrong else "")
        )
    for name, variable in variables.items():
        if name in shapes:
            variable.assign(tf.cast(reader.get_tensor(name), variable.dtype))
