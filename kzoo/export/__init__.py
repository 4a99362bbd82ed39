"""SavedModels on raw strings, in TF Serving's layout."""

from kzoo.export.fresh_process import predict_in_fresh_process
from kzoo.export.layout import write_models_config
from kzoo.export.op_check import check_serving_ops
from kzoo.export.saved_model import export_saved_model

__all__ = ["check_serving_ops", "export_saved_model", "predict_in_fresh_process", "write_models_config"]
