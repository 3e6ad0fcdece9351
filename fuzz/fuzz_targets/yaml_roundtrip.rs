//! Resource YAML: parse → emit → parse gives the same resources, and emitting is stable.
#![no_main]

use kiln::internals::{emit, parse_resources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(resources) = parse_resources(text) else {
        return;
    };
    let emitted = emit(&resources);
    let reparsed = parse_resources(&emitted)
        .unwrap_or_else(|e| panic!("emitted YAML does not parse: {e}\n{emitted}"));
    assert_eq!(
        resources, reparsed,
        "round trip changed resources:\n{emitted}"
    );
    assert_eq!(emitted, emit(&reparsed), "emitting is not stable");
});
