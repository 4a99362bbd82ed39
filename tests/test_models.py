"""Invariances of the backbones: padding, causality, cached decoding, serialization."""

import keras
import numpy as np
import pytest

import kzoo


def _encoder_inputs(ids, mask):
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


def test_padding_never_changes_real_positions_encoder(encoder_config, rng):
    model = kzoo.build_encoder(encoder_config)
    ids = rng.integers(1, 97, (2, 6)).astype("int32")
    short = model(_encoder_inputs(ids, np.ones_like(ids)))
    padded_ids = np.concatenate([ids, rng.integers(1, 97, (2, 4)).astype("int32")], axis=1)
    mask = np.concatenate([np.ones((2, 6)), np.zeros((2, 4))], axis=1).astype("int32")
    padded = model(_encoder_inputs(padded_ids, mask))
    np.testing.assert_allclose(padded["sequence_output"][:, :6], short["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(padded["pooled_output"], short["pooled_output"], atol=1e-5)


def test_left_padding_never_changes_real_positions_decoder(decoder_config, rng):
    model = kzoo.build_decoder(decoder_config)
    ids = rng.integers(1, 97, (1, 5)).astype("int32")
    alone = model.logits(model({"token_ids": ids, "padding_mask": np.ones_like(ids)}))
    padded_ids = np.concatenate([[[7, 7, 7]], ids], axis=1).astype("int32")
    mask = np.array([[0, 0, 0, 1, 1, 1, 1, 1]], "int32")
    padded = model.logits(model({"token_ids": padded_ids, "padding_mask": mask}))
    np.testing.assert_allclose(padded[:, 3:], alone, atol=1e-5)


def test_future_tokens_never_change_earlier_logits(decoder_config, rng):
    model = kzoo.build_decoder(decoder_config)
    ids = rng.integers(1, 97, (1, 8)).astype("int32")
    changed = ids.copy()
    changed[0, 5:] = (changed[0, 5:] + 1) % 97
    logits = [model.logits(model({"token_ids": x, "padding_mask": np.ones_like(x)})) for x in (ids, changed)]
    np.testing.assert_allclose(logits[0][:, :5], logits[1][:, :5], atol=1e-6)
    assert np.abs(np.asarray(logits[0][:, 5:]) - np.asarray(logits[1][:, 5:])).max() > 1e-3


def test_bidirectional_encoder_does_see_future_tokens(encoder_config, rng):
    model = kzoo.build_encoder(encoder_config)
    ids = rng.integers(1, 97, (1, 8)).astype("int32")
    changed = ids.copy()
    changed[0, -1] = (changed[0, -1] + 1) % 97
    a, b = (model(_encoder_inputs(x, np.ones_like(x)))["sequence_output"] for x in (ids, changed))
    assert np.abs(np.asarray(a[:, 0]) - np.asarray(b[:, 0])).max() > 1e-4


def test_cached_steps_equal_full_forward(decoder_config, rng):
    model = kzoo.build_decoder(decoder_config)
    ids = rng.integers(1, 97, (2, 9)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, :2] = 0  # the second row is left-padded
    full = model.logits(model({"token_ids": ids, "padding_mask": mask}))
    cache = model.init_cache(2, 12)
    cache_mask = np.concatenate([mask, np.ones((2, 3), "int32")], axis=1)
    prefill, _, cache = model.call_with_cache(ids[:, :4], cache_mask, cache, 0)
    steps = [prefill]
    for i in range(4, 9):
        step, _, cache = model.call_with_cache(ids[:, i:i + 1], cache_mask, cache, i)
        steps.append(step)
    np.testing.assert_allclose(np.concatenate(steps, axis=1)[mask == 1], np.asarray(full)[mask == 1],
                               atol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_in_place_cache_writes_equal_slice_updates_in_a_compiled_loop(jit_compile, rng):
    import tensorflow as tf

    from kzoo.layers.kv_cache import write_cache

    updates = rng.normal(size=(5, 6, 1, 4)).astype("float32")  # 5 steps of (batch · heads, 1, size)
    start = rng.normal(size=(6, 7, 4)).astype("float32")

    @tf.function(jit_compile=jit_compile)
    def loop(cache):
        cache = write_cache(cache, tf.zeros((6, 2, 4)), 0)  # a copy the loop owns
        body = lambda i, c: (i + 1, write_cache(c, tf.gather(updates, i), i + 2, in_place=True))  # noqa: E731
        return tf.while_loop(lambda i, c: i < 5, body, (0, cache))[1]

    expected = start.copy()
    expected[:, :2] = 0
    expected[:, 2:] = updates[:, :, 0].transpose(1, 0, 2)
    before = start.copy()
    np.testing.assert_array_equal(loop(tf.constant(start)), expected)
    np.testing.assert_array_equal(loop(tf.constant(start)), expected)  # nothing leaks between calls
    np.testing.assert_array_equal(start, before)
    graph = loop.get_concrete_function(tf.constant(start)).graph.as_graph_def()
    ops_used = {node.op for f in graph.library.function for node in f.node_def}
    assert ("InplaceUpdate" in ops_used) is not jit_compile  # XLA has no kernel for it


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_save_and_load_in_safe_mode_gives_identical_outputs(kind, encoder_config, decoder_config,
                                                            tmp_path, rng):
    model = (kzoo.build_encoder(encoder_config, dropout=0.1) if kind == "encoder"
             else kzoo.build_decoder(decoder_config))
    ids = rng.integers(1, 97, (2, 5)).astype("int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    if kind == "encoder":
        inputs["segment_ids"] = np.zeros_like(ids)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model) and loaded.config == model.config
    for new, old in zip(keras.tree.flatten(loaded(inputs)), keras.tree.flatten(model(inputs))):
        np.testing.assert_array_equal(new, old)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in loaded._flatten_layers())


def test_builders_reject_the_other_family(decoder_config):
    with pytest.raises(ValueError, match="use build_decoder"):
        kzoo.build_encoder(decoder_config)


def test_summary_names_the_layers():
    lines = []
    kzoo.build_encoder("bert_tiny").summary(print_fn=lines.append)
    text = "\n".join(lines)
    for name in ("embedding", "block_0", "block_1", "pooler", "4,385,920"):
        assert name in text


def test_query_positions_are_refused_for_causal_attention(decoder_config):
    decoder = kzoo.build_decoder(decoder_config)
    x = keras.ops.ones((1, 4, decoder.config.hidden_size))
    with pytest.raises(ValueError, match="bidirectional attention"):
        decoder.blocks[0](x, keras.ops.ones((1, 4)), query_positions=keras.ops.zeros((1, 2), "int32"))


def test_tied_projection_gradient_equals_keras_hub_reversible_embedding(rng):
    import tensorflow as tf
    from keras_hub.layers import ReversibleEmbedding

    from kzoo.layers.embedding import TokenEmbedding
    reference, ours = ReversibleEmbedding(50, 8), TokenEmbedding(50, 8)
    reference.build((None,))
    ours.build((None,))
    ours.set_weights(reference.get_weights())
    hidden = tf.constant(rng.normal(size=(2, 3, 8)).astype("float32"))
    weights = tf.constant(rng.normal(size=(2, 3, 50)).astype("float32"))
    results = []
    for layer in (reference, ours):
        with tf.GradientTape() as tape:
            tape.watch(hidden)
            logits = layer(hidden, reverse=True)
            loss = tf.reduce_sum(logits * weights)
        results.append([logits, *tape.gradient(loss, [hidden, layer.embeddings])])
    for expected, actual in zip(*results):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(results[1][2])).max() > 0.1


def _values_and_gradients(fn, *inputs):
    """fn(*inputs) and the gradients of sum(fn(*inputs) * fixed weights) for each input."""
    import tensorflow as tf

    inputs = [tf.constant(v, tf.float32) for v in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = fn(*inputs)
        loss = tf.reduce_sum(y * tf.reshape(tf.sin(tf.range(tf.size(y), dtype=tf.float32) + 1.0), tf.shape(y)))
    return [np.asarray(y), *(np.asarray(g) for g in tape.gradient(loss, inputs))]


def _xla_compiled_calls(fn):
    """How many XLA-compiled function calls the graph traced from `fn()` holds."""
    import tensorflow as tf

    graph = tf.function(fn).get_concrete_function().graph
    return sum(op.node_def.attr["_XlaMustCompile"].b for op in graph.get_operations())


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh"])
def test_gelu_forms_and_their_gradients_equal_keras_gelu(name):
    from kzoo.layers.backend import xla_fused
    from kzoo.layers.transformer_block import ACTIVATION_FUNCTIONS

    x = np.linspace(-8, 8, 401).astype("float32")
    expected = _values_and_gradients(lambda v: keras.activations.gelu(v, approximate=name == "gelu_tanh"), x)
    for activation in (ACTIVATION_FUNCTIONS[name], xla_fused(ACTIVATION_FUNCTIONS[name])):
        # 2e-6 apart at most: XLA's tanh is its own float32 approximation, and for x < -4
        # 1 + tanh(u) cancels to a few digits in either.
        for want, got in zip(expected, _values_and_gradients(activation, x)):
            np.testing.assert_allclose(got, want, atol=3e-6)
    assert expected[1].min() < -0.1 and expected[1].max() > 1.05  # the dip and overshoot are covered


def test_layer_norm_trains_fused_and_equals_keras_layer_normalization(rng):
    from kzoo.layers import LayerNorm

    x = (rng.normal(size=(3, 5, 16)) * 3 + 1).astype("float32")
    gamma, beta = rng.normal(size=(2, 16)).astype("float32")
    layers = {"keras": keras.layers.LayerNormalization(epsilon=1e-5), "kzoo": LayerNorm(epsilon=1e-5)}
    results = {}
    for name, layer in layers.items():
        layer.build(x.shape)
        layer.set_weights([gamma, beta])
        results[name] = _values_and_gradients(
            lambda *tensors, layer=layer: _call_with_weights(layer, *tensors), x, gamma, beta)
    for want, got in zip(results["keras"], results["kzoo"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(results["keras"][2]).max() > 0.1  # gamma's gradient is not trivially zero
    norm = layers["kzoo"]
    assert _xla_compiled_calls(lambda: norm(x, training=True)) == 1
    assert _xla_compiled_calls(lambda: norm(x, training=False)) == 0  # what exports trace


def _call_with_weights(layer, x, gamma, beta):
    """layer(x, training=True) with its gamma and beta replaced by the tensors given (for gradients)."""
    with keras.StatelessScope(state_mapping=[(layer.gamma, gamma), (layer.beta, beta)]):
        return layer(x, training=True)


@pytest.mark.parametrize("family", ["bert_tiny", "llama_tiny"])
def test_only_training_calls_of_a_block_run_xla_kernels(family):
    from kzoo.layers import TransformerBlock

    block = TransformerBlock(kzoo.resolve_config(family, hidden_size=8, num_heads=2,
                                                 num_kv_heads=None, intermediate_size=32))
    x, mask = np.ones((1, 4, 8), "float32"), np.ones((1, 4), "int32")
    block(x, mask)
    # Two norms (LayerNorm or RMSNorm) and the activation (GELU, or SwiGLU) compile with XLA.
    assert _xla_compiled_calls(lambda: block(x, mask, training=True)) == 3
    assert _xla_compiled_calls(lambda: block(x, mask)) == 0  # what generation and exports trace


def test_rms_norm_trains_fused_and_equals_its_definition(rng):
    from kzoo.layers import RMSNorm

    x = (rng.normal(size=(3, 5, 16)) * 3 + 1).astype("float32")
    scale = rng.normal(size=16).astype("float32")
    norm = RMSNorm(epsilon=1e-5)
    norm.build(x.shape)

    def fused(x, scale):
        with keras.StatelessScope(state_mapping=[(norm.scale, scale)]):
            return norm(x, training=True)

    def reference(x, scale):  # Llama's RMSNorm, written out
        return x * keras.ops.rsqrt(keras.ops.mean(x * x, axis=-1, keepdims=True) + 1e-5) * scale

    for want, got in zip(_values_and_gradients(reference, x, scale),
                         _values_and_gradients(fused, x, scale)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert _xla_compiled_calls(lambda: norm(x, training=True)) == 1
    assert _xla_compiled_calls(lambda: norm(x, training=False)) == 0


def test_fused_swiglu_and_its_gradient_equal_the_written_out_form(rng):
    from kzoo.layers.backend import xla_fused
    from kzoo.layers.transformer_block import feed_forward_activation

    h = (rng.normal(size=(4, 2 * 24)) * 3).astype("float32")
    swiglu = feed_forward_activation("gated", "silu")
    reference = lambda h: keras.ops.silu(h[:, :24]) * h[:, 24:]  # noqa: E731
    for function in (swiglu, xla_fused(swiglu)):
        for want, got in zip(_values_and_gradients(reference, h),
                             _values_and_gradients(function, h)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dense_equals_keras_dense_and_keeps_its_one_row_product_apart_under_xla(rng):
    import tensorflow as tf

    from kzoo.layers.dense import Dense

    x = rng.normal(size=(1, 1, 64)).astype("float32")
    layers = {"keras": keras.layers.Dense(256, activation="relu"), "kzoo": Dense(256, activation="relu")}
    fused, gradients = {}, {}
    for name, layer in layers.items():
        layer.build(x.shape)
        layer.set_weights([rng.normal(size=(64, 256)).astype("float32"), rng.normal(size=256).astype("float32")]
                          if name == "keras" else layers["keras"].get_weights())

        @tf.function(jit_compile=True)
        def call_and_gradient(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
                loss = tf.reduce_sum(y ** 2)
            return y, tape.gradient(loss, x)

        y, gradients[name] = call_and_gradient(tf.constant(x))
        np.testing.assert_allclose(y, layers["keras"](x), rtol=1e-5, atol=1e-5)
        hlo = tf.function(layer, jit_compile=True).experimental_get_compiler_ir(x)(stage="optimized_hlo")
        fused[name] = "dot_add_fusion" in hlo
    # XLA:CPU runs a product fused with its bias add on one core (kzoo.layers.backend.unfused_product).
    assert fused == {"keras": True, "kzoo": False}
    np.testing.assert_allclose(gradients["kzoo"], gradients["keras"], rtol=1e-5)  # the barrier passes gradients
    assert np.abs(gradients["keras"]).max() > 1
