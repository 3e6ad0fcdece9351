//! `add-owner` version 2: also stamps `kiln.dev/owner-version: "2"`, so tests
//! can run two versions of one plugin side by side.

fn main() {
    kiln_plugin::run(kiln_plugin_add_owner::add_owner_v2)
}
