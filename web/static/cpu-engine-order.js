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
    "machine": "2 cores shared with 3 other helpers' jobs, headless Chromium 156, no WebGPU, 2 threads",
    "command": "bench/task_engines.py --dist /tmp/engine-task/dist --model smollm2-135m --runs 3 --out /tmp/te-results/task_engines.json --machine 2 cores shared with 3 other helpers' jobs, headless Chromium 156, no WebGPU, 2 threads",
    "rule": "per task, the engines with the most form fields right first, then the fastest same-work time",
    "models": {
      "smollm2-135m": {
        "params": 134479872,
        "runs": 3,
        "command": "bench/task_engines.py --dist /tmp/engine-task/dist --model smollm2-135m --runs 3 --out /tmp/te-results/task_engines.json --machine 2 cores shared with 3 other helpers' jobs, headless Chromium 156, no WebGPU, 2 threads",
        "load_avg": [
          5.2,
          7.8
        ],
        "load_s": {
          "wllama": 11.09,
          "transformers-wasm": 11.63
        },
        "chat": {
          "wllama": {
            "same_work_s": 42.23,
            "wall_s": 42.21
          },
          "transformers-wasm": {
            "same_work_s": 10.07,
            "wall_s": 10.06
          }
        },
        "form": {
          "wllama": {
            "same_work_s": 64.7,
            "wall_s": 73.09,
            "fields_right": 5
          },
          "transformers-wasm": {
            "same_work_s": 11.47,
            "wall_s": 10.11,
            "fields_right": 2
          }
        }
      }
    }
  }
};
