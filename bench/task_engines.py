"""Which CPU engine is fastest for each task: wllama (llama.cpp in WASM, the build's Q8_0
GGUF) against transformers.js on WASM (the q8 ONNX model), each run through webslm.js as the
pages run it (createChat, then the chat API or fillForm), in headless Chromium without WebGPU,
2 threads, cross-origin isolated.

Tasks (task_forms.py holds what they ask):
  chat  one question, answered greedily (streamed, up to 64 tokens);
  form  fillForm on a seven-field returns form from a customer's e-mail (the JSON schema
        constrained by each engine's own way: a GBNF grammar in llama.cpp, webslm's
        automaton over transformers.js's logits).

Every request is streamed underneath (fillForm's is turned into a stream by the page, its
answer assembled again), so each gives its time to first token (prefill) and decode speed.
A task's time is measured wall time; `same_work_s` puts every engine of a model on the same
answer length (the median of their answers' tokens): first token + the rest at that engine's
decode speed. A random-weight model's answers are random strings of random lengths, so its
engines are ranked on that; a trained model's answers are the same and so are both numbers.

Runs are interleaved engine by engine (A B A B ...), each in a fresh browser profile (cold
load: the files from the local server into the Cache Storage, hashed, then the engine).
Writes results/task_engines.json and prints the markdown table. `--write-order` then turns
those results into web/static/cpu-engine-order.js, the order engines.js tries the CPU engines
in for each task (order_of: the most form fields right summed over the models, then the
fastest same-work time, as a geometric mean over the models of each engine's time over the
fastest's):

    .venv/bin/python bench/task_engines.py --dist dist --model smollm2-135m --runs 3
    .venv/bin/python bench/task_engines.py --dist /tmp/llama-dist --model llama-3.2-1b --runs 2 --merge
    .venv/bin/python bench/task_engines.py --write-order

A real GPU or WebGPU plays no part: WebGPU is off, so the pages take a CPU engine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from task_forms import CHAT_QUESTION, RETURNS_FORM, RETURNS_TEXT, RETURNS_EXPECTED  # noqa: E402

ENGINES = ("wllama", "transformers-wasm")
TASKS = ("chat", "form")
CHAT_TOKENS = 64
ORDER_FILE = REPO / "web" / "static" / "cpu-engine-order.js"

PAGE_RUN = """async ([model, engine, formHtml, text, question, chatTokens]) => {
  const w = await import('./webslm.js');
  const holder = document.createElement('div');
  holder.innerHTML = formHtml;
  document.body.append(holder);
  const form = holder.querySelector('form');
  const now = () => performance.now() / 1000;
  let t = now();
  const chat = await w.createChat({ model, engine });
  const out = { engine: chat.engine, dtype: chat.choice.dtype, threads: chat.info?.threads ?? null, load_s: now() - t };
  // Every request streamed, so each has its first-token time; a non-streamed one (fillForm's)
  // gets its reply assembled from the stream, as the engine would have returned it.
  const plain = chat.chat.completions.create;
  let last = null;
  chat.chat.completions.create = async (request) => {
    const started = now();
    let first = null, content = '', finish = null, usage = null;
    const stream = await plain({ ...request, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices?.[0];
      if (c?.delta?.content) { first ??= now(); content += c.delta.content; }
      if (c?.finish_reason) finish = c.finish_reason;
    }
    const end = now();
    last = { seconds: end - started, first_token_s: (first ?? end) - started, decode_s: end - (first ?? end),
      prompt_tokens: usage?.prompt_tokens ?? null, completion_tokens: usage?.completion_tokens ?? null, finish };
    return { choices: [{ index: 0, finish_reason: finish, message: { role: 'assistant', content } }], usage };
  };
  t = now();
  const reply = await chat.chat.completions.create({ messages: [{ role: 'user', content: question }],
    max_tokens: chatTokens, temperature: 0, stream: false });
  out.chat = { ...last, wall_s: now() - t, text: reply.choices[0].message.content };
  t = now();
  try {
    const r = await chat.fillForm(form, text);
    out.form = { ...last, wall_s: now() - t, values: r.values, raw: r.raw, filled: r.filled };
  } catch (err) {
    out.form = { ...last, wall_s: now() - t, error: String(err.message || err) };
  }
  out.form.fields = Object.fromEntries([...form.elements].filter((e) => e.name && (e.type !== 'radio' || e.checked))
    .map((e) => [e.name, e.type === 'checkbox' ? e.checked : e.value]));
  await chat.unload();
  return out;
}"""


def one_run(dist: Path, model: str, engine: str) -> dict:
    from webslm.bench.chromium import chromium_page
    from webslm.bench.server import running
    from webslm.serve.app import create_app
    from webslm.serve.layout import default_web_root

    app = create_app([dist], default_web_root())
    log: list[str] = []
    with running(app) as base, chromium_page(base + "form.html", gpu=False, log=log, webgpu=False) as page:
        page.set_default_timeout(0)
        try:
            return page.evaluate(PAGE_RUN, [f"{model}-cpu", engine, RETURNS_FORM, RETURNS_TEXT,
                                            CHAT_QUESTION, CHAT_TOKENS])
        except Exception as err:  # noqa: BLE001 - an engine failing is a result here
            return {"engine": engine, "error": str(err).splitlines()[0], "log": log[-10:]}


def fields_right(fields: dict) -> int:
    return sum(1 for name, want in RETURNS_EXPECTED.items() if fields.get(name) == want)


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def _spread(values):
    values = [v for v in values if v is not None]
    return [round(min(values), 2), round(max(values), 2)] if values else None


def summarize(runs: list[dict]) -> dict:
    """{task: {engine: {...medians...}}} for one model's runs, with same_work_s."""
    out: dict = {"load": {}, "chat": {}, "form": {}}
    for engine in ENGINES:
        mine = [r for r in runs if r.get("engine") == engine and "error" not in r]
        if not mine:
            continue
        out["load"][engine] = {"median_s": _median([r["load_s"] for r in mine]),
                               "range_s": _spread([r["load_s"] for r in mine])}
        for task in TASKS:
            got = [r[task] for r in mine]
            row = {
                "wall_s": _median([g.get("wall_s") for g in got]),
                "wall_range_s": _spread([g.get("wall_s") for g in got]),
                "first_token_s": _median([g.get("first_token_s") for g in got]),
                "prompt_tokens": _median([g.get("prompt_tokens") for g in got]),
                "completion_tokens": _median([g.get("completion_tokens") for g in got]),
                "prefill_tok_s": _median([g["prompt_tokens"] / g["first_token_s"] for g in got
                                          if g.get("prompt_tokens") and g.get("first_token_s")]),
                "decode_tok_s": _median([(g["completion_tokens"] - 1) / g["decode_s"] for g in got
                                         if (g.get("completion_tokens") or 0) > 1 and g.get("decode_s")]),
                "runs": len(got),
            }
            if task == "form":
                row["fields_right"] = min(fields_right(g.get("fields", {})) for g in got)
                row["fields"] = len(RETURNS_EXPECTED)
                row["errors"] = [g["error"] for g in got if g.get("error")]
            out[task][engine] = row
    for task in TASKS:
        rows = out[task]
        tokens = _median([r["completion_tokens"] for r in rows.values()])
        for row in rows.values():
            row["same_work_tokens"] = tokens
            row["same_work_s"] = (round(row["first_token_s"] + (tokens - 1) / row["decode_tok_s"], 2)
                                  if tokens and row["decode_tok_s"] and row["first_token_s"] is not None else None)
    return out


def markdown(results: dict) -> str:
    lines = ["| model | engine | load s | task | first token s | prompt tok | answer tok | prefill tok/s | decode tok/s | wall s (range) | same-work s | fields right |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, entry in results["models"].items():
        s = entry["summary"]
        for task in TASKS:
            for engine, row in s[task].items():
                right = f"{row['fields_right']}/{row['fields']}" if task == "form" else ""
                rng = row["wall_range_s"]
                lines.append(f"| {model} | {engine} | {s['load'][engine]['median_s']} | {task} | {row['first_token_s']} | "
                             f"{row['prompt_tokens']:g} | {row['completion_tokens']:g} | {row['prefill_tok_s']} | {row['decode_tok_s']} | "
                             f"{row['wall_s']} ({rng[0]}-{rng[1]}) | {row['same_work_s']} | {right} |")
    return "\n".join(lines)


def order_of(results: dict) -> dict:
    """{task: [engine, ...]}: the engines with the most fields right (summed over the models;
    for chat, all tie) first, then by same-work seconds over the fastest engine's, as a
    geometric mean over the models. An engine missing from a model's results is left out."""
    models = [m["summary"] for m in results["models"].values()]
    order = {}
    for task in TASKS:
        engines = [e for e in ENGINES if all(s[task].get(e, {}).get("same_work_s") for s in models)]
        right = {e: sum(s[task][e].get("fields_right", 0) for s in models) for e in engines}
        slower = {e: statistics.geometric_mean([s[task][e]["same_work_s"] / min(s[task][o]["same_work_s"] for o in engines)
                                                for s in models]) for e in engines}
        order[task] = sorted(engines, key=lambda e: (-right[e], slower[e]))
    return order


def choice_table(results: dict, order: dict) -> str:
    """Markdown: per model and task, the engine the order picks against the fastest one."""
    lines = ["| model | task | picked (order file) | its same-work s | fastest | its same-work s | picked / fastest | fields right (picked, fastest) |",
             "|---|---|---|---|---|---|---|---|"]
    for model, entry in results["models"].items():
        for task in TASKS:
            rows = entry["summary"][task]
            picked = next(e for e in order[task] if e in rows)
            fastest = min(rows, key=lambda e: rows[e]["same_work_s"])
            right = (f"{rows[picked]['fields_right']}/7, {rows[fastest]['fields_right']}/7" if task == "form" else "")
            lines.append(f"| {model} | {task} | {picked} | {rows[picked]['same_work_s']} | {fastest} | "
                         f"{rows[fastest]['same_work_s']} | {rows[picked]['same_work_s'] / rows[fastest]['same_work_s']:.2f}x | {right} |")
    return "\n".join(lines)


def order_module(results: dict) -> str:
    """web/static/cpu-engine-order.js: the order per task, and the numbers it came from."""
    measured = {
        "date": results["measured"], "machine": results["machine"], "command": results["command"],
        "rule": "per task, the engines with the most form fields right first, then the fastest same-work time",
        "models": {name: {"params": m["params"], "runs": len(m["runs"]) // len(ENGINES),
                          "measured": m.get("measured"), "command": m.get("command"),
                          "load_avg": [min(min(r["load_avg"]) for r in m["runs"]), max(max(r["load_avg"]) for r in m["runs"])]
                          if all("load_avg" in r for r in m["runs"]) else None,
                          "load_s": {e: r["median_s"] for e, r in m["summary"]["load"].items()},
                          **{task: {e: {k: r[k] for k in ("same_work_s", "wall_s", "fields_right") if k in r}
                                    for e, r in m["summary"][task].items()} for task in TASKS}}
                   for name, m in results["models"].items()},
    }
    data = {"order": order_of(results), "measured": measured}
    return ("// Which CPU engine each task tries first (engines.js): written by\n"
            "// `bench/task_engines.py --write-order` from its measurements, with the numbers it\n"
            "// came from. Measure again to change it; do not edit by hand.\n"
            f"export const CPU_ENGINE_ORDER = {json.dumps(data, indent=2)};\n")


def param_count(dist: Path, model: str) -> int:
    """The model's parameter count from its config.json (embedding counted once)."""
    cfg = json.loads((dist / f"{model}-cpu" / "config.json").read_text())
    h, i, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim") or h // heads
    layer = h * hd * (heads * 2 + kv * 2) + 3 * h * i
    emb = cfg["vocab_size"] * h * (1 if cfg.get("tie_word_embeddings") else 2)
    return n * layer + emb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", type=Path, help="a dist/ holding <model>-cpu")
    ap.add_argument("--model", help="the models.yaml name (its <model>-cpu build is run)")
    ap.add_argument("--runs", type=int, default=2, help="runs per engine, interleaved")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--out", type=Path, default=REPO / "results" / "task_engines.json")
    ap.add_argument("--merge", action="store_true", help="keep the other models already in --out")
    ap.add_argument("--machine", default=f"{os.cpu_count()} cores, headless Chromium, no WebGPU, 2 threads",
                    help="what ran it, for the record (say if the machine was shared)")
    ap.add_argument("--write-order", action="store_true",
                    help=f"measure nothing: write {ORDER_FILE.relative_to(REPO)} from --out's results")
    a = ap.parse_args()
    if a.write_order:
        results = json.loads(a.out.read_text())
        ORDER_FILE.write_text(order_module(results))
        print(f"wrote {ORDER_FILE}")
        print(markdown(results))
        print(choice_table(results, order_of(results)))
        return
    if not a.dist or not a.model:
        ap.error("--dist and --model are needed to measure")

    results = (json.loads(a.out.read_text()) if a.merge and a.out.is_file()
               else {"models": {}})
    runs = []
    for run in range(a.runs):
        for engine in a.engines.split(","):
            print(f"{a.model}: {engine}, run {run + 1}/{a.runs}", flush=True)
            before = os.getloadavg()[0]
            got = one_run(a.dist, a.model, engine)
            # The 1-minute load average before and after: the machine may be shared.
            runs.append({"run": run, **got, "load_avg": [round(before, 2), round(os.getloadavg()[0], 2)]})
            print(json.dumps({k: got.get(k) for k in ("engine", "load_s", "error")}
                             | {t: {k: got.get(t, {}).get(k) for k in ("wall_s", "first_token_s", "prompt_tokens", "completion_tokens")}
                                for t in TASKS}), flush=True)
    results["measured"] = datetime.date.today().isoformat()
    results["command"] = " ".join(["bench/task_engines.py", *sys.argv[1:]])
    results["machine"] = a.machine
    results["models"][a.model] = {"params": param_count(a.dist, a.model), "runs": runs,
                                  "measured": results["measured"], "command": results["command"],
                                  "summary": summarize(runs)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
