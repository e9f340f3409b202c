#!/usr/bin/env bash
# Packs a CUDA build's octet and octet_cuda_tests with the non-CUDA shared
# libraries they load (OpenBLAS, fmt, utf8proc, ...) into one tar.xz, for a GPU
# machine whose image has CUDA but not Debian's -dev packages. The CUDA
# libraries (cudart, cuBLASLt) are not packed: the GPU machine's own are used,
# so its CUDA major version must match the build's.
#   scripts/gpu_bundle.sh BUILD_DIR OUT.tar.xz
# Unpack there and run: scripts/gpu_check.sh --prebuilt UNPACKED_DIR
set -euo pipefail
build=$1 dest=$2
stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/lib"
cp "$build/bin/octet" "$build/octet_cuda_tests" "$stage/bin/"
strip "$stage/bin/"*
for b in "$stage/bin/"*; do
  ldd "$b" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so|/libcu|/libnv' |
  while read -r so; do cp -L "$so" "$stage/lib/"; done
tar -C "$stage" -cJf "$dest" bin lib
rm -rf "$stage"
ls -la "$dest"
