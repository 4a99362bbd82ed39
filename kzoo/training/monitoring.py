"""TensorBoard beyond Keras's own scalars: learning rate, tokens/s, MFU, and decoder text samples."""

import time

import keras
import tensorflow as tf


def training_flops_per_token(config, sequence_length, head_fraction=1.0) -> float:
    """Model FLOPs per trained token: 6 × dense weights + attention scores, counting what the outputs
    need. With `head_fraction` < 1 (MLM: max_predictions / length) the vocabulary projection runs on
    that fraction of the tokens, and the last block's queries, output projection and feed-forward
    network on it plus the first token, as in `MaskedLMPretrainer`."""
    c, d, s = config, config.hidden_size, sequence_length
    rows = 1.0 if head_fraction >= 1 else head_fraction + 1 / s
    queries, keys = c.num_heads * c.attention_head_size, c.kv_heads * c.attention_head_size
    ffn = (3 if c.feed_forward == "gated" else 2) * d * c.intermediate_size

    def block(fraction):  # keys and values for every token, the rest for `fraction` of them
        return 2 * d * keys + fraction * (2 * d * queries + ffn + 2 * s * queries)

    layers = (config.num_layers - 1) * block(1.0) + block(rows)
    return 6 * layers + 6 * d * config.vocab_size * head_fraction


class TrainingScalars(keras.callbacks.Callback):
    """Writes `learning_rate`, `tokens_per_second`, `gradient_norm` (global, before clipping, with
    kzoo's optimizer) and, given the FLOPs, `mfu` (model FLOPs utilisation) to `log_dir/train`
    every `every` steps.

    `tokens_per_batch` is batch size × sequence length; `flops_per_token` comes from
    `training_flops_per_token` and `peak_flops` from `kzoo.training.peak.matmul_peak_flops`
    for the precision that runs.
    """

    def __init__(self, log_dir, tokens_per_batch, every=10, flops_per_token=None, peak_flops=None):
        super().__init__()
        self.writer = tf.summary.create_file_writer(f"{log_dir}/train")
        self.tokens_per_batch, self.every = tokens_per_batch, every
        self.flops_per_token, self.peak_flops = flops_per_token, peak_flops
        self.start = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every:
            return
        elapsed = time.perf_counter() - self.start
        tokens_per_second = self.every * self.tokens_per_batch / max(elapsed, 1e-9)
        with self.writer.as_default(step=step):
            tf.summary.scalar(
                "learning_rate",
                float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            )
            tf.summary.scalar("tokens_per_second", tokens_per_second)
            norm = getattr(
                self.model.optimizer, "gradient_norm", None
            )  # kzoo's optimizer keeps it
            norm = getattr(
                getattr(self.model.optimizer, "inner_optimizer", None), "gradient_norm", norm
            )
            if norm is not None:
                tf.summary.scalar("gradient_norm", float(keras.ops.convert_to_numpy(norm)))
            if self.flops_per_token and self.peak_flops:
                tf.summary.scalar(
                    "mfu", tokens_per_second * self.flops_per_token / self.peak_flops
                )
        self.writer.flush()
        self.start = time.perf_counter()


class TextSamples(keras.callbacks.Callback):
    """Writes what a `CausalLM` generates from `prompts` (greedy) to TensorBoard's text tab every
    `every` steps, so a decoder's progress can be read, not just plotted."""

    def __init__(
        self, log_dir, tokenizer, prompts, every=100, max_new_tokens=32, end_token_id=None
    ):
        super().__init__()
        self.writer = tf.summary.create_file_writer(f"{log_dir}/samples")
        self.tokenizer, self.prompts, self.every = tokenizer, list(prompts), every
        self.options = {"max_new_tokens": max_new_tokens, "end_token_id": end_token_id}

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every:
            return
        samples = self.model.generate(self.prompts, self.tokenizer, **self.options)
        with self.writer.as_default(step=step):
            tf.summary.text(
                "samples", tf.constant([f"**{p}** → {s}" for p, s in zip(self.prompts, samples)])
            )
        self.writer.flush()
