// Runs single functions of a model library on WebGPU through tvmjs (the runtime WebLLM
// bundles, re-exported by the served shim), the way WebLLM calls them: inputs copied to the
// GPU, the function called, outputs copied back. Driven by tests/browser/sampler_webgpu.py.

const errorText = (e) => (e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e));

const ARRAYS = { float32: Float32Array, int32: Int32Array, uint32: Uint32Array };

// Arrays travel as base64 of their little-endian bytes: Playwright's per-element
// serialisation of long number lists takes minutes.
const fromBase64 = (b64, dtype) =>
  new ARRAYS[dtype](Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)).buffer);
const toBase64 = (typed) => {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
};

// cfg: {tvmjs_url, lib_url, arrays: [{dtype, shape, b64}],
//       cases: [{fn, args: [{dtype, shape, b64} or {ref}], inplace, tuple}]}
// inplace: the result is the edited first argument; tuple: the function returns a tuple.
// {ref: i} is arrays[i], uploaded once for every case that passes it.
// Returns {adapter, results: [[{dtype, shape, b64}, ...] per case], timings (ms)} or {error}.
window.webslmRunKernels = async (cfg) => {
  const t0 = performance.now();
  const timings = {};
  const mark = (name) => { timings[name] = Math.round(performance.now() - t0); };
  try {
    const { webslmTvmjs: tvmjs } = await import(cfg.tvmjs_url);
    mark("import");
    const wasm = await (await fetch(cfg.lib_url)).arrayBuffer();
    const tvm = await tvmjs.instantiate(wasm, tvmjs.createPolyfillWASI(), console.log);
    const gpu = await tvmjs.detectGPUDevice();
    if (gpu === undefined) return { error: "no WebGPU device" };
    tvm.initWebGPU(gpu.device);
    mark("instantiate");
    const dev = tvm.webgpu();
    tvm.beginScope();
    const vm = tvm.detachFromCurrentScope(tvm.createVirtualMachine(dev));
    const upload = (a) => tvm.empty(a.shape, a.dtype, dev).copyFrom(fromBase64(a.b64, a.dtype));
    const shared = (cfg.arrays || []).map((a) => tvm.detachFromCurrentScope(upload(a)));
    tvm.endScope();
    const results = [];
    for (const c of cfg.cases) {
      tvm.beginScope();
      const args = c.args.map((a) => (a.ref === undefined ? upload(a) : shared[a.ref]));
      const ret = vm.getFunction(c.fn)(...args);
      const outs = c.inplace ? [args[0]]
        : c.tuple ? [...Array(ret.size()).keys()].map((i) => ret.get(i)) : [ret];
      const host = outs.map((t) =>
        tvm.detachFromCurrentScope(tvm.empty(t.shape, t.dtype, tvm.cpu()).copyFrom(t)));
      tvm.endScope();
      await dev.sync();
      results.push(host.map((t) => {
        const out = { dtype: t.dtype, shape: t.shape, b64: toBase64(t.toArray()) };
        t.dispose();
        return out;
      }));
      mark(c.fn + "#" + results.length);
    }
    return { adapter: gpu.adapterInfo.description || gpu.adapterInfo.vendor, results, timings };
  } catch (e) {
    return { error: errorText(e) };
  }
};

window.__webslmReady = true;
