// The app under test: what a user of the npm package writes. ?task=fill fills the form,
// ?task=chat streams an answer; ?engine= forces an engine (webslm reads it from the URL: this
// app opts in with urlOverrides).
import { createChat, explainError, type Chat, type FillFormResult, type Progress } from "webslm";

const params = new URLSearchParams(location.search);
const status = document.getElementById("status")!;
const form = document.querySelector<HTMLFormElement>("#contact")!;
const element = document.querySelector("webslm-chat"); // typed through HTMLElementTagNameMap

interface Outcome { engine?: string; model?: string; fill?: FillFormResult; answer?: string; chunks?: number; error?: string }
const outcome: Outcome = {};
(window as unknown as { webslmApp: Outcome }).webslmApp = outcome;

async function run(): Promise<void> {
  const chat: Chat = await createChat({
    model: "smollm2-135m",
    baseUrl: "site/",
    urlOverrides: true,
    task: params.get("task") === "fill" ? "form" : "chat", // the CPU engine measured fastest for it
    onProgress: (p: Progress) => { status.textContent = `${p.label} ${Math.round(p.fraction * 100)}%`; },
  });
  Object.assign(outcome, { engine: chat.engine, model: chat.model });
  if (params.get("task") === "fill") {
    outcome.fill = await chat.fillForm(form, params.get("text") ?? "", { maxTokens: 64 });
  } else {
    const stream = await chat.chat.completions.create({
      messages: [{ role: "user", content: params.get("text") ?? "Hi" }],
      stream: true, temperature: 0, max_tokens: Number(params.get("tokens") ?? 4),
    });
    let answer = "";
    let chunks = 0;
    for await (const chunk of stream) {
      answer += chunk.choices[0]?.delta?.content ?? "";
      chunks += 1;
    }
    Object.assign(outcome, { answer, chunks });
  }
  await chat.unload();
  status.textContent = `done: ${element?.chat === null ? "element idle" : "element loaded"}`;
}

run().catch((err: unknown) => {
  outcome.error = explainError(err).detail;
  status.textContent = `error: ${outcome.error}`;
});
