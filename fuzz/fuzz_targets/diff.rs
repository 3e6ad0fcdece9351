//! `kiln diff`'s comparison: any two YAML streams (split at `\n%%\n`) compare without a
//! panic, markdown parts stay within their size with every code block closed, and a
//! value marked sensitive never shows.
#![no_main]

use kiln::diff::Comparison;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-s3cr3t-value";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (base, head) = text.split_once("\n%%\n").unwrap_or((text, ""));
    let mut c = Comparison::new();
    c.base("r", Ok(base.to_string()));
    c.head("r", Ok(head.to_string()));
    c.sensitive("r", [SECRET.to_string()]);
    let report = c.run();
    for out in [report.text(), report.json()] {
        assert!(!out.contains(SECRET), "a sensitive value shows:\n{out}");
    }
    let parts = report.markdown(1024);
    for p in &parts {
        assert!(p.len() <= 1024, "a part of {} bytes", p.len());
        assert!(!p.contains(SECRET), "a sensitive value shows:\n{p}");
        let fences = p.lines().filter(|l| l.starts_with("```")).count();
        assert_eq!(fences % 2, 0, "a code block is cut:\n{p}");
    }
});
