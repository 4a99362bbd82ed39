"""End-to-end runs driven by a run config (what the `kzoo` commands call)."""

from kzoo.recipes.finetune import evaluate_run, load_backbone, load_run, run_finetuning
from kzoo.recipes.pretrain import run_pretraining
from kzoo.recipes.run_config import RunConfig, load_run_config, run_config_from_dict

__all__ = ["RunConfig", "evaluate_run", "load_backbone", "load_run", "load_run_config", "run_config_from_dict",
           "run_finetuning", "run_pretraining"]
