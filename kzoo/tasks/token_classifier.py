"""Token classification (NER) on any kzoo backbone."""

import keras

from kzoo.tasks.task import Task, backbone_inputs


@keras.saving.register_keras_serializable(package="kzoo")
class TokenClassifier(Task):
    """Per-token label logits from the sequence output. Train with `label_weights` as sample
    weights, so only each word's first piece counts (see `kzoo.data.conll.align_labels`).

    Example:
        >>> ner = TokenClassifier(kzoo.build_encoder("bert_tiny"), label_names=CONLL_LABELS)
        >>> ner.compile(); ner.fit(x, arrays["labels"], sample_weight=arrays["label_weights"])
    """

    def __init__(self, backbone, label_names, dropout=0.1, **kwargs):
        inputs = backbone_inputs(backbone)
        features = backbone(inputs)
        sequence = features["sequence_output"] if isinstance(features, dict) else features
        self.head = keras.layers.Dense(
            len(label_names), dtype=backbone.dtype_policy, name="token_classifier_head",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=backbone.config.initializer_range))
        logits = self.head(keras.layers.Dropout(dropout, name="head_dropout")(sequence))
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone,
                         head_config={"label_names": list(label_names), "dropout": dropout}, **kwargs)
        self.label_names = list(label_names)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")

    def default_weighted_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
