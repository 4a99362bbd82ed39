"""Extractive question answering: start and end logits over the tokens."""

import keras

from kzoo.tasks.task import Task, backbone_inputs


@keras.saving.register_keras_serializable(package="kzoo")
class SpanQA(Task):
    """`{"start", "end"}` logits (batch, length) from the sequence output; decode answers with
    `kzoo.data.squad.best_spans` (n-best, maximum answer length).

    Example:
        >>> qa = SpanQA(kzoo.build_encoder("bert_base")); qa.compile()
        >>> qa.fit(inputs, {"start": windows["start_positions"], "end": windows["end_positions"]})
    """

    default_learning_rate = 5e-5

    def __init__(self, backbone, **kwargs):
        inputs = backbone_inputs(backbone)
        self.head = keras.layers.Dense(
            2, dtype=backbone.dtype_policy, name="span_head",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=backbone.config.initializer_range))
        logits = self.head(backbone(inputs)["sequence_output"])
        outputs = {"start": logits[:, :, 0], "end": logits[:, :, 1]}
        super().__init__(inputs=inputs, outputs=outputs, backbone=backbone, head_config={}, **kwargs)

    def default_loss(self):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return {"start": loss, "end": loss}

    def default_metrics(self):
        return {"start": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                "end": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
