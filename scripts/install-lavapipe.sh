#!/usr/bin/env bash
# The f16 WebGPU rig's driver: Mesa's lavapipe (Vulkan on the CPU) from bookworm-backports,
# whose 25.x reports shaderFloat16; Dawn (npm `webgpu`) then offers an adapter with
# shader-f16. Bookworm's own Mesa 22.3 is rejected by Dawn. The backports suite is added for
# the Debian mirror apt already uses; nothing comes from anywhere else.
set -euo pipefail
ICD=/usr/share/vulkan/icd.d/lvp_icd.json
want=25
have=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
if [ -f "$ICD" ] && [ "${have%%.*}" -ge "$want" ] 2>/dev/null; then exit 0; fi

. /etc/os-release
suite="${VERSION_CODENAME}-backports"
list=/etc/apt/sources.list.d/webslm-backports.sources
if ! grep -rqs "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  mirror=$(awk -v s="$VERSION_CODENAME" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==s){print u; exit}}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null)
  [ -n "$mirror" ] || mirror=$(awk -v s="$VERSION_CODENAME" '$1=="deb" && $3==s {print $2; exit}' /etc/apt/sources.list)
  [ -n "$mirror" ] || { echo "install-lavapipe: no Debian mirror for $VERSION_CODENAME in apt's sources" >&2; exit 1; }
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" "$suite" > "$list"
fi
echo "installing Mesa's lavapipe from $suite (the f16 WebGPU rig)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t "$suite" mesa-vulkan-drivers >/dev/null
[ -f "$ICD" ] || { echo "install-lavapipe: $ICD missing after install" >&2; exit 1; }
