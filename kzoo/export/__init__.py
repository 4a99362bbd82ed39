"""SavedModels on raw strings, in TF Serving's layout."""

from kzoo.export.fresh_process import (
    call_in_fresh_process,
    predict_in_fresh_process,
    replay_warmup_in_fresh_process,
)
from kzoo.export.layout import check_model_name, write_models_config
from kzoo.export.op_check import check_serving_ops
from kzoo.export.saved_model import export_saved_model, serving_length

__all__ = [
    "call_in_fresh_process",
    "check_model_name",
    "check_serving_ops",
    "export_saved_model",
    "predict_in_fresh_process",
    "replay_warmup_in_fresh_process",
    "serving_length",
    "write_models_config",
]
