"""Fuzz every input parser with damaged and hostile files: each case must end in success or a
WebslmError that names the file, never another exception, a hang or a memory blow-up.

Each parser runs for WEBSLM_FUZZ_SECONDS (default 8) from seed WEBSLM_FUZZ_SEED; a failure
prints the seed and case number, and `WEBSLM_FUZZ_SEED=S WEBSLM_FUZZ_CASE=N` replays it alone.
Only headers are parsed (no model is built), so each parser runs thousands of cases.
A handful of failing cases then go through the real `webslm build` CLI (slow).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from mutators import Mutator, safetensors_bytes, split_safetensors
from webslm.errors import WebslmError

FUZZ_SECONDS = float(os.environ.get("WEBSLM_FUZZ_SECONDS", "8"))
FUZZ_SEED = int(os.environ.get("WEBSLM_FUZZ_SEED", "20261202"))
ONLY_CASE = os.environ.get("WEBSLM_FUZZ_CASE")
CASE_SECONDS = 5.0  # a case slower than this is a hang
MIN_CASES = 2000  # each parser gets at least this many cases, however loaded the machine
MAX_RSS_GROWTH_MB = 400  # peak memory a whole fuzz run may add
PARSERS = ("gguf", "safetensors", "config", "tokenizer", "adapter")
STATS: dict[str, dict] = {}


class CaseTimeout(BaseException):
    """Raised by the alarm; a BaseException so parsers' `except Exception` cannot hide it."""


@contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise CaseTimeout(f"case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def fuzz(parser: str, case, budget: float = FUZZ_SECONDS) -> dict:
    """Run case(mutator, index) until the budget is spent; fail on anything but WebslmError."""
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, failures, outcomes = time.monotonic(), [], {"accepted": 0, "refused": 0, "failed": 0}
    indices = [int(ONLY_CASE)] if ONLY_CASE else range(10**9)
    for i in indices:
        if not ONLY_CASE and time.monotonic() - started > budget and i >= MIN_CASES:
            break
        seed = zlib.crc32(f"{FUZZ_SEED}:{parser}:{i}".encode())  # stable across processes
        try:
            try:
                with time_limit(CASE_SECONDS):
                    case(Mutator(seed), i)
            except CaseTimeout:  # a hang happens again; a busy machine's pause does not
                with time_limit(4 * CASE_SECONDS):
                    case(Mutator(seed), i)
            outcomes["accepted"] += 1
        except WebslmError as err:
            outcomes["refused"] += 1
            if not err.fix or not str(err.problem).strip():
                failures.append((i, f"WebslmError without a fix: {err!r}"))
        except (Exception, CaseTimeout) as err:
            outcomes["failed"] += 1
            failures.append((i, "".join(traceback.format_exception_only(err)).strip()[:400]
                             + "\n  at " + traceback.extract_tb(err.__traceback__)[-1].filename
                             + f":{traceback.extract_tb(err.__traceback__)[-1].lineno}"))
        if len(failures) >= 10:
            break
    seconds = time.monotonic() - started
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak_before
    stats = {"cases": sum(outcomes.values()), "seconds": round(seconds, 1), **outcomes, "peak_rss_growth_mb": round(growth)}
    STATS[parser] = stats
    print(f"\nfuzz {parser}: {stats}")
    assert not failures, f"{parser} fuzz (WEBSLM_FUZZ_SEED={FUZZ_SEED}): " + "\n".join(
        f"case {i} (WEBSLM_FUZZ_CASE={i}): {msg}" for i, msg in failures)
    assert growth < MAX_RSS_GROWTH_MB, f"{parser} fuzz grew peak memory by {growth:.0f} MB"
    return stats


@pytest.fixture
def scratch(tmp_path):
    """Where cases are written: memory-backed /dev/shm when there is one (opening files on
    the disk cost ~1 ms each, most of a case)."""
    import tempfile

    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="webslm-fuzz-", dir=shm)) if os.access(shm, os.W_OK) else tmp_path
    yield root
    if root != tmp_path:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def private_cache(scratch, monkeypatch):
    """Staged folders go to a private cache; no case may leave a half-written one there."""
    monkeypatch.setenv("WEBSLM_CACHE", str(scratch / "cache"))
    yield
    assert not list((scratch / "cache").rglob(".partial-*"))


# --- seeds: tiny valid files ---------------------------------------------------------------
TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "c", "\n", "user", "assistant",
          "system", "Ġhi", "Ġthere"]
SMOL_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                 "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
                 "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
                 "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|im_start|>assistant\n' }}{% endif %}")
CONFIG = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=8, intermediate_size=16,
              num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, vocab_size=len(TOKENS),
              rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=64,
              tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)


def tokenizer_json() -> dict:
    vocab = {t: i for i, t in enumerate(TOKENS)}
    return {"version": "1.0", "added_tokens": [{"id": i, "content": t, "special": True}
                                               for i, t in enumerate(TOKENS[:3])],
            "model": {"type": "BPE", "vocab": vocab, "merges": ["Ġ h", "Ġh i"]}}


def tokenizer_config(template: str | None = SMOL_TEMPLATE) -> dict:
    cfg = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "model_max_length": 64}
    return {**cfg, "chat_template": template} if template is not None else cfg


def model_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"model.embed_tokens.weight": rng.standard_normal((len(TOKENS), 8), dtype=np.float32),
            "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((8, 8)).astype(np.float16),
            "model.layers.0.input_layernorm.weight": np.ones(8, np.float32),
            "model.norm.weight": np.ones(8, np.float32),
            "lm_head.weight": rng.standard_normal((len(TOKENS), 8), dtype=np.float32)}


def write_model_dir(root: Path, weights: bytes | None = None) -> Path:
    from safetensors.numpy import save

    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(CONFIG))
    (root / "tokenizer.json").write_text(json.dumps(tokenizer_json()))
    (root / "tokenizer_config.json").write_text(json.dumps(tokenizer_config()))
    (root / "model.safetensors").write_bytes(weights or save(model_tensors()))
    return root


def gguf_seed(path: Path, *, big_endian: bool = False, alignment: int | None = None) -> Path:
    import gguf

    endian = gguf.GGUFEndian.BIG if big_endian else gguf.GGUFEndian.LITTLE
    w = gguf.GGUFWriter(path, "llama", endianess=endian)
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_block_count(1)
    w.add_embedding_length(32)
    w.add_head_count(2)
    w.add_context_length(64)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(TOKENS)
    w.add_token_types([1] * len(TOKENS))
    w.add_bool("fuzz.flag", True)
    w.add_array("fuzz.nested", [[1, 2], [3]])
    w.add_chat_template(SMOL_TEMPLATE)
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((len(TOKENS), 32), dtype=np.float32))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(32, np.float16))
    q8 = gguf.quantize(rng.standard_normal((4, 64), dtype=np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def int_fields(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of every integer in a GGUF header: counts, lengths, dims, types, offsets."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    fields = list(reader.fields.values()) + [t.field for t in reader.tensors]
    found = []
    for field in fields:
        offset = field.offset
        for part in field.parts:
            if part.dtype.kind in "iu" and part.nbytes in (4, 8) and part.size == 1:
                found.append((offset, part.nbytes))
            offset += part.nbytes
    return found


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("seeds")
    ggufs = [gguf_seed(root / "le.gguf"), gguf_seed(root / "be.gguf", big_endian=True),
             gguf_seed(root / "a64.gguf", alignment=64)]
    return {"gguf": [(p.read_bytes(), int_fields(p)) for p in ggufs]}


def real_gguf_header() -> tuple[bytes, int] | None:
    """SmolLM2's real header bytes (~1.8 MB of 98 MB) and the file size, if installed."""
    from webslm.source.bundled import smollm2_gguf_path
    from webslm.source.gguf_header import read_gguf_header

    try:
        path = smollm2_gguf_path()
    except WebslmError:
        return None
    with open(path, "rb") as f:
        return f.read(read_gguf_header(path).data_start), path.stat().st_size


# --- the parsers ---------------------------------------------------------------------------
def test_fuzz_gguf(seeds, scratch):
    from webslm.source.gguf import open_gguf_reader
    from webslm.source.gguf_header import gguf_architecture, read_gguf_header

    path, real = scratch / "case.gguf", real_gguf_header()

    def case(m: Mutator, i: int):
        if real and i % 40 == 7:  # the real header: slow to walk (10^5 strings), so 1 case in 40
            header, size = real
            with open(path, "wb") as f:
                f.write(m.mutate_bytes(header, [(8, 8), (16, 8), (4, 4)]))
                if m.rng.random() < 0.8:
                    f.truncate(size)  # a sparse file: the tensor data reads as zeros
            gguf_architecture(read_gguf_header(path), path)
            return
        data, fields = m.rng.choice(seeds["gguf"])
        path.write_bytes(m.mutate_bytes(data, fields))
        header = read_gguf_header(path)
        gguf_architecture(header, path)
        reader = open_gguf_reader(path)
        assert [t.name for t in reader.tensors] == [t.name for t in header.tensors]
        for t in reader.tensors:  # every tensor the header accepted lies inside the file
            assert int(t.data_offset) + int(t.n_bytes) <= path.stat().st_size

    fuzz("gguf", case)


def test_fuzz_safetensors(scratch):
    from webslm.source.safetensors_dir import open_model_dir

    root = write_model_dir(scratch / "model")
    seed = (root / "model.safetensors").read_bytes()
    header, data = split_safetensors(seed)

    def case(m: Mutator, i: int):
        if m.rng.random() < 0.5:
            blob = m.mutate_bytes(seed, [(0, 8)])
        else:
            blob = safetensors_bytes(m.mutate_json(header), data, m.rng)
        (root / "model.safetensors").write_bytes(blob)
        source = open_model_dir(root)
        for name in source.tensor_names():
            assert source.tensor_shape(name) == tuple(source.get_tensor(name).shape)

    fuzz("safetensors", case)


def test_fuzz_config(scratch):
    from webslm.source.safetensors_dir import open_model_dir

    single = write_model_dir(scratch / "single")
    sharded = write_model_dir(scratch / "sharded")
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00001.safetensors")
    index = {"metadata": {}, "weight_map": {n: "model-00001-of-00001.safetensors" for n in model_tensors()}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))

    from webslm.source.config import normalize_config

    # warm up: without these keys normalize_config imports transformers' Llama classes (seconds,
    # taken off this test's budget so it stays under ~10 s)
    started = time.monotonic()
    normalize_config({k: v for k, v in CONFIG.items() if k not in ("architectures", "tie_word_embeddings")})
    budget = max(2.0, FUZZ_SECONDS - (time.monotonic() - started))

    def case(m: Mutator, i: int):
        if m.rng.random() < 0.25:
            root, name, value = sharded, "model.safetensors.index.json", index
        else:
            root, name, value = single, "config.json", CONFIG
        (root / name).write_bytes(m.json_bytes(m.mutate_json(value)))
        try:
            source = open_model_dir(root)
        finally:
            (root / name).write_text(json.dumps(value))
        assert source.config["vocab_size"] * source.config["hidden_size"] <= 2**40

    fuzz("config", case, budget)


def test_fuzz_tokenizer(scratch):
    from webslm.artifacts.conv_templates import detect_chat_format, load_vocab
    from webslm.source.tokenizer import prepare_tokenizer_dir

    snippets = ("{{", "}}", "{%", "%}", "{% endfor %}", "{% if %}", "{{ messages }}", "{{ bos_token }}",
                "{{ ''.__class__.__mro__ }}", "{{ 'x' * 10**9 }}", "{% for i in range(10**9) %}",
                "{{ raise_exception('no') }}", "{{ messages[0]['content'] * 100000 }}",
                "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "{{ 'a'|center(10**9) }}",
                "{{ x.y.z }}", "{{ (1, 2)|tojson(indent=10**8) }}", "{% set ns = namespace(a='x') %}",
                "{{ '%99999999s' % 1 }}", "{{ '{:>999999999}'.format(1) }}", "{{ strftime_now('%Y') }}")
    layouts = {"inline": {"tokenizer_config.json": tokenizer_config()},
               "jinja": {"tokenizer_config.json": tokenizer_config(None), "chat_template.jinja": SMOL_TEMPLATE},
               "json": {"tokenizer_config.json": tokenizer_config(None),
                        "chat_template.json": {"chat_template": SMOL_TEMPLATE}}}
    dirs = {}
    for layout, files in layouts.items():
        d = dirs[layout] = scratch / layout
        d.mkdir()
        files["tokenizer.json"] = tokenizer_json()

    def case(m: Mutator, i: int):
        layout = m.rng.choice(sorted(layouts))
        d, files = dirs[layout], layouts[layout]
        target = m.rng.choice(sorted(files))
        for name, value in files.items():
            if name == target:
                text = (m.mutate_text(value, snippets) if isinstance(value, str)
                        else m.json_bytes(m.mutate_json(value)).decode("utf-8", "replace"))
                if isinstance(value, str) and m.rng.random() < 0.05:
                    (d / name).write_bytes(text.encode()[:-1] + b"\xff")  # not UTF-8
                    continue
            else:
                text = value if isinstance(value, str) else json.dumps(value)
            (d / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        tok_dir = prepare_tokenizer_dir(d)
        load_vocab(tok_dir)
        detect_chat_format(tok_dir)

    fuzz("tokenizer", case)


def adapter_tensors() -> dict:
    import torch

    g = torch.Generator().manual_seed(0)
    prefix = "base_model.model.model.layers.0.self_attn."
    return {f"{prefix}q_proj.lora_A.weight": torch.randn(2, 8, generator=g),
            f"{prefix}q_proj.lora_B.weight": torch.randn(8, 2, generator=g),
            f"{prefix}v_proj.lora_A.weight": torch.randn(2, 8, generator=g).half(),
            f"{prefix}v_proj.lora_B.weight": torch.randn(4, 2, generator=g).half()}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # damaged .bin files say so
def test_fuzz_adapter(scratch):
    import torch
    from safetensors.torch import save

    from webslm.source.adapter import read_adapter

    adapter_cfg = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"],
                   "base_model_name_or_path": "tiny", "alpha_pattern": {"v_proj": 8}, "use_rslora": False}
    st_dir, bin_dir = scratch / "st", scratch / "bin"
    st_seed = save(adapter_tensors())
    header, data = split_safetensors(st_seed)
    for d in (st_dir, bin_dir):
        d.mkdir()
        (d / "adapter_config.json").write_text(json.dumps(adapter_cfg))
    torch.save(adapter_tensors(), bin_dir / "adapter_model.bin")
    bin_seed = (bin_dir / "adapter_model.bin").read_bytes()

    def case(m: Mutator, i: int):
        roll = m.rng.random()
        d = bin_dir if roll > 0.85 else st_dir
        (d / "adapter_config.json").write_text(json.dumps(adapter_cfg))
        if roll < 0.35:
            (d / "adapter_config.json").write_bytes(m.json_bytes(m.mutate_json(adapter_cfg)))
            (d / "adapter_model.safetensors").write_bytes(st_seed)
        elif roll < 0.6:
            (d / "adapter_model.safetensors").write_bytes(m.mutate_bytes(st_seed, [(0, 8)]))
        elif roll <= 0.85:
            (d / "adapter_model.safetensors").write_bytes(safetensors_bytes(m.mutate_json(header), data, m.rng))
        else:
            (d / "adapter_model.bin").write_bytes(m.mutate_bytes(bin_seed))
        adapter = read_adapter(d)
        adapter.summary()
        for low_rank in adapter.low_rank.values():
            low_rank.delta()

    fuzz("adapter", case)


# --- through the real CLI ------------------------------------------------------------------
def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def cli_cases(root: Path, seeds: dict) -> dict[str, tuple[list[str], str]]:
    """name -> (webslm build arguments, a text the error must contain)."""
    import struct

    src = root / "src"
    src.mkdir()
    data = bytearray(seeds["gguf"][0][0])
    data[8:16] = struct.pack("<Q", 2**62)  # tensor count
    (src / "count.gguf").write_bytes(bytes(data))
    (src / "short.gguf").write_bytes(seeds["gguf"][0][0][:200])
    huge = write_model_dir(src / "huge_header")
    blob = (huge / "model.safetensors").read_bytes()
    (huge / "model.safetensors").write_bytes(struct.pack("<Q", 2**63) + blob[8:])
    vocab = write_model_dir(src / "vocab")
    (vocab / "config.json").write_text(json.dumps({**CONFIG, "vocab_size": 10**9}))
    escape = write_model_dir(src / "escape")
    (escape / "tokenizer_config.json").write_text(json.dumps(tokenizer_config("{{ ''.__class__.__mro__ }}")))
    bomb = write_model_dir(src / "bomb")  # 3.6 GB in one replace: the child's memory limit stops it
    (bomb / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(
        "{% set a='x'*60000 %}{{ (a|replace('x',a))|length }}")))
    adapter = src / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "lora_alpha": "lots"}')
    return {"count.gguf": ([str(src / "count.gguf")], "count.gguf"),
            "short.gguf": ([str(src / "short.gguf")], "short.gguf"),
            "huge_header": ([str(huge)], "model.safetensors"),
            "vocab": ([str(vocab)], "vocab_size"),
            "escape": ([str(escape), "--q0f32"], "chat template"),
            "bomb": ([str(bomb), "--q0f32"], "MiB of memory"),
            "adapter": ([str(adapter)], "lora_alpha")}


@pytest.mark.slow
def test_failing_cases_through_the_cli(seeds, tmp_path):
    """Exit code 2, the message on stderr, no traceback, nothing written anywhere but the
    (still empty) --out and no half-written cache entry."""
    cases = cli_cases(tmp_path, seeds)
    env = {**os.environ, "WEBSLM_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path / "home"),
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    (tmp_path / "home").mkdir()
    before = tree(tmp_path)
    procs = {}
    for name, (args, _) in cases.items():  # all at once: each pays ~5 s of imports
        out = tmp_path / f"out-{name}"
        procs[name] = subprocess.Popen([sys.executable, "-m", "webslm.cli", "build", *args, "--out", str(out)],
                                       cwd=tmp_path / "home", env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        expected = cases[name][1]
        assert proc.returncode == 2, (name, proc.returncode, stderr[-2000:])
        assert "webslm: error:" in stderr and "fix:" in stderr and expected in stderr, (name, stderr)
        assert "Traceback" not in stderr + stdout, (name, stderr)
    written = tree(tmp_path) - before
    outside = {p for p in written if not p.startswith(("out-", "cache"))}
    assert not outside, f"written outside --out: {sorted(outside)}"
    in_out = {p for p in written if p.startswith("out-") and "/" in p}  # an empty --out may exist
    assert not in_out, f"left in --out: {sorted(in_out)}"
    assert not [p for p in written if ".partial" in p]


def test_mutations_never_edit_the_extreme_values_table():
    """Every edit works on a copy: a shared [] or {} edited in place grew case after case until
    it held itself, and late cases then failed in json.dumps (a circular reference), not in
    the parser under test."""
    from mutators import EXTREME_JSON

    before = repr(EXTREME_JSON)
    config = {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj", "v_proj"]}
    for case in range(500):
        Mutator(case).mutate_json(config)
    assert repr(EXTREME_JSON) == before
