"""Multiple choice (SWAG, RACE, COPA style): score each (context, choice) pair, softmax over choices."""

import keras
from keras import ops

from kzoo.tasks.classifier import pooled
from kzoo.tasks.task import Task


@keras.saving.register_keras_serializable(package="kzoo")
class FoldChoices(keras.layers.Layer):
    """(batch, choices, length) → (batch · choices, length), so the backbone sees ordinary rows."""

    def call(self, x):
        return ops.reshape(x, (-1, ops.shape(x)[-1]))

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1])


@keras.saving.register_keras_serializable(package="kzoo")
class MultipleChoice(Task):
    """One logit per choice, from the pooled output of `[CLS] context [SEP] choice [SEP]`
    (the last real token for decoders); the loss is softmax cross-entropy over the choices.

    Inputs are the backbone's, shaped (batch, num_choices, length); `kzoo.data.encode_choices`
    builds them from strings.

    Example:
        >>> mc = MultipleChoice(kzoo.build_encoder("bert_tiny"), num_choices=4); mc.compile()
        >>> mc.fit(data.encode_choices(encode, contexts, choices), answers)
    """

    def __init__(self, backbone, num_choices, dropout=0.1, **kwargs):
        inputs = {name: keras.Input((num_choices, None), dtype="int32", name=name) for name in backbone.input}
        fold = FoldChoices(name="fold_choices")
        rows = {name: fold(x) for name, x in inputs.items()}
        features = backbone(rows)
        summary = pooled(backbone, features, rows["padding_mask"])
        self.head = keras.layers.Dense(
            1, dtype=backbone.dtype_policy, name="choice_head",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=backbone.config.initializer_range))
        scores = self.head(keras.layers.Dropout(dropout, name="head_dropout")(summary))
        logits = ops.reshape(scores, (-1, num_choices))
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone,
                         head_config={"num_choices": num_choices, "dropout": dropout}, **kwargs)
        self.num_choices = num_choices

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
