"""Pretraining tasks: masked LM + next-sentence prediction for encoders, causal LM for decoders."""

import keras
from keras_hub.layers import MaskedLMHead

from kzoo.layers.transformer_block import ACTIVATION_FUNCTIONS
from kzoo.tasks.task import Task, backbone_inputs
from kzoo.training.losses import Perplexity, SparseCrossEntropy, TokenAccuracy


@keras.saving.register_keras_serializable(package="kzoo")
class MaskedLMPretrainer(Task):
    """BERT pretraining: MLM logits at `mask_positions` and NSP logits from the pooled output.

    The masked positions are gathered before the last transformer block, so it and
    the vocabulary projection run on the ~15% of tokens that carry a loss (the
    outputs are those of the full encoder). Feed it
    `kzoo.data.mlm_nsp_batches`; the MLM loss averages over masked positions only.

    Example:
        >>> model = MaskedLMPretrainer(kzoo.build_encoder("bert_tiny"))
        >>> model.compile()
        >>> model.fit(mlm_nsp_batches(...), steps_per_epoch=100)
    """

    default_learning_rate = 1e-4

    def __init__(self, backbone, **kwargs):
        config = backbone.config
        inputs = {**backbone_inputs(backbone),
                  "mask_positions": keras.Input((None,), dtype="int32", name="mask_positions")}
        # The first token feeds NSP, the masked ones MLM: the last block computes only these rows.
        mask_positions = inputs["mask_positions"]
        rows = backbone.sequence_output(inputs, output_positions=keras.ops.concatenate(
            [keras.ops.zeros_like(mask_positions[:, :1]), mask_positions], axis=1))
        self.mlm_head = MaskedLMHead(
            vocabulary_size=config.vocab_size, token_embedding=backbone.embedding.token_embedding,
            intermediate_activation=ACTIVATION_FUNCTIONS[config.activation],
            layer_norm_epsilon=config.norm_epsilon,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=config.initializer_range),
            dtype=backbone.dtype_policy, name="mlm_head")
        self.nsp_head = keras.layers.Dense(
            2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=config.initializer_range),
            dtype=backbone.dtype_policy, name="nsp_head")
        # MaskedLMHead gathers its rows itself: here they are rows 1..n of `rows`.
        after_first = keras.ops.cumsum(keras.ops.ones_like(mask_positions), axis=1)
        outputs = {"mlm": self.mlm_head(rows, mask_positions=after_first),
                   "nsp": self.nsp_head(backbone.pooler(rows[:, 0, :]))}
        super().__init__(inputs=inputs, outputs=outputs, backbone=backbone, head_config={}, **kwargs)

    def default_loss(self):
        return {"mlm": SparseCrossEntropy(reduction="mean_with_sample_weight"),
                "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}

    def default_weighted_metrics(self):
        return {"mlm": [TokenAccuracy(name="accuracy"), Perplexity()],
                "nsp": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}


@keras.saving.register_keras_serializable(package="kzoo")
class CausalLM(Task):
    """Next-token prediction on a kzoo decoder: `token_ids`, `padding_mask` → vocabulary logits.

    Feed it `kzoo.data.causal_lm_batches` (labels are the inputs shifted by one).

    Example:
        >>> lm = CausalLM(kzoo.build_decoder("gpt2_small"))
        >>> lm.compile(); lm.fit(batches, epochs=1)
    """

    default_learning_rate = 3e-4

    def __init__(self, backbone, **kwargs):
        inputs = backbone_inputs(backbone)
        logits = backbone.logits(backbone(inputs))
        super().__init__(inputs=inputs, outputs=logits, backbone=backbone, head_config={}, **kwargs)

    def default_loss(self):
        return SparseCrossEntropy()

    def default_metrics(self):
        return [Perplexity()]

    def generate(self, prompts, tokenizer, **options):
        """Continues each prompt string; options are `kzoo.generation.GenerationConfig` fields.

        Example: `lm.generate(["To be"], tokenizer, max_new_tokens=20, method="sample", top_p=0.9, seed=0)`.
        """
        from kzoo.generation import Generator

        if getattr(self, "_generator", None) is None or self._generator.tokenizer is not tokenizer:
            self._generator = Generator(self.backbone, tokenizer)
        return self._generator(prompts, **options)
