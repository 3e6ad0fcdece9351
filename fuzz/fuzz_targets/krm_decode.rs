//! Plugin output: decoding any stdout never panics, and decoded items emit as YAML that
//! parses back to the same resources.
#![no_main]

use kiln::internals::{decode_plugin_output, emit, parse_resources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(items) = decode_plugin_output(data) else {
        return;
    };
    // A decoded `kind: ...List` item is unwrapped when read back as a manifest.
    if items.iter().any(|r| r.kind().ends_with("List")) {
        return;
    }
    let emitted = emit(&items);
    let reparsed = parse_resources(&emitted)
        .unwrap_or_else(|e| panic!("decoded items do not read back: {e}\n{emitted}"));
    let plain = |rs: &[kiln::Resource]| rs.iter().map(|r| r.to_value()).collect::<Vec<_>>();
    assert_eq!(plain(&items), plain(&reparsed), "items changed:\n{emitted}");
});
