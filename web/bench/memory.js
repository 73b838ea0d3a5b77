// Engine-agnostic memory probes: GPU buffer bytes are counted by wrapping
// GPUDevice.createBuffer/destroy before any engine asks for a device, so WebLLM and
// transformers.js are measured the same way without either reporting anything itself.

let live = 0;
let peak = 0;

export function trackGpuBuffers() {
  if (!self.GPUDevice || GPUDevice.prototype.__webslmTracked) return;
  const create = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (descriptor) {
    const buffer = create.call(this, descriptor);
    const size = Number(descriptor.size) || 0;
    live += size;
    peak = Math.max(peak, live);
    const destroy = buffer.destroy;
    let gone = false;
    buffer.destroy = function () {
      if (!gone) { gone = true; live -= size; }
      return destroy.call(this);
    };
    return buffer;
  };
  GPUDevice.prototype.__webslmTracked = true;
}

/** Bytes in GPU buffers now and at the peak since the last reset. */
export function gpuBufferBytes() {
  return { live, peak };
}

export function resetGpuPeak() {
  peak = live;
}

/** Chromium's JS heap of this page (precise with --enable-precise-memory-info). */
export function jsHeapBytes() {
  return performance.memory ? performance.memory.usedJSHeapSize : null;
}
