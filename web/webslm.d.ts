// Type declarations for webslm.js (hand-written; tests/npm checks that every export of
// webslm.js is declared here). docs/EMBEDDING.md describes the API in words.

/** The engines webslm.js can run a model on (engineOrder: the order it tries them). */
export type EngineName = "webllm" | "transformers-webgpu" | "wllama" | "transformers-wasm";
/** The ONNX model transformers.js loads from an ONNX build. */
export type OnnxDtype = "q8" | "q4" | "q4f16" | "fp32";
/** The GGUF wllama (llama.cpp in WASM) loads from a CPU build: Q8_0, Q4_0 where Q8_0 does
 * not fit wllama's memory, or the type of a GGUF source served as it is (Gemma 3: Q4_K_M). */
export type GgufType = "Q8_0" | "Q4_0" | "Q4_K_M";
/** What a chat is for; on the CPU, each takes the engine measured fastest for it. "form":
 * fillForm and answers under a JSON schema (responseConstraint); "chat": the rest. */
export type Task = "chat" | "form";

/** One GGUF file of an ONNX build (its gguf/ folder), for wllama. */
export interface GgufEntry {
  /** Relative to the build's url ("gguf/model.Q8_0.gguf"): the first shard. */
  file: string;
  /** Every shard, first first (one file for small models). */
  files?: string[];
  /** All shards together. */
  bytes: number;
  /** The n_ctx wllama loads it with. */
  context: number;
  /** The WASM memory llama.cpp needs at that context (weights, KV cache, buffers). */
  wasm_bytes?: number;
}

/** What createChat reports while it loads a model. */
export interface Progress {
  stage: "start" | "download" | "load" | "shaders" | "ready";
  /** For people: "Downloading weights", "Compiling GPU shaders", ... */
  label: string;
  /** 0..1 within the stage. */
  fraction: number;
  loadedBytes?: number;
  totalBytes?: number;
  /** The engine's own progress line. */
  text: string;
  seconds?: number;
}

/** A GPU failure seen while the WebLLM engine runs. */
export interface GpuEvent {
  event: "device-lost" | "GPUOutOfMemoryError" | "GPUInternalError" | string;
  message: string;
}

/** What probeGPU found. `ok`: WebLLM can run here; `adapter`: WebGPU works at all. */
export interface GpuInfo {
  ok: boolean;
  adapter?: boolean;
  reason?: string;
  features: string[];
  limits: Record<string, number | undefined>;
  shaderF16: boolean;
  software?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string };
}

/** One build listed in <baseUrl>api/models.json (its fields as the server writes them). */
export interface ModelBuild {
  id: string;
  family: string;
  quantization?: string;
  engine?: string;
  url?: string;
  dtypes?: string[];
  f16_dtypes?: string[];
  /** Tokens the build holds (prompt + answer). */
  context_window?: number;
  /** An ONNX build's CPU dtypes whose WASM memory holds fewer tokens than context_window. */
  wasm_context?: Record<string, number>;
  /** An ONNX build's CPU dtypes left out as too large for WASM memory, with the reason. */
  wasm_refused?: Record<string, string>;
  /** An ONNX build's GGUF files for wllama, by ggml type ({} or absent: none). */
  gguf?: Partial<Record<GgufType | string, GgufEntry>>;
  required_features?: string[];
  /** A WebLLM build's largest weight, one GPU buffer: the maxStorageBufferBindingSize it needs. */
  largest_tensor_bytes?: number;
  /** Bytes of the build's own files (a fine-tune: what it adds to its base). */
  size_bytes?: number;
  /** A fine-tune built as "base + adapter": the id of the build whose weight shards it reads. */
  base?: string;
  /** A fine-tune's bytes of its base's shards: downloaded and cached once, for the base and all its fine-tunes. */
  shared_bytes?: number;
  /** Every file of the build, as its manifest says: what the browser checks each download against.
   * A fine-tune's also holds its base's shards, named relative to its folder
   * ("../../../<base>/resolve/main/params_shard_0.bin"). */
  files?: Record<string, { bytes: number; sha256: string }>;
  /** The WebLLM ModelRecord of a WebLLM build (absolute URLs). */
  record?: Record<string, unknown>;
  [field: string]: unknown;
}

/** The model list of a webslm site, URLs made absolute against `base`. */
export interface ModelListing {
  base: string;
  records: Record<string, unknown>[];
  models: ModelBuild[];
}

/** Which engine and build createChat picked, and why (in words a page can show). */
export interface EngineChoice {
  engine: EngineName | null;
  build: ModelBuild | null;
  device?: "webgpu" | "wasm";
  dtype?: OnnxDtype | GgufType | string | null;
  threads?: number;
  /** wllama's GGUF entry, when engine is "wllama". */
  gguf?: GgufEntry;
  reason: string;
  /** Why each engine before the chosen one was passed over. */
  tried: string[];
}

export interface BuildChoice {
  build: ModelBuild | null;
  reason: string;
  rejected: { id: string; problems: string[] }[];
}

export interface CreateChatOptions {
  /** A build id ("smollm2-135m-q4f32_asym"), a family ("smollm2-135m": the best build for this
   * browser) or nothing (the first family listed). */
  model?: string;
  /** The webslm site root: a `webslm export-site` folder (or a host with its layout), absolute
   * or relative to the page. Apps built with a bundler must give it. */
  baseUrl?: string;
  onProgress?: (progress: Progress) => void;
  onGpuEvent?: (event: GpuEvent) => void;
  /** Force an engine (default: the best this browser runs; the page URL's ?engine= with
   * urlOverrides). */
  engine?: EngineName;
  /** Force the ONNX model transformers.js loads (default: q8 on the CPU and q4/q4f16 on
   * WebGPU; the page URL's ?dtype= with urlOverrides), or the GGUF type wllama loads ("Q8_0"). */
  dtype?: OnnxDtype | GgufType;
  /** What the chat is for (default "chat"): on the CPU, the engine measured fastest for it
   * loads (web/static/cpu-engine-order.js). The chat still does any task. */
  task?: Task;
  /** Let the host page's URL (?engine=, ?dtype=) choose the engine and dtype when the options
   * do not (default false: a link to your page must not force fp32 or the CPU on its visitors). */
  urlOverrides?: boolean;
  /** The folder of onnxruntime-web's WASM files (default: <baseUrl>vendor/ort/). */
  wasmPaths?: string;
  /** The URL of wllama's WASM file (default: <baseUrl>vendor/wllama/wasm/wllama.wasm). */
  wllamaWasm?: string;
  /** WebLLM's log level. */
  logLevel?: "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR" | "SILENT";
  /** WebLLM's ChatOptions, passed to its reload(). */
  chatOptions?: Record<string, unknown>;
  /** Load the model in the engine host every tab of this origin shares (a SharedWorker; a
   * dedicated worker where there is none), so another tab attaches to it instead of loading
   * it again. Default: the WebGPU engines, and the WASM engines where the page is not
   * cross-origin isolated (the host's WASM runs on one thread). true: any engine (WASM at one
   * thread); false: a worker of this page. */
  shared?: boolean;
  /** A listing already loaded with loadModels(), and a probe already made with probeGPU(). */
  listing?: ModelListing;
  gpu?: GpuInfo;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatCompletionRequest {
  messages: ChatMessage[];
  stream?: boolean;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  /** JSON constrained to a schema (a JSON schema as a string). */
  response_format?: { type: "text" } | { type: "json_object"; schema?: string };
  stream_options?: { include_usage?: boolean };
  /** webslm's extension: these string fields may only copy pieces of `text` (the CPU engine). */
  webslm?: { copy?: { text: string; fields: string[] } };
  [field: string]: unknown;
}

export type FinishReason = "stop" | "length" | "abort" | "tool_calls" | null;

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  extra?: Record<string, number | null>;
}

export interface ChatCompletion {
  object: "chat.completion";
  model: string;
  created: number;
  choices: { index: number; finish_reason: FinishReason; message: { role: "assistant"; content: string | null } }[];
  usage?: CompletionUsage;
}

export interface ChatCompletionChunk {
  object: "chat.completion.chunk";
  model: string;
  created: number;
  choices: { index: number; finish_reason: FinishReason; delta: { role?: "assistant"; content?: string | null } }[];
  usage?: CompletionUsage;
}

export interface FillFormOptions {
  maxTokens?: number;
  temperature?: number;
  /** Aborting it stops the answer. */
  signal?: AbortSignal;
}

/** What fillForm did. It never submits the form. */
export interface FillFormResult {
  /** The model's answer, parsed. */
  values: Record<string, unknown>;
  /** Names of the fields it filled (marked `.webslm-filled`). */
  filled: string[];
  /** Free-text answers that do not occur in the text: left empty. */
  ungrounded: string[];
  /** Fields not asked for (the text plainly cannot fill them). */
  skipped: string[];
  /** Problems with the answer, by field name. */
  rejected: Record<string, string[]>;
  raw: string;
  usage?: CompletionUsage;
  schema: JsonSchema;
}

/** A chat model loaded by createChat, behind an OpenAI-style API. */
export interface Chat {
  /** The build loaded. */
  model: string;
  engine: EngineName;
  build: ModelBuild;
  choice: EngineChoice;
  gpu: GpuInfo;
  listing: ModelListing;
  chat: {
    completions: {
      create(request: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(request: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
      create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
    };
  };
  /** Stop the answer being generated; a stream then ends with finish_reason "abort". */
  interrupt(): void | Promise<void>;
  /** Forget the conversation state the engine keeps. */
  resetChat(): Promise<void>;
  /** The chat template's special-token strings (WebLLM builds), broken in fillForm's text. */
  specialTokens?: string[];
  /** Fill `form` from free `text`, with JSON constrained to the form's fields. Only the
   * controls its schema was derived from are written (never hidden, password, disabled or
   * data-webslm-skip ones sharing a name). */
  fillForm(form: HTMLFormElement, text: string, options?: FillFormOptions): Promise<FillFormResult>;
  /** Free the model's memory and stop its worker; the chat is unusable afterwards. In the
   * engine host: let go of the model, which the last chat of the origin to let go unloads. */
  unload(): Promise<void>;
  /** Set when the model runs in the engine host (createChat's `shared`). */
  shared?: {
    /** "shared": the origin's SharedWorker; "dedicated": this page's own (no SharedWorker). */
    host: "shared" | "dedicated";
    /** True when the model was already loaded (or loading) there: nothing was loaded again. */
    joined: boolean;
    /** The host's counters when this chat attached. */
    stats: EngineHostStats;
  };
}

/** The engine host's counters, since it started (it ends when the last tab holding it closes). */
export interface EngineHostStats {
  /** Models the host loaded (engine instantiations). */
  instantiations: number;
  /** createChat calls that reached it, and those that found their model already there. */
  attaches: number;
  joins: number;
  /** Requests answered (a Prompt API prompt is two: a token count, then the answer). */
  requests: number;
  /** Pages that connected to it, and the chats attached now (a closed page's let go). */
  connections: number;
  clients: number;
  /** Files (and their bytes) it downloaded from the network, verified; cached ones not counted. */
  downloads: number;
  downloadedBytes: number;
  /** The models it holds now (opaque keys). */
  loaded: string[];
  /** True in a SharedWorker, false in a page's dedicated worker. */
  shared: boolean;
}

/** The counters of this origin's engine host (starts it when the page has not yet). */
export function hostStats(): Promise<EngineHostStats>;

/** Thrown by createChat, before any download, when no build runs in this browser. */
export interface NoUsableBuildError extends Error {
  name: "NoUsableBuildError";
  choice: EngineChoice;
  gpu: GpuInfo;
}

/** Thrown by createChat when a downloaded file does not match the build's manifest, twice. */
export interface IntegrityError extends Error {
  name: "IntegrityError";
  /** The file's path in the build (params_shard_3.bin, onnx/model_q4.onnx_data). */
  file: string;
  url: string;
  /** SHA-256 (hex) the manifest lists, and what arrived (or why it was not computed). */
  expected: string;
  actual: string;
}

/** Thrown by createChat when the browser cannot store the model. */
export interface StorageFullError extends Error {
  name: "StorageFullError";
  /** Bytes the build still needed to store. */
  needed: number;
  /** The file the browser refused, when the refusal came while storing one. */
  file?: string;
}

/**
 * Load a model (in a Web Worker) and return a chat object. Throws NoUsableBuildError,
 * IntegrityError or StorageFullError (or the engine's own errors).
 */
export function createChat(options?: CreateChatOptions): Promise<Chat>;

/** What fillForm needs of a Prompt API session: webslm's LanguageModel or the browser's own. */
export interface PromptApiSession {
  clone(options?: { signal?: AbortSignal }): Promise<PromptApiSession>;
  prompt(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<string>;
  destroy(): void;
}

/** Fill `form` from `text` with a createChat chat (what chat.fillForm does) or a Prompt API
 * session (its answer comes from a clone; `temperature` is the session's own then). */
export function fillForm(model: Chat | PromptApiSession, form: HTMLFormElement, text: string, options?: FillFormOptions): Promise<FillFormResult>;
/** Whether a free-text answer occurs in `text`: every word of it (ignoring case, spacing and
 * punctuation), or for a phone number its digits within one number of the text and its
 * words; a value with no letter or digit never does. */
export function isGrounded(value: unknown, text: string): boolean;
/** Remove the marks fillForm put on a form's fields. */
export function clearMarks(form: HTMLFormElement): void;

/** The flat JSON schemas forms produce. */
export interface JsonSchema {
  type: "object";
  properties: Record<string, { type: string; enum?: unknown[]; pattern?: string; format?: string; description?: string }>;
  required: string[];
  additionalProperties?: boolean;
}
export interface FormField {
  name: string;
  kind: string;
  label?: string;
  autocomplete?: string;
}
export function deriveSchema(form: HTMLFormElement): { schema: JsonSchema; fields: FormField[] };
export function validate(schema: JsonSchema, value: unknown): { valid: boolean; errors: string[]; byField: Record<string, string[]> };
export function schemaForText(schema: JsonSchema, fields: FormField[], text: string): { schema: JsonSchema; skipped: string[] };
export function exampleFor(schema: JsonSchema, fields: FormField[]): { text: string; answer: string };
export function buildMessages(schema: JsonSchema, fields: FormField[], text: string): ChatMessage[];

/** Schema-constrained JSON decoding for engines without a grammar engine. */
export class JsonSchemaConstraint {
  constructor(schema: JsonSchema, options?: { maxStringChars?: number; copy?: { text: string; fields: string[] } | null });
  allows(piece: string): boolean;
  accept(piece: string): void;
}
export function canConstrain(schema: unknown): boolean;
export function maskScores(constraint: JsonSchemaConstraint, scores: Float32Array, pieces: string[], eos: Set<number>): void;

export function loadModels(baseUrl?: string): Promise<ModelListing>;
export function familyOf(model: { id: string; quantization?: string }): string;
export function needsF16(model: { quantization?: string; required_features?: string[] }): boolean;
/** The builds of `models` that are fine-tunes of `build` (their `base` is its id). */
export function fineTunesOf(build: ModelBuild, models: ModelBuild[]): ModelBuild[];
/** What loading `build` downloads, in words ("1.2 MB", or a fine-tune's own bytes plus its base's shared ones). */
export function describeDownload(build: ModelBuild, dtype?: OnnxDtype | GgufType | ""): string;
/** `baseUrl` made absolute (against the page) with a trailing "/". */
export function siteBase(baseUrl?: string): string;
/** The folder webslm.js was loaded from (the default baseUrl of a served site). */
export const SITE_ROOT: string;

export const REQUIRED_LIMITS: Readonly<Record<string, number>>;
export function probeGPU(gpu?: unknown): Promise<GpuInfo>;
export function isSoftwareAdapter(adapter: unknown): boolean;
export function buildProblems(model: ModelBuild, gpu: GpuInfo): string[];
export function chooseBuild(models: ModelBuild[], gpu: GpuInfo, wanted?: string): BuildChoice;

export const ENGINES: Readonly<Record<EngineName, string>>;
/** The order chooseEngine tries the engines in for chat (engineOrder("chat")). */
export const ENGINE_ORDER: EngineName[];
/** The tasks with a measured CPU engine order. */
export const TASKS: Task[];
/** The order chooseEngine tries the engines in for `task`: WebGPU first, then the CPU engines
 * fastest first as measured for the task (among those with the most form fields right). */
export function engineOrder(task?: Task): EngineName[];
export function chooseEngine(models: ModelBuild[], gpu: GpuInfo, options?: {
  wanted?: string; engine?: EngineName | ""; dtype?: OnnxDtype | GgufType | ""; isolated?: boolean; cores?: number;
  /** Orders the CPU engines (default "chat"). */
  task?: Task;
  /** Whether wllama runs in this browser (default: wllamaRuns()). */
  wllama?: boolean;
  /** The GB of memory this device reports (default: navigator.deviceMemory). */
  deviceMemory?: number;
}): EngineChoice;
/** The most memory wllama's WASM module grows to (4 GiB). */
export const WLLAMA_MEMORY_BYTES: number;
/** Why a CPU build's GGUF cannot run in wllama here (its recorded memory need), or "". */
export function wllamaFitProblem(build: ModelBuild, type: GgufType, deviceMemory?: number): string;
export function engineFromUrl(href?: string): EngineName | "";
export function dtypeFromUrl(href?: string): OnnxDtype | GgufType | "";
/** Whether wllama's WASM build runs here (WebAssembly JSPI and Memory64: Chrome and Edge 137+). */
export function wllamaRuns(wasm?: unknown): boolean;
export function wasmThreads(isolated?: boolean, cores?: number): number;
/** Whether the choice computes on the CPU: WASM, or WebGPU on a software adapter (SwiftShader). */
export function runsOnCpu(choice: EngineChoice, gpu: GpuInfo): boolean;
/** "Engine: WebLLM on WebGPU", with the dtype, and "(software, on the CPU)" where so; "" for none. */
export function engineLabel(choice: EngineChoice, gpu: GpuInfo): string;
/** The tokens (prompt + answer) the choice holds: wllama's GGUF context; a CPU model's own where its WASM memory holds fewer. */
export function contextOf(choice: EngineChoice): number | null;

export function parseProgress(report: { progress?: number; timeElapsed?: number; text?: string }, weightBytes?: number): Progress;
export function describeProgress(progress: Progress): string;
export function formatBytes(bytes: number): string;

export type ErrorKind = "device-lost" | "out-of-memory" | "quota-exceeded" | "no-webgpu" | "shader-f16"
  | "network" | "context-window" | "no-usable-build" | "integrity" | "storage-full" | "other";
/** Plain words for an error: `message` for the user, `detail` the original text. */
export function explainError(err: unknown): { kind: ErrorKind; message: string; detail: string };

/** Markdown to DOM nodes (never HTML) inside `container`, in time linear in the text. A
 * link shows its destination host beside its text; a URL over 512 characters stays text. */
export function renderMarkdown(text: string, container: Element): void;
/** Render a streamed text into `container` at most once per animation frame: update() after
 * each chunk, flush() at the end. */
export function frameRenderer(container: Element, schedule?: (render: () => void) => void): {
  update(text: string): void; flush(): void; readonly renders: number };
/** The host a link goes to (or a mailto's address), as markdown links show it. */
export function destinationOf(url: URL): string;

/** WebLLM's module, imported on first use. Typed loosely on purpose: WebLLM 0.2.86's own
 * declarations do not type-check without skipLibCheck; cast to `typeof import("@mlc-ai/web-llm")`
 * if your app uses skipLibCheck. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function importWebLLM(): Promise<Record<string, any>>;

/** Make a webslm site work offline (registers the site's webslm.js as its service worker; it
 * answers for webslm's own files only). From the site's own webslm.js no argument is needed.
 * From a bundled app, pass the URL where the webslm site's webslm.js is served, e.g.
 * `registerOffline(new URL("webslm/webslm.js", location.href))`: without it the bundle's own
 * chunk would be named, which is refused with a TypeError (only a file named webslm.js is
 * registered). Resolves to null where service workers are unavailable. */
export function registerOffline(workerUrl?: string | URL): Promise<ServiceWorkerRegistration | null>;

// ---- The Prompt API (webmachinelearning/prompt-api) over webslm's engines ----

export type LanguageModelAvailability = "unavailable" | "downloadable" | "downloading" | "available";
export type LanguageModelMessageRole = "system" | "user" | "assistant";
/** webslm's models take "text" only; the others are refused with a NotSupportedError. */
export type LanguageModelMessageType = "text" | "image" | "audio" | "tool-call" | "tool-response";
export type LanguageModelSamplingMode = "most-predictable" | "predictable" | "balanced" | "creative" | "most-creative";

export interface LanguageModelMessageContent {
  type: LanguageModelMessageType;
  value: unknown;
}
export interface LanguageModelMessage {
  role: LanguageModelMessageRole;
  content: string | LanguageModelMessageContent[];
  /** The last assistant message as the start of the answer (webslm: NotSupportedError). */
  prefix?: boolean;
}
/** A user message as a string, or messages. */
export type LanguageModelPrompt = string | LanguageModelMessage[];
export interface LanguageModelExpected {
  type: LanguageModelMessageType;
  languages?: string[];
}
export interface LanguageModelCreateCoreOptions {
  /** 1: greedy. Larger values sample at `temperature` with no top-k cut. Not with samplingMode. */
  topK?: number;
  /** 0 (greedy, the default) to 2. Not with samplingMode. */
  temperature?: number;
  samplingMode?: LanguageModelSamplingMode;
  expectedInputs?: LanguageModelExpected[];
  expectedOutputs?: LanguageModelExpected[];
  /** Tool use: not offered (availability() says "unavailable"). */
  tools?: unknown[];
}
/** What create() hands its `monitor` callback. */
export interface CreateMonitor extends EventTarget {
  /** `loaded` goes from 0 to 1 (`total` is 1): the model's download, then 1 once it is loaded. */
  ondownloadprogress: ((this: CreateMonitor, event: ProgressEvent) => void) | null;
  addEventListener(type: "downloadprogress", listener: (event: ProgressEvent) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}
export interface LanguageModelCreateOptions extends LanguageModelCreateCoreOptions {
  /** Aborting it rejects create() (AbortError), or destroys the session once created. */
  signal?: AbortSignal;
  monitor?: (monitor: CreateMonitor) => void;
  /** A system message may only come first. */
  initialPrompts?: LanguageModelMessage[];
}
export interface LanguageModelPromptOptions {
  /** A JSON schema the answer must match (the engine's constrained decoding). A RegExp is
   * refused with a NotSupportedError; transformers.js takes flat objects only. */
  responseConstraint?: object;
  /** Leave the schema out of the prompt (it is added in words by default). */
  omitResponseConstraintInput?: boolean;
  signal?: AbortSignal;
  /** webslm's extension (the browser's own model ignores it): at most `maxTokens` tokens of
   * answer; `copy` limits these string fields to pieces of `text` (as fillForm does). */
  webslm?: { maxTokens?: number; copy?: { text: string; fields: string[] } };
}
export interface LanguageModelParams {
  defaultTopK: number;
  maxTopK: number;
  defaultTemperature: number;
  maxTemperature: number;
}

/**
 * A conversation with a model of a webslm site, shaped as the Prompt API's LanguageModel.
 * Errors are DOMExceptions named as the spec names them: NotSupportedError, SyntaxError,
 * QuotaExceededError (`requested`, `quota`), AbortError; InvalidStateError after destroy().
 */
export declare class LanguageModel extends EventTarget {
  private constructor();
  /** Whether a model of the site runs here, and whether it is downloaded already. */
  static availability(options?: LanguageModelCreateCoreOptions): Promise<LanguageModelAvailability>;
  static params(): Promise<LanguageModelParams>;
  /** Load the model (or join the one this page loaded) and open a session. */
  static create(options?: LanguageModelCreateOptions): Promise<LanguageModel>;
  prompt(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<string>;
  /** The answer's text pieces as the engine writes them. */
  promptStreaming(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): ReadableStream<string>;
  append(input: LanguageModelPrompt, options?: { signal?: AbortSignal }): Promise<void>;
  /** The tokens `input` would add, the chat template's included. */
  measureContextUsage(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<number>;
  /** measureContextUsage under its name before the spec's rename. */
  measureInputUsage(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<number>;
  /** Tokens the conversation holds, and the most it may hold. */
  readonly contextUsage: number;
  readonly contextWindow: number;
  readonly inputUsage: number;
  readonly inputQuota: number;
  /** Fired when the oldest exchanges were dropped to make room. */
  oncontextoverflow: ((this: LanguageModel, event: Event) => void) | null;
  onquotaoverflow: ((this: LanguageModel, event: Event) => void) | null;
  readonly topK: number;
  readonly temperature: number;
  readonly samplingMode: LanguageModelSamplingMode | undefined;
  /** A session with this one's conversation and settings, on the same loaded model. */
  clone(options?: { signal?: AbortSignal }): Promise<LanguageModel>;
  /** End the session; the model unloads when no session uses it. */
  destroy(): void;
}

/**
 * Make globalThis.LanguageModel webslm's, unless the browser has its own (`replaceBuiltIn`:
 * even then), and make the other options (createChat's: model, baseUrl, engine, ...) what
 * every create() loads. Returns globalThis.LanguageModel (the browser's own where kept).
 */
export function installLanguageModel(options?: CreateChatOptions & { replaceBuiltIn?: boolean }): typeof LanguageModel;

/** <webslm-chat>: a chat box. Attributes: model, base-url, system-prompt, max-tokens,
 * autoload. Events: webslm-ready {model}, webslm-answer {text}, webslm-error {message}. */
export interface WebslmChatElement extends HTMLElement {
  /** The createChat() object, once loaded. */
  readonly chat: Chat | null;
  /** Load the model (once). */
  load(): Promise<Chat>;
  /** Send a user message; resolves to the answer text (null when busy or failed). */
  send(text: string): Promise<string | null>;
}
export interface WebslmChatEvents {
  "webslm-ready": CustomEvent<{ model: string }>;
  "webslm-answer": CustomEvent<{ text: string }>;
  "webslm-error": CustomEvent<{ message: string; detail: string }>;
}
/** Define <webslm-chat> (importing webslm.js already does, under that name). */
export function defineChatElement(name?: string): void;

declare global {
  interface HTMLElementTagNameMap {
    "webslm-chat": WebslmChatElement;
  }
}
