"""Which `tf.distribute` strategy and compute dtype a pretraining run uses.

    --tpu NAME          TPUClusterResolver + TPUStrategy, bfloat16
    TF_CONFIG set       MultiWorkerMirroredStrategy (all GPUs of all workers)
    more than one GPU   MirroredStrategy
    otherwise           the default strategy (one GPU or the CPU)

bfloat16 is used on TPUs and on GPUs of compute capability 8.0 or newer (A100, H100, ...),
float32 elsewhere (the CPU, older GPUs). The decision is a pure function of the flags and the
visible devices, so it can be checked without the hardware.
"""

import json
import os
from typing import NamedTuple


class Plan(NamedTuple):
    kind: str  # "tpu", "multi_worker", "mirrored" or "default"
    compute_dtype: str  # "bfloat16" or "float32"


def choose(tpu: str | None, gpu_capabilities: list, tf_config: str | None, mixed_precision: bool = True) -> Plan:
    """The strategy kind and compute dtype for a TPU name, the visible GPUs' compute capabilities and TF_CONFIG."""
    if tpu:
        kind = "tpu"
    elif tf_config and json.loads(tf_config).get("cluster"):
        kind = "multi_worker"
    elif len(gpu_capabilities) > 1:
        kind = "mirrored"
    else:
        kind = "default"
    bf16_ready = kind == "tpu" or (gpu_capabilities and all(cc and tuple(cc) >= (8, 0) for cc in gpu_capabilities))
    return Plan(kind, "bfloat16" if mixed_precision and bf16_ready else "float32")


def visible_gpu_capabilities() -> list:
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(details.get("compute_capability"))
    return capabilities


def make_strategy(plan: Plan, tpu: str | None = None):
    """Build the strategy a `Plan` names (connecting to the TPU system for "tpu")."""
    import tensorflow as tf

    if plan.kind == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if plan.kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if plan.kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def plan_and_strategy(tpu: str | None = None, mixed_precision: bool = True):
    gpus = [] if tpu else visible_gpu_capabilities()
    plan = choose(tpu, gpus, os.environ.get("TF_CONFIG"), mixed_precision)
    return plan, make_strategy(plan, tpu)
