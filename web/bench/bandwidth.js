// Memory bandwidth as the engines see it, measured in the same browser: a WebGPU
// buffer-to-buffer copy for the GPU engines, a typed-array copy for the WASM engines.
// Bytes moved count the read and the write (2 x size per copy).

const MiB = 1 << 20;

export async function gpuCopyBandwidth(sizeMiB = 128, copies = 8) {
  if (!navigator.gpu) return null;
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return null;
  const size = Math.min(sizeMiB * MiB, adapter.limits.maxBufferSize, adapter.limits.maxStorageBufferBindingSize);
  const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: size } });
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE;
  const a = device.createBuffer({ size, usage });
  const b = device.createBuffer({ size, usage });
  const run = async (n) => {
    const enc = device.createCommandEncoder();
    for (let i = 0; i < n; i++) enc.copyBufferToBuffer(i % 2 ? b : a, 0, i % 2 ? a : b, 0, size);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await run(2); // warm-up: first touches allocate
  const t0 = performance.now();
  await run(copies);
  const seconds = (performance.now() - t0) / 1000;
  a.destroy(); b.destroy(); device.destroy();
  return { bytes_per_s: (2 * size * copies) / seconds, method: `WebGPU copyBufferToBuffer, ${size / MiB} MiB x ${copies}` };
}

export function cpuCopyBandwidth(sizeMiB = 128, copies = 8) {
  const n = (sizeMiB * MiB) / 8;
  const a = new Float64Array(n).fill(1);
  const b = new Float64Array(n);
  b.set(a); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < copies; i++) (i % 2 ? a : b).set(i % 2 ? b : a);
  const seconds = (performance.now() - t0) / 1000;
  return { bytes_per_s: (2 * sizeMiB * MiB * copies) / seconds, method: `TypedArray.set, ${sizeMiB} MiB x ${copies}, one thread` };
}
