"""BERT-style bidirectional encoder."""

import keras

from kzoo.models.backbone import Backbone, checked_config, make_layers


@keras.saving.register_keras_serializable(package="kzoo")
class Encoder(Backbone):
    """Functional encoder: `token_ids`, `segment_ids`, `padding_mask` → `sequence_output`,
    `pooled_output`.

    The pooled output is tanh(dense(first token)), as in BERT.

    Example:
        >>> encoder = Encoder("bert_tiny")
        >>> out = encoder({"token_ids": ids, "segment_ids": seg, "padding_mask": mask})
        >>> out["pooled_output"].shape  # (batch, 128)
    """

    def __init__(self, config="bert_tiny", dtype=None, **kwargs):
        config = checked_config(config, {}, "encoder", builder="Encoder")
        stack = make_layers(config, dtype)
        self.embedding, self.blocks = stack.embedding, stack.blocks
        self.final_norm = stack.final_norm
        self.pooler = keras.layers.Dense(
            config.hidden_size,
            activation="tanh",
            dtype=dtype,
            name="pooler",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=config.initializer_range),
        )
        inputs = {
            name: keras.Input((None,), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        x = self.sequence_output(inputs)
        outputs = {"sequence_output": x, "pooled_output": self.pooler(x[:, 0, :])}
        super().__init__(inputs=inputs, outputs=outputs, config=config, dtype=dtype, **kwargs)

    def sequence_output(self, inputs, output_positions=None):
        """The encoder's layers applied to `inputs`; with `output_positions` (batch, n), only those
        positions come out.

        A head that reads a few positions (MLM + NSP pretraining: the masked tokens and the first)
        calls this in its own graph: the last block then runs attention from those rows' queries,
        its output projection and its feed-forward network on those rows only, 10% of a
        bert_small training step. (Keys and values need every row, so the fused QKV matmul stays whole.)
        """
        x = self.embedding(inputs["token_ids"], inputs["segment_ids"])
        for i, block in enumerate(self.blocks):
            last = i == len(self.blocks) - 1
            x = block(
                x, inputs["padding_mask"], query_positions=output_positions if last else None
            )
        return x if self.final_norm is None else self.final_norm(x)


def build_encoder(preset_or_config="bert_tiny", **overrides) -> Encoder:
    """Builds an encoder from a preset name, dict, JSON path or `ModelConfig`, with field
    overrides.

    Example: `build_encoder("bert_base", dropout=0.0)`.
    """
    dtype = overrides.pop("dtype", None)
    return Encoder(
        checked_config(preset_or_config, overrides, "encoder", "build_encoder"), dtype=dtype
    )
