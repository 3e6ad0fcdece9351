//! Templates: rendering with fuel always ends (libFuzzer's `-timeout` catches a hang) and
//! never panics. The input is the template, then optionally `\n%%\n` and the source of
//! `inc.j2`, which either may include (the template itself is `t.yaml.j2`).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (source, include) = text.split_once("\n%%\n").unwrap_or((text, ""));
    let includes = BTreeMap::from([
        ("inc.j2".to_string(), include.to_string()),
        ("t.yaml.j2".to_string(), source.to_string()),
    ]);
    let context = json!({
        "values": {
            "replicas": 3,
            "tier": "gold",
            "enabled": true,
            "ratio": 0.5,
            "hosts": ["a.example.com", "b.example.com"],
            "db": {"host": "db", "port": 5432, "password": null},
        },
        "images": {"example.com/api": "example.com/api:1.42.0"},
        "release": {"name": "acme-prod"},
    });
    let _ = kiln::internals::render_template(source, context, includes);
});
