"""Outside checkpoints in and out."""

from kzoo.convert.google_bert import load_google_bert
from kzoo.convert.huggingface import load_huggingface, save_huggingface

__all__ = ["load_google_bert", "load_huggingface", "save_huggingface"]
