// Which CPU engine each task tries first (engines.js): written by
// `bench/task_engines.py --write-order` from its measurements, with the numbers it
// came from. Measure again to change it; do not edit by hand.
export const CPU_ENGINE_ORDER = {
  "order": {
    "chat": [
      "transformers-wasm",
      "wllama"
    ],
    "form": [
      "wllama",
      "transformers-wasm"
    ]
  },
  "measured": {
    "date": "2026-12-06",
    "machine": "2-core Xeon shared with other jobs, headless Chromium 156, no WebGPU, 2 threads",
    "command": "bench/task_engines.py --dist /tmp/engine-task/dist --model smollm2-135m --runs 1 --out /tmp/engine-task/try1.json",
    "rule": "per task, the engines with the most form fields right first, then the fastest same-work time",
    "models": {
      "smollm2-135m": {
        "params": 134479872,
        "runs": 1,
        "command": null,
        "load_avg": null,
        "load_s": {
          "wllama": 7.37,
          "transformers-wasm": 11.72
        },
        "chat": {
          "wllama": {
            "same_work_s": 34.55,
            "wall_s": 34.52
          },
          "transformers-wasm": {
            "same_work_s": 9.53,
            "wall_s": 9.53
          }
        },
        "form": {
          "wllama": {
            "same_work_s": 54.45,
            "wall_s": 64.37,
            "fields_right": 5
          },
          "transformers-wasm": {
            "same_work_s": 11.23,
            "wall_s": 9.3,
            "fields_right": 2
          }
        }
      }
    }
  }
};
