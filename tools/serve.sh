#!/usr/bin/env bash
# Serves every model under saved_models/ with TF Serving: REST on 8501, gRPC on 8500.
#   tools/serve.sh            # a local tensorflow_model_server on PATH
#   tools/serve.sh --docker   # the official GPU container (needs the NVIDIA container toolkit)
# Writes saved_models/models.config (one entry per model folder) and batching.config first;
# each version's assets.extra/tf_serving_warmup_requests warms the model before it serves.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS_DIR="$(pwd)/saved_models"
if [[ "${1:-}" == "--docker" ]]; then BASE=/models; else BASE="$MODELS_DIR"; fi
if [[ "${1:-}" != "--docker" ]] && ! command -v tensorflow_model_server >/dev/null; then
  echo "tools/serve.sh: tensorflow_model_server is not on PATH. Either run the official container" >&2
  echo "  (tools/serve.sh --docker, image tensorflow/serving:2.20.0-gpu, or tensorflow/serving:2.20.0 on CPU)," >&2
  echo "  or install the release binary: the tensorflow-model-server apt package from" >&2
  echo "  https://storage.googleapis.com/tensorflow-serving-apt (see tensorflow.org/tfx/serving/setup)." >&2
  exit 127
fi
python -c "
import pathlib, sys
from kzoo.export import write_models_config
root = pathlib.Path('$MODELS_DIR')
names = sorted(p.name for p in root.iterdir() if p.is_dir() and any(v.name.isdigit() for v in p.iterdir()))
if not names:
    sys.exit('no exported models in saved_models/: run kzoo quickstart or kzoo export first')
write_models_config(root, names, base_path='$BASE')
print('serving', ', '.join(names))
"
ARGS=(--port=8500 --rest_api_port=8501 --model_config_file="$BASE/models.config"
      --enable_batching=true --batching_parameters_file="$BASE/batching.config" --enable_model_warmup=true)
if [[ "${1:-}" == "--docker" ]]; then
  exec docker run --rm --gpus all -p 8500:8500 -p 8501:8501 -v "$MODELS_DIR:/models" \
    tensorflow/serving:2.20.0-gpu "${ARGS[@]}"
fi
exec tensorflow_model_server "${ARGS[@]}"
