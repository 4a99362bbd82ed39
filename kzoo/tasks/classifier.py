"""Sequence classification and regression on any kzoo backbone."""

import keras
from keras import ops

from kzoo.tasks.task import Task, backbone_inputs


def last_token(hidden, padding_mask):
    """Hidden state of each row's last real token (decoders pool here; works with left padding)."""
    mask = ops.cast(padding_mask, "int32")
    positions = (ops.cumsum(ops.ones_like(mask), axis=1) - 1) * mask
    index = ops.max(positions, axis=1)
    return ops.take_along_axis(hidden, index[:, None, None], axis=1)[:, 0]


# What a sequence head reads, by stack: an encoder's pooled first token ([CLS]); a decoder's
# last real token, the only one that has seen the whole text.
POOLING = {
    "encoder": lambda features, padding_mask: features["pooled_output"],
    "decoder": last_token,
}


def pooled(backbone, features, padding_mask):
    """One vector per sequence from the backbone's outputs, as its stack pools."""
    return POOLING[backbone.config.stack](features, padding_mask)


@keras.saving.register_keras_serializable(package="kzoo")
class Classifier(Task):
    """Single-text or text-pair classification; `num_classes=1` makes it a regressor (MSE).

    Encoders pool with their pooled output ([CLS]); decoders with the last real token.

    Example:
        >>> clf = Classifier(kzoo.build_encoder("bert_tiny"), num_classes=2)
        >>> clf.compile(); clf.fit(classification_batches(...), epochs=3)
    """

    def __init__(self, backbone, num_classes=2, dropout=0.1, label_names=None, **kwargs):
        inputs = backbone_inputs(backbone)
        features = backbone(inputs)
        summary = pooled(backbone, features, inputs["padding_mask"])
        self.head = keras.layers.Dense(
            num_classes, dtype=backbone.dtype_policy, name="classifier_head",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=backbone.config.initializer_range))
        logits = self.head(keras.layers.Dropout(dropout, name="head_dropout")(summary))
        label_names = list(label_names or ([] if num_classes == 1 else map(str, range(num_classes))))
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone,
                         head_config={"num_classes": num_classes, "dropout": dropout,
                                      "label_names": label_names}, **kwargs)
        self.num_classes, self.label_names = num_classes, label_names

    def default_loss(self):
        if self.num_classes == 1:
            return keras.losses.MeanSquaredError()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        if self.num_classes == 1:
            return [keras.metrics.MeanSquaredError(name="mse")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
