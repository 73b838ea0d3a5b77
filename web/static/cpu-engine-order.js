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
      "transformers-wasm",
      "wllama"
    ]
  },
  "measured": {
    "date": "2026-12-07",
    "machine": "2-core Xeon loaded by other jobs (another helper's verify, a pytest -n 3, emcc), headless Chromium 156, no WebGPU, 2 threads",
    "command": "bench/task_engines.py --dist /tmp/tjsform-dist --model smollm2-135m --runs 3 --out /tmp/te-tjsform/task_engines.json --machine 2-core Xeon loaded by other jobs (another helper's verify, a pytest -n 3, emcc), headless Chromium 156, no WebGPU, 2 threads",
    "rule": "per task, the engines with the most form fields right first, then the fastest same-work time",
    "models": {
      "smollm2-135m": {
        "params": 134479872,
        "runs": 3,
        "measured": "2026-12-07",
        "command": "bench/task_engines.py --dist /tmp/tjsform-dist --model smollm2-135m --runs 3 --out /tmp/te-tjsform/task_engines.json --machine 2-core Xeon loaded by other jobs (another helper's verify, a pytest -n 3, emcc), headless Chromium 156, no WebGPU, 2 threads",
        "load_avg": [
          6.11,
          9.81
        ],
        "load_s": {
          "wllama": 8.03,
          "transformers-wasm": 8.57
        },
        "chat": {
          "wllama": {
            "same_work_s": 50.58,
            "wall_s": 52.84
          },
          "transformers-wasm": {
            "same_work_s": 9.17,
            "wall_s": 9.17
          }
        },
        "form": {
          "wllama": {
            "same_work_s": 56.63,
            "wall_s": 57.43,
            "fields_right": 5
          },
          "transformers-wasm": {
            "same_work_s": 13.06,
            "wall_s": 13.85,
            "fields_right": 6
          }
        }
      },
      "llama-3.2-1b": {
        "params": 1235746816,
        "runs": 2,
        "measured": "2026-12-06",
        "command": "bench/task_engines.py --dist /tmp/engine-task/llama1b/dist --model llama-3.2-1b --runs 2 --merge --out /tmp/te2/task_engines.json --machine quiet 2-core Xeon, headless Chromium 156, no WebGPU, 2 threads",
        "load_avg": [
          2.14,
          2.3
        ],
        "load_s": {
          "wllama": 27.29,
          "transformers-wasm": 50.57
        },
        "chat": {
          "wllama": {
            "same_work_s": 23.49,
            "wall_s": 23.51
          },
          "transformers-wasm": {
            "same_work_s": 14.68,
            "wall_s": 14.68
          }
        },
        "form": {
          "wllama": {
            "same_work_s": 52.59,
            "wall_s": 52.91,
            "fields_right": 0
          },
          "transformers-wasm": {
            "same_work_s": 18.37,
            "wall_s": 18.18,
            "fields_right": 0
          }
        }
      }
    }
  }
};
