#!/usr/bin/env bash
# The Vulkan layer that lets headless Chromium run WebGPU on lavapipe (the tests' faster
# browser rig, tests/browser/chromium_rig.py): one C file compiled next to its manifest in
# scripts/vk-fake-semaphore-fd/. Needs a C compiler and the Vulkan headers (Debian
# libvulkan-dev); rebuilt only when the source is newer than the library (under a second).
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/vk-fake-semaphore-fd"
src="$dir/fake_semaphore_fd.c"
lib="$dir/libVkLayer_fake_semaphore_fd.so"
if [ -f "$lib" ] && [ "$lib" -nt "$src" ]; then exit 0; fi
if [ ! -f /usr/include/vulkan/vk_layer.h ] || ! command -v cc >/dev/null; then
  echo "installing Debian packages: libvulkan-dev gcc (the lavapipe Chromium rig's Vulkan layer)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan-dev gcc >/dev/null
fi
cc -shared -fPIC -O2 -Wall -Wextra -o "$lib.tmp" "$src" -lpthread
mv "$lib.tmp" "$lib"
