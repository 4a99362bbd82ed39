"""Reference TF Model Garden BERT encoder checkpoints and outputs, committed as test data.

Run once where the `garden` extra is installed (`pip install -e '.[garden]'`):
    python tools/reference/garden_outputs.py
Writes tests/data/garden_bert_v1/ (functional BertEncoder, with bert_config.json, exact GELU) and
tests/data/garden_bert_v2/ (BertEncoderV2, no config: kzoo infers it from the shapes, Model Garden's
default tanh GELU), each a `tf.train.Checkpoint(encoder=...)` as Model Garden writes and publishes
them, plus the encoder's sequence and pooled outputs in reference_outputs.npz.
"""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras
from official.nlp.modeling import networks

DATA = Path(__file__).parents[2] / "tests" / "data"
SHAPE = dict(vocab_size=100, hidden_size=32, num_layers=2, num_attention_heads=4, max_sequence_length=64,
             type_vocab_size=2, inner_dim=37)
TOKEN_IDS = np.array([[2, 5, 7, 9, 3, 0, 0], [2, 11, 13, 3, 17, 19, 3]], "int32")
SEGMENT_IDS = np.array([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1]], "int32")


def write(encoder, directory, bert_config=None):
    tf_keras.utils.set_random_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    inputs = dict(input_word_ids=TOKEN_IDS, input_mask=(TOKEN_IDS > 0).astype("int32"), input_type_ids=SEGMENT_IDS)
    encoder(inputs)  # builds the weights
    for variable in encoder.weights:  # random, not init-valued, weights everywhere (biases and norms too)
        variable.assign(tf.random.normal(variable.shape, stddev=0.2, seed=len(variable.name)) +
                        (1.0 if "gamma" in variable.name else 0.0))
    outputs = encoder(inputs)
    tf.train.Checkpoint(encoder=encoder).write(str(directory / "bert_model.ckpt"))
    if bert_config:
        (directory / "bert_config.json").write_text(json.dumps(bert_config, indent=1))
    np.savez(directory / "reference_outputs.npz", token_ids=TOKEN_IDS, segment_ids=SEGMENT_IDS,
             sequence_output=outputs["sequence_output"].numpy(), pooled_output=outputs["pooled_output"].numpy())


def main():
    exact_gelu = lambda x: tf_keras.activations.gelu(x, approximate=False)  # noqa: E731
    write(networks.BertEncoder(**SHAPE, inner_activation=exact_gelu, dict_outputs=True), DATA / "garden_bert_v1",
          {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
           "intermediate_size": 37, "hidden_act": "gelu", "max_position_embeddings": 64, "type_vocab_size": 2,
           "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02})
    write(networks.BertEncoderV2(**SHAPE), DATA / "garden_bert_v2")


if __name__ == "__main__":
    main()
