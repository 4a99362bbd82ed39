"""Sequence-to-sequence LM on an encoder-decoder: translation, summarization, T5/BART
pretraining."""

import keras
from keras import ops

from kzoo.tasks.task import Task, backbone_inputs
from kzoo.training.losses import Perplexity, SparseCrossEntropy, TokenAccuracy


def decoder_inputs(labels, start_id, pad_id=0):
    """Teacher forcing: the labels shifted one step right behind `start_id`, padding kept as
    `pad_id` (a label row [a, b, end, pad] feeds [start, a, b, end])."""
    labels = ops.convert_to_tensor(labels, "int32")
    shifted = ops.pad(labels[:, :-1], ((0, 0), (1, 0)), constant_values=start_id)
    return shifted


@keras.saving.register_keras_serializable(package="kzoo")
class Seq2SeqLM(Task):
    """A kzoo `EncoderDecoder` with its LM head: the four encoder/decoder inputs → target logits.

    Train it by `fit` on `(inputs, labels, sample_weight)`: `decoder_token_ids` are the labels
    shifted right behind the config's `decoder_start_token_id` (`decoder_inputs`; T5's pad id 0,
    BART's end id 2), and the sample weights are the labels' padding mask, so the loss averages
    over target tokens only.

    Example:
        >>> model = Seq2SeqLM(kzoo.build_encoder_decoder("t5_small"))
        >>> model.compile()
        >>> model.fit(translation_batches, epochs=1)
    """

    default_learning_rate = 5e-4

    def __init__(self, backbone, **kwargs):
        inputs = backbone_inputs(backbone)
        logits = backbone.logits(backbone(inputs)["decoder_sequence_output"])
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone, head_config={},
                         **kwargs)

    @property
    def decoder_start_token_id(self) -> int:
        return self.backbone.config.decoder_start_token_id

    def default_loss(self):
        return SparseCrossEntropy(reduction="mean_with_sample_weight")

    def default_weighted_metrics(self):
        return [TokenAccuracy(name="accuracy"), Perplexity()]
