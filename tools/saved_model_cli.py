"""TensorFlow's own `saved_model_cli`, with TF Text's ops registered first, as TF Serving has them.

`saved_model_cli` itself loads only TensorFlow's ops, so on a kzoo export (its tokenizer is TF
Text ops) it stops at "Op type not registered". This runs the same tool, unchanged, after
`import tensorflow_text`; `run` restores the model with the session loader TF Serving uses.

    .venv/bin/python tools/saved_model_cli.py run --dir saved_models/sst2/1 --tag_set serve \
        --signature_def serving_default --input_exprs 'text=["a charming film"]'
"""

import sys

import tensorflow_text  # noqa: F401  (registers the TF Text ops)
from tensorflow.python.tools.saved_model_cli import main

if __name__ == "__main__":
    sys.argv[0] = "saved_model_cli"
    sys.exit(main())
