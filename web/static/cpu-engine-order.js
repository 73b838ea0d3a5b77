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
    "machine": "quiet 2-core Xeon (nothing else running), headless Chromium 156, 2 threads",
    "command": "bench/task_engines.py --dist /tmp/tjsform-dist --model smollm2-135m --runs 3 --merge --out /tmp/te-quiet/task_engines.json --machine quiet 2-core Xeon (nothing else running), headless Chromium 156, 2 threads",
    "rule": "per task, the engines with the most form fields right first, then the fastest same-work time",
    "models": {
      "smollm2-135m": {
        "params": 134479872,
        "runs": 3,
        "measured": "2026-12-07",
        "command": "bench/task_engines.py --dist /tmp/tjsform-dist --model smollm2-135m --runs 3 --merge --out /tmp/te-quiet/task_engines.json --machine quiet 2-core Xeon (nothing else running), headless Chromium 156, 2 threads",
        "load_avg": [
          0.79,
          2.36
        ],
        "load_s": {
          "wllama": 4.33,
          "transformers-wasm": 6.55
        },
        "chat": {
          "wllama": {
            "same_work_s": 4.17,
            "wall_s": 4.17
          },
          "transformers-wasm": {
            "same_work_s": 2.84,
            "wall_s": 2.84
          }
        },
        "form": {
          "wllama": {
            "same_work_s": 7.2,
            "wall_s": 6.94,
            "fields_right": 5
          },
          "transformers-wasm": {
            "same_work_s": 3.74,
            "wall_s": 3.95,
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
