//! Patches: the input is a resource stream, then `\n%%\n` and a patch (strategic merge,
//! or a JSON 6902 sequence applied to every resource). Applying never panics, a patched
//! stream emits as YAML that reads back the same, and an empty strategic merge patch
//! (only a resource's identity) changes nothing.
#![no_main]

use std::path::Path;

use kiln::internals::{
    Patch, PatchBody, Target, apply_patch, emit, parse_patches, parse_resources,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((manifests, patch)) = text.split_once("\n%%\n") else {
        return;
    };
    let Ok(resources) = parse_resources(manifests) else {
        return;
    };

    for r in &resources {
        if r.name().is_empty() {
            continue; // only `generateName`: a patch cannot name it
        }
        let mut meta = Map::new();
        meta.insert("name".into(), json!(r.name()));
        if !r.namespace().is_empty() {
            meta.insert("namespace".into(), json!(r.namespace()));
        }
        let mut body = Map::new();
        if let Some(v) = r.as_object().get("apiVersion") {
            body.insert("apiVersion".into(), v.clone());
        }
        body.insert("kind".into(), json!(r.kind()));
        body.insert("metadata".into(), Value::Object(meta));
        let empty = Patch {
            source: "empty".into(),
            body: PatchBody::StrategicMerge(Value::Object(body)),
            target: None,
        };
        let mut patched = resources.clone();
        apply_patch(&mut patched, &empty).expect("an empty patch naming a resource applies");
        assert_eq!(patched, resources, "an empty patch changed {r}");
    }

    let target = Target::default();
    let Ok(patches) = parse_patches(patch, Path::new("patch.yaml"), "patch", None)
        .or_else(|_| parse_patches(patch, Path::new("patch.yaml"), "patch", Some(&target)))
    else {
        return;
    };
    let mut patched = resources;
    for p in &patches {
        if apply_patch(&mut patched, p).is_err() {
            return;
        }
    }
    if patched.iter().any(|r| {
        r.kind().ends_with("List") || !r.as_object().get("apiVersion").is_none_or(Value::is_string)
    }) {
        return;
    }
    let emitted = emit(&patched);
    let reparsed = parse_resources(&emitted)
        .unwrap_or_else(|e| panic!("patched resources do not read back: {e}\n{emitted}"));
    let plain = |rs: &[kiln::Resource]| rs.iter().map(|r| r.to_value()).collect::<Vec<_>>();
    assert_eq!(
        plain(&patched),
        plain(&reparsed),
        "patched resources changed:\n{emitted}"
    );
});
