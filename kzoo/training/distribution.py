"""The `strategy` setting: where training runs.

"default" (one device), "mirrored" (all local GPUs, or the logical CPUs), "tpu" (TPUStrategy,
TPU address in the TPU_NAME environment variable), and under the JAX backend "data_parallel" /
"model_parallel" (keras.distribution). "multi_worker" is refused for now: Keras 3's `fit` cannot
consume MultiWorkerMirroredStrategy's per-replica inputs (keras-team/keras#20585,
tensorflow/tensorflow#72388). Build and compile the task inside `strategy_scope(name)`.
"""

import contextlib
import os

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
        raise ValueError("strategy='multi_worker' is not available: Keras 3's fit fails on "
                         "MultiWorkerMirroredStrategy inputs (keras-team/keras#20585). Use 'mirrored' for the "
                         "devices of one machine, or KERAS_BACKEND=jax with 'data_parallel' across processes.")
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def block_layouts(mesh):
    """Megatron-style tensor parallelism for kzoo's blocks on the mesh's "model" axis: the fused QKV
    and first FFN projections split by columns, the attention output and second FFN by rows."""
    layouts = keras.distribution.LayoutMap(mesh)
    layouts[r"block_\d+/(attention/qkv|ffn_in)/kernel"] = (None, "model")
    layouts[r"block_\d+/(attention/qkv|ffn_in)/bias"] = ("model",)
    layouts[r"block_\d+/(attention/output|ffn_out)/kernel"] = ("model", None)
    return layouts


@contextlib.contextmanager
def strategy_scope(name="default"):
    """Builds and compiles models for `name`; yields the strategy."""
    strategy = make_strategy(name)  # tf.distribute strategies and keras distributions both have scope()
    with strategy.scope():
        yield strategy
