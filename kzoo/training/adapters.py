"""Fine-tuning options on a task's backbone: freezing and LoRA adapters (Keras's own), merged for
export."""

import tempfile
from pathlib import Path

from kzoo.models import weights


def freeze(task, embeddings=False, first_layers=0, backbone=False):
    """Stops training the embeddings, the first `first_layers` blocks, or the whole backbone.

    Example: `freeze(classifier, embeddings=True, first_layers=4)`; heads stay trainable.
    """
    if backbone:
        task.backbone.trainable = False
        return task
    task.backbone.embedding.trainable = not embeddings
    for index, block in enumerate(task.backbone.blocks):
        block.trainable = index >= first_layers
    return task


def enable_lora(task, rank=8, alpha=None, targets=("qkv",)):
    """Adds LoRA adapters (Keras `Dense.enable_lora`) to the projections named in `targets`
    (`kzoo.models.weights.LORA_TARGETS`: "qkv", "output", "ffn_in", "ffn_out") and freezes every
    other backbone weight; the head stays trainable.

    kzoo's attention has one fused QKV projection, so the default adapter covers query, key and
    value together (rank `rank` on the fused matrix) rather than query and value separately.
    """
    unknown = sorted(set(targets) - set(weights.LORA_TARGETS))
    if unknown:
        raise ValueError(f"enable_lora: unknown targets {unknown}; choose among "
                         f"{sorted(weights.LORA_TARGETS)}.")
    layers = {layer.path: layer for layer in task.backbone._flatten_layers()}
    for index, block in enumerate(task.backbone.blocks):
        for sublayer in block._flatten_layers(include_self=False):
            if not sublayer._layers:  # leaves only: a container's flag would override its children
                sublayer.trainable = False
        for name in targets:
            dense = layers[weights.layer_path(weights.LORA_TARGETS[name], index)]
            dense.trainable = True
            dense.enable_lora(rank, lora_alpha=alpha)
            if dense.bias is not None:
                dense.bias.trainable = False
    task.backbone.embedding.trainable = False
    if task.backbone.final_norm is not None:
        task.backbone.final_norm.trainable = False
    if getattr(task.backbone, "pooler", None) is not None:
        task.backbone.pooler.trainable = False
    return task


def merge_lora(task):
    """A copy of `task` without adapters whose kernels are `W + (alpha / rank) A B` (Keras merges
    on save)."""
    merged = task.__class__.from_config(task.get_config())
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "merged.weights.h5"
        task.save_weights(path)
        merged.load_weights(path)
    return merged


def trainable_paths(model) -> set[str]:
    """Paths of the variables an optimizer would update (for checks and summaries)."""
    return {v.path for v in model.trainable_variables}
