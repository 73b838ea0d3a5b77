"""The f16 range check of `webslm verify`: the largest activation an f16 build stores, measured
in f32 by transformers, against f16's largest finite value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from webslm.verify.f16_range import F16_MAX, long_prompt, measure_f16_range


def test_a_residual_stream_past_65504_is_reported_at_its_layer(tiny_llama_factory):
    model = tiny_llama_factory()
    ids = list(range(1, 40))
    calm = measure_f16_range(model, ids)
    assert calm.fits and not calm.overflowing()
    with torch.no_grad():  # the first block's MLP writes huge values into the residual stream
        model.model.layers[0].mlp.down_proj.weight.mul_(1e5)
    hot = measure_f16_range(model, ids)
    assert {"model.layers.0", "model.layers.0.mlp.down_proj"} <= set(hot.overflowing())
    assert "model.embed_tokens" not in hot.overflowing()
    assert not hot.fits and "OVERFLOWS" in hot.line()
    # what f16 storage would do to that block's output: inf, the start of NaN logits
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[1]
    assert np.isinf(out.numpy().astype(np.float16)).any()
    assert float(out.abs().max()) == pytest.approx(hot.largest["model.layers.0"], rel=1e-6)


@pytest.mark.slow
def test_smollm2_fits_f16_over_its_whole_context(smollm2):
    """Real weights, 2,048 tokens (the build's context): the largest activation is the
    residual stream's, about a third of f16's range (docs/RELIABILITY.md)."""
    model = smollm2.load_reference_model()
    ids = long_prompt(smollm2.tokenizer_dir, 2048)
    found = measure_f16_range(model, ids)
    assert len(ids) == found.tokens == 2048
    # the hooks see what transformers' own hidden states hold (layer i's output is state i+1)
    with torch.no_grad():
        states = model(input_ids=torch.tensor([ids[:256]]), output_hidden_states=True).hidden_states
    short = measure_f16_range(model, ids[:256])
    for i in range(len(states) - 2):  # the last state is after the final norm
        assert short.largest[f"model.layers.{i}"] == pytest.approx(float(states[i + 1].abs().max()), rel=1e-5)
    site, value = found.worst
    assert site.startswith("model.layers.") and 10_000 < value < F16_MAX / 2, found.line()
    assert found.fits
