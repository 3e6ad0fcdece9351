# Sourced by the comparison scripts: builds the release `kiln` and the plugins (the
# plugin artifacts come from kiln-test-artifacts' build script), then sets
#   kiln          the release binary
#   plugins_dir   where the Rust plugins' .wasm files are
# and defines `plugin_arg NAME`, the `--plugin NAME=PATH:SHA256` argument of
# scripts/gen-fleet.py for one of them. Needs `repo` set to the repository root.
( cd "$repo" && cargo build --release -q -p kiln-cli -p kiln-test-artifacts )
kiln="$repo/target/release/kiln"
plugins_dir="$repo/target/kiln-plugins/wasm32-wasip1/release"
plugin_arg() {
  local wasm="$plugins_dir/kiln-plugin-$1.wasm"
  echo "--plugin" "$1=$wasm:$(sha256sum "$wasm" | cut -d' ' -f1)"
}
