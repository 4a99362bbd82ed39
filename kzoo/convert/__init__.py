"""Outside checkpoints in and out."""

from kzoo.convert.huggingface import load_huggingface, save_huggingface

__all__ = ["load_huggingface", "save_huggingface"]
