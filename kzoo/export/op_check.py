"""Proof without the server binary that TF Serving can run an export: every op is a TF or TF Text op.

Run it in a process that imports only TensorFlow and TF Text (as `python -m kzoo.export.op_check DIR`
does), so that ops registered by anything else cannot hide a missing kernel.
"""

import sys
from pathlib import Path

PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def graph_ops(version_dir) -> set[str]:
    """Every op type in the SavedModel's graph and function library."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel.FromString((Path(version_dir) / "saved_model.pb").read_bytes())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        ops |= {node.op for node in meta_graph.graph_def.node}
        for function in meta_graph.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def check_serving_ops(version_dir) -> set[str]:
    """Raises ValueError naming any Python-callback op or op unknown to TF + TF Text; returns the ops."""
    import tensorflow_text  # noqa: F401  (registers the TF Text ops TF Serving links)
    from tensorflow.python.framework import op_def_registry

    ops = graph_ops(version_dir)
    python_ops = sorted(ops & PYTHON_OPS)
    unknown = sorted(op for op in ops if op_def_registry.get(op) is None)
    if python_ops or unknown:
        raise ValueError(f"{version_dir}: TF Serving cannot run this export: Python ops {python_ops}, "
                         f"ops unknown to TensorFlow + TF Text {unknown}. Replace them with TF graph ops.")
    return ops


if __name__ == "__main__":
    print(f"{len(check_serving_ops(sys.argv[1]))} ops, all TensorFlow / TF Text, no Python callbacks")
