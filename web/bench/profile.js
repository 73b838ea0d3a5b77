// What one decoded token costs a GPU, counted in the page that runs WebLLM: every compute
// dispatch, the kernel it runs and the buffers it binds. Installed before any engine asks for
// a device, by wrapping the WebGPU calls TVM's web runtime makes:
//   createComputePipeline(Async) -> the kernel's name (TVM passes it as compute.entryPoint);
//   createBindGroupLayout        -> which bindings are read-only and which are written;
//   createBindGroup              -> the buffers bound, with their sizes;
//   setPipeline / setBindGroup / dispatchWorkgroups -> one record per dispatch.
// Bytes are bound buffer sizes (each binding counts its whole buffer): webslm/bench/profile.py
// turns them into modeled bytes. Buffers written by queue.writeBuffer while `loading` is set
// are the weights.

const pipelines = new WeakMap();   // GPUComputePipeline -> kernel name
const layouts = new WeakMap();     // GPUBindGroupLayout -> [access per binding]
const groups = new WeakMap();      // GPUBindGroup -> [{buffer id, size, access}]
const bufferIds = new WeakMap();   // GPUBuffer -> small integer
const weights = new Set();         // ids of buffers loaded from the weight shards
let nextBuffer = 0;
let recording = null;              // the dispatch list of the phase being recorded
let loading = false;

const bufferId = (b) => {
  if (!bufferIds.has(b)) bufferIds.set(b, nextBuffer++);
  return bufferIds.get(b);
};

export function installProfiler() {
  if (!self.GPUDevice || GPUDevice.prototype.__webslmProfiled) return;
  const dev = GPUDevice.prototype;
  for (const method of ["createComputePipeline", "createComputePipelineAsync"]) {
    const original = dev[method];
    dev[method] = function (descriptor) {
      const name = descriptor.compute && descriptor.compute.entryPoint || descriptor.label || "?";
      const made = original.call(this, descriptor);
      if (made && typeof made.then === "function") return made.then((p) => { pipelines.set(p, name); return p; });
      pipelines.set(made, name);
      return made;
    };
  }
  const makeLayout = dev.createBindGroupLayout;
  dev.createBindGroupLayout = function (descriptor) {
    const layout = makeLayout.call(this, descriptor);
    const access = [];
    for (const e of descriptor.entries) access[e.binding] = e.buffer ? (e.buffer.type || "uniform") : "other";
    layouts.set(layout, access);
    return layout;
  };
  const makeGroup = dev.createBindGroup;
  dev.createBindGroup = function (descriptor) {
    const group = makeGroup.call(this, descriptor);
    const access = layouts.get(descriptor.layout) || [];
    groups.set(group, descriptor.entries.filter((e) => e.resource && e.resource.buffer).map((e) => ({
      id: bufferId(e.resource.buffer),
      size: Number(e.resource.size ?? e.resource.buffer.size),
      access: access[e.binding] || "?",
    })));
    return group;
  };
  const queue = GPUQueue.prototype;
  const write = queue.writeBuffer;
  queue.writeBuffer = function (buffer, ...rest) {
    if (loading && !(buffer.usage & GPUBufferUsage.UNIFORM)) weights.add(bufferId(buffer));
    return write.call(this, buffer, ...rest);
  };
  const pass = GPUComputePassEncoder.prototype;
  const setPipeline = pass.setPipeline;
  pass.setPipeline = function (p) { this.__kernel = pipelines.get(p) || "?"; return setPipeline.call(this, p); };
  const setBindGroup = pass.setBindGroup;
  pass.setBindGroup = function (index, group, ...rest) {
    this.__bound = groups.get(group) || [];
    return setBindGroup.call(this, index, group, ...rest);
  };
  for (const method of ["dispatchWorkgroups", "dispatchWorkgroupsIndirect"]) {
    const original = pass[method];
    pass[method] = function (...args) {
      if (recording) {
        const wg = method === "dispatchWorkgroups" ? (args[0] || 1) * (args[1] || 1) * (args[2] || 1) : null;
        recording.push({ kernel: this.__kernel || "?", workgroups: wg, buffers: this.__bound || [] });
      }
      return original.apply(this, args);
    };
  }
  dev.__webslmProfiled = true;
}

/** The dispatches fn() makes (fn's promise awaited). */
export async function recordDispatches(fn) {
  const list = [];
  recording = list;
  try {
    const value = await fn();
    return { value, dispatches: list };
  } finally {
    recording = null;
  }
}

export async function whileLoading(fn) {
  loading = true;
  try { return await fn(); } finally { loading = false; }
}

export function weightBufferIds() {
  return [...weights];
}
