"""`webslm eval`: perplexity of a build's CPU twin, checked against transformers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from webslm.cli import main
from webslm.errors import WebslmError
from webslm.quantize.schemes import get_scheme
from webslm.verify.perplexity import (DEFAULT_TEXT, negative_log_likelihoods, perplexity_of,
                                      text_token_ids, windows)


def test_nll_equals_torch_cross_entropy():
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((7, 50)) * 30).astype(np.float32)  # large: needs the max shift
    targets = rng.integers(0, 50, 7).tolist()
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits).double(), torch.tensor(targets), reduction="none").numpy()
    np.testing.assert_allclose(negative_log_likelihoods(logits, targets), expected, rtol=1e-12)


def test_windows_drop_only_a_useless_tail():
    assert windows(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert windows(list(range(9)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_uniform_logits_give_the_vocabulary_size():
    assert perplexity_of(lambda w: np.zeros((len(w) - 1, 32)), [[1, 2, 3], [4, 5]]) == \
        pytest.approx(32)


def test_eval_text_is_a_few_thousand_tokens(smollm2):
    ids = text_token_ids(smollm2.tokenizer_dir, DEFAULT_TEXT, None)
    assert 2500 < len(ids) < 6000


def test_missing_text_is_named(smollm2, tmp_path):
    with pytest.raises(WebslmError, match="does not exist") as err:
        text_token_ids(smollm2.tokenizer_dir, tmp_path / "nope.txt", None)
    assert "--text" in err.value.fix


def test_eval_rejects_a_non_artifact(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "webslm-manifest.json" in capsys.readouterr().err


@pytest.mark.slow
def test_twin_perplexity_equals_transformers_on_the_stored_weights(smollm2_artifact, tmp_path,
                                                                    capsys):
    """The CLI's number for the q4 build equals transformers run on the dequantized stored
    weights; the source number equals transformers on the source weights."""
    from webslm.verify.reference import load_weights_into, stored_as_hf, teacher_forced_logits
    from webslm.verify.twin import load_cpu_twin

    out = tmp_path / "eval.json"
    assert main(["eval", str(smollm2_artifact), "--max-tokens", "96", "--window", "48",
                 "--json", str(out)]) == 0
    (report,) = json.loads(out.read_text())
    assert report["quantization"] == "q4f32_asym" and report["tokens"] == 94
    assert "q4f32_asym" in capsys.readouterr().out

    twin = load_cpu_twin(smollm2_artifact)
    chunks = windows(text_token_ids(smollm2_artifact, DEFAULT_TEXT, 96), 48)
    model = twin.source.load_reference_model()
    score = lambda: perplexity_of(lambda w: teacher_forced_logits(model, w)[:-1], chunks)  # noqa
    assert report["source_perplexity"] == pytest.approx(score(), rel=1e-9)
    hf_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    load_weights_into(model, stored_as_hf(twin.stored, twin.compiled.params, twin.arch.weight_map,
                                          hf_shapes, get_scheme(twin.quantization)))
    assert report["perplexity"] == pytest.approx(score(), rel=1e-4)
    assert math.isclose(report["increase"], report["perplexity"] / report["source_perplexity"] - 1)
    # Issue 6's target is within 10% of the source; q4f32_asym stores the source's own weights
    # (tests/pipeline/test_build_smollm2.py), so only arithmetic separates the two.
    assert abs(report["increase"]) < 1e-3
