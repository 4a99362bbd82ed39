"""The `strategy` setting: where training runs.

"default" (one device), "mirrored" (all local GPUs, or the logical CPUs), "multi_worker"
(MultiWorkerMirroredStrategy over the cluster in TF_CONFIG), "tpu" (TPUStrategy, TPU address in the
TPU_NAME environment variable), and under the JAX backend "data_parallel" / "model_parallel"
(keras.distribution). Build and compile the task inside `strategy_scope(name)`.
"""

import contextlib
import json
import os
from pathlib import Path

import keras

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu", "data_parallel", "model_parallel")


def make_strategy(name="default"):
    """The tf.distribute strategy (TensorFlow backend) or keras.distribution (JAX backend) for `name`."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy={name!r} is invalid: expected one of {STRATEGIES}.")
    if name in ("data_parallel", "model_parallel"):
        if keras.backend.backend() != "jax":
            raise ValueError(f"strategy={name!r} needs KERAS_BACKEND=jax; with TensorFlow use 'mirrored'.")
        devices = keras.distribution.list_devices()
        if name == "data_parallel":
            return keras.distribution.DataParallel(devices=devices)
        mesh = keras.distribution.DeviceMesh((1, len(devices)), ["batch", "model"], devices)
        return keras.distribution.ModelParallel(layout_map=block_layouts(mesh), batch_dim_name="batch")
    import tensorflow as tf

    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy='multi_worker' needs TF_CONFIG in the environment of every worker, e.g. "
                             '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", '
                             '"index": 0}}; on one machine use "mirrored".')
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def block_layouts(mesh):
    """Megatron-style tensor parallelism for kzoo's blocks on the mesh's "model" axis, as
    `kzoo.models.weights.TENSOR_PARALLEL` splits them."""
    from kzoo.models.weights import tensor_parallel_layouts

    layouts = keras.distribution.LayoutMap(mesh)
    for path, spec in tensor_parallel_layouts().items():
        layouts[path] = spec
    return layouts


@contextlib.contextmanager
def strategy_scope(name="default"):
    """Builds and compiles models for `name`; yields the strategy."""
    strategy = make_strategy(name)  # tf.distribute strategies and keras distributions both have scope()
    with strategy.scope():
        yield strategy


def multi_worker(strategy) -> bool:
    """Whether `strategy` spans several workers (a MultiWorkerMirroredStrategy with a cluster)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())  # the test Keras's own trainer uses


def worker_index() -> int:
    """This process's index in TF_CONFIG's cluster (0, the chief, without one)."""
    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))


def worker_dir(run_dir, strategy) -> Path:
    """Where this process writes checkpoints and logs: the run directory itself, except on the
    non-chief workers of a multi-worker run. Those take part in every save (their variables are
    the chief's) but write into `run_dir/workers/<index>`, so the run directory has one writer."""
    if not multi_worker(strategy) or worker_index() == 0:
        return Path(run_dir)
    return Path(run_dir) / "workers" / str(worker_index())


def strategy_of(task):
    """The tf.distribute strategy `task` was built under (None on backends without one)."""
    return getattr(task, "distribute_strategy", None)


def task_scope(task):
    """The scope in which `task`'s strategy creates variables (optimizer slots, say); a no-op
    without a tf.distribute strategy."""
    strategy = strategy_of(task)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()

