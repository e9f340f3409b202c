#!/usr/bin/env bash
# Installs every Debian package octet's build, tests and benchmarks need.
# Idempotent: packages already present are skipped by apt; safe to run twice.
# The peers octet is measured against are installed too, since tests check
# parity with them: Debian's PyTorch and onnx (python3), onnxruntime-node (npm).
# Headless chromium renders `octet report`'s HTML in the report tests. clang and its
# runtime libraries build the libFuzzer targets and the sanitizer job (scripts/sanitize.sh).
#   scripts/setup.sh          (--peers is accepted for compatibility; it changes nothing)
set -euo pipefail

for a in "$@"; do
  case "$a" in
    --peers) ;;
    *) echo "setup.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

build_pkgs=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libutf8proc-dev libsentencepiece-dev
  libopenblas-dev libopenblas0-pthread
  libcpp-httplib-dev wrk curl
  python3-onnx python3-numpy python3-torch
  chromium
  clang libclang-rt-14-dev
)
# node/npm: use the machine's own when present (Debian's npm conflicts with NodeSource builds).
command -v npm >/dev/null 2>&1 || build_pkgs+=(nodejs npm)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${build_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all Debian packages present"
fi

# onnxruntime-node for the ONNX tests and the ORT peer (bench/peers/ort_run.js), and
# node-llama-cpp for the llama.cpp peer (bench/peers/llama_cpp.mjs), in
# bench/peers/node/node_modules. ONNXRUNTIME_NODE_INSTALL=skip: the package's install
# script would otherwise try to download GPU binaries and fail offline; the CPU
# binaries ship inside the npm package. NODE_LLAMA_CPP_SKIP_DOWNLOAD=true and
# --omit=optional: llama.cpp's prebuilt CPU binaries come from
# @node-llama-cpp/linux-x64 (a listed dependency); nothing is compiled or downloaded.
here=$(cd "$(dirname "$0")/.." && pwd)
peer_dir="$here/bench/peers/node"
peer_json='{"name":"octet-peers","private":true,"dependencies":{"onnxruntime-node":"^1.30.0","node-llama-cpp":"3.22.1","@node-llama-cpp/linux-x64":"3.22.1"}}'
if ! command -v npm >/dev/null 2>&1; then
  echo "setup.sh: npm not found: onnxruntime-node and node-llama-cpp not installed (ONNX Runtime tests will fail)" >&2
elif [ -d "$peer_dir/node_modules/onnxruntime-node" ] && [ -d "$peer_dir/node_modules/node-llama-cpp" ] &&
     [ -d "$peer_dir/node_modules/@node-llama-cpp/linux-x64" ]; then
  echo "setup.sh: onnxruntime-node and node-llama-cpp present"
else
  mkdir -p "$peer_dir"
  [ -f "$peer_dir/package.json" ] || echo "$peer_json" > "$peer_dir/package.json"
  echo "setup.sh: installing onnxruntime-node and node-llama-cpp into $peer_dir"
  if ! (cd "$peer_dir" && ONNXRUNTIME_NODE_INSTALL=skip NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
          npm install --no-audit --no-fund --prefer-offline --omit=optional); then
    echo "setup.sh: npm install of the node peers failed (offline with an empty npm cache?)" >&2
  fi
fi
