#!/usr/bin/env bash
# Prepares a copy of a golden case that runs WASM functions for `kiln build`: every
# `@SHA256:NAME@` token becomes the pin of plugins/NAME built for wasm32-wasip1, and the
# module is put beside the file that names it as NAME.wasm (what the test harness does
# with kiln-test-artifacts). The module is the one kiln-test-artifacts built (under
# target/kiln-plugins, by `cargo test`) when there is one, else a release build of the
# plugin. Used by kustomize-diff.sh.
#
#   kustomize-wasm-case.sh CASE_DIR COPY_DIR
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
case_dir="$1"; copy="$2"
mkdir -p "$copy"
cp -R "$case_dir/." "$copy/"
target="${CARGO_TARGET_DIR:-$repo/target}"
grep -rlF '@SHA256:' "$copy" | while read -r file; do
  for name in $(grep -oE '@SHA256:[A-Za-z0-9_.-]+@' "$file" | sed -e 's/@SHA256://' -e 's/@$//' | sort -u); do
    crate="kiln-plugin-$name"
    wasm="$target/kiln-plugins/wasm32-wasip1/release/$crate.wasm"
    if [ ! -f "$wasm" ]; then
      (cd "$repo" && cargo build -q --release --target wasm32-wasip1 -p "$crate")
      wasm="$target/wasm32-wasip1/release/$crate.wasm"
    fi
    cp "$wasm" "$(dirname "$file")/$name.wasm"
    sum="$(sha256sum "$wasm" | cut -d' ' -f1)"
    sed -i "s/@SHA256:$name@/$sum/g" "$file"
  done
done
