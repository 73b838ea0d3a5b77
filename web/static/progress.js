// Turn WebLLM's initProgressCallback reports into {stage, fraction, loadedBytes, totalBytes}.
// WebLLM only reports a free-text line plus a fraction; the stage is in the text. The
// patterns below are the exact prefixes WebLLM 0.2.86 (and its tvmjs runtime) write.

const STAGES = [
  { re: /^Fetching param cache\[(\d+)\/(\d+)\]: (\d+)MB fetched/, stage: "download", label: "Downloading weights" },
  { re: /^Loading model from cache\[(\d+)\/(\d+)\]: (\d+)MB loaded/, stage: "load", label: "Loading weights onto the GPU" },
  { re: /^Loading GPU shader modules\[(\d+)\/(\d+)\]/, stage: "shaders", label: "Compiling GPU shaders" },
  { re: /^Finish loading/, stage: "ready", label: "Ready" },
  { re: /^Start to fetch params/, stage: "download", label: "Downloading weights" },
];

/**
 * @param report {progress, timeElapsed, text} from WebLLM
 * @param weightBytes the weights' total size, when known, to turn fractions into bytes
 */
export function parseProgress(report, weightBytes = 0) {
  const text = String(report && report.text || "");
  const fraction = Math.max(0, Math.min(1, Number(report && report.progress) || 0));
  for (const { re, stage, label } of STAGES) {
    const m = text.match(re);
    if (!m) continue;
    const out = { stage, label, fraction, text, seconds: report.timeElapsed || 0 };
    if (stage === "download" || stage === "load") {
      // WebLLM reports MB done (rounded up) and the exact fraction, but no total: the total is
      // done / fraction, unless the caller knows the weights' size.
      const done = m[3] ? Number(m[3]) * 2 ** 20 : 0;
      out.totalBytes = weightBytes || (fraction > 0 ? Math.round(done / fraction) : 0);
      out.loadedBytes = weightBytes ? Math.round(fraction * weightBytes) : done;
    }
    return out;
  }
  return { stage: "start", label: "Preparing", fraction, text, seconds: (report && report.timeElapsed) || 0 };
}

/** "31.9 MB" */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n <= 0) return "0 B";
  const units = ["B", "KB", "MB", "GB", "TB"];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return `${(n / 1024 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** One line for a progress label: "Downloading weights: 31.9 MB of 80.3 MB (40%)". */
export function describeProgress(p) {
  const pct = `${Math.floor(p.fraction * 100)}%`;
  if (p.totalBytes) return `${p.label}: ${formatBytes(p.loadedBytes)} of ${formatBytes(p.totalBytes)} (${pct})`;
  if (p.stage === "ready") return p.label;
  return `${p.label} (${pct})`;
}
