//! `add-owner`: annotates every item with `kiln.dev/owner: <team>`.

fn main() {
    kiln_plugin::run(kiln_plugin_add_owner::add_owner)
}
