//! Hostile plugins and hostile inputs at the level of a fleet: each one costs exactly one
//! clear error for its own release, inside the limits, and the other releases of the same
//! run still render. The single-call limits are in `plugin.rs`; small golden cases of bad
//! inputs are in `testdata/invalid/`; here are the cases that need a fleet around them or
//! inputs too big to commit.

use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use kiln::{Digest, Engine, Error, InputError, PluginError, Release, TemplateError, YamlError};
use kiln_test_artifacts::{ADD_OWNER, FIXTURE};

/// One engine for every case: a hostile plugin must leave it usable for the next.
static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::builder().no_cache(true).jobs(2).build().unwrap());

/// The most a failing case may take: its time limit (500 ms) plus compiling and slack.
const BOUND: Duration = Duration::from_secs(8);

const WASI: &str = "wasi_snapshot_preview1";

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn release_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: kiln.dev/v1alpha1\nkind: Release\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// A project with two releases: `hostile`, which runs `wasm` as plugin `hostile` with
/// `config` over two ConfigMaps, and `healthy`, which runs add-owner over the same.
fn fleet(dir: &Path, wasm: &[u8], config: &str) -> Vec<Release> {
    write(
        &dir.join("base/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    write(&dir.join("plugins/hostile.wasm"), wasm);
    write(&dir.join("plugins/add-owner.wasm"), ADD_OWNER.bytes());
    write(
        &dir.join("releases/hostile/release.yaml"),
        release_yaml(
            "hostile",
            &format!(
                "  resources: [../../base/cm.yaml]\n  plugins:\n  - name: hostile\n    wasm: ../../plugins/hostile.wasm\n    sha256: {}\n    config: {config}\n    timeout: 500ms\n    memory: 64Mi\n",
                Digest::of(wasm).to_hex()
            ),
        ),
    );
    write(
        &dir.join("releases/healthy/release.yaml"),
        release_yaml(
            "healthy",
            &format!(
                "  resources: [../../base/cm.yaml]\n  plugins:\n  - name: owner\n    wasm: ../../plugins/add-owner.wasm\n    sha256: {}\n    config: {{team: payments}}\n    timeout: 5s\n    memory: 64Mi\n",
                ADD_OWNER.sha256
            ),
        ),
    );
    ["hostile", "healthy"]
        .iter()
        .map(|n| Release::load_with_root(dir.join("releases").join(n), Some(dir)).unwrap())
        .collect()
}

/// Renders the two-release fleet; checks the healthy release rendered right and the
/// hostile one failed in bounded time with a message naming plugin, digest and release.
/// Returns the hostile release's plugin error.
fn hostile(wasm: &[u8], config: &str) -> PluginError {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), wasm, config);
    let started = Instant::now();
    let mut results = ENGINE.render_all(&releases).into_iter();
    let elapsed = started.elapsed();
    let (bad, good) = (results.next().unwrap(), results.next().unwrap());
    let good = good.unwrap_or_else(|e| panic!("the healthy release failed: {e}"));
    assert_eq!(
        good.yaml().matches("kiln.dev/owner: payments").count(),
        2,
        "{}",
        good.yaml()
    );
    let err = match bad {
        Ok(out) => panic!("the hostile release rendered:\n{}", out.yaml()),
        Err(e) => e,
    };
    assert!(elapsed < BOUND, "took {elapsed:?}: {err}");
    let text = err.to_string();
    let subject = format!(
        "release `hostile`: plugin `hostile` (sha256:{}): ",
        Digest::of(wasm).short()
    );
    assert!(text.starts_with(&subject), "{text}");
    let Error::Plugin(p) = err.root() else {
        panic!("not a plugin error: {err:?}")
    };
    assert_eq!(p.plugin(), "hostile");
    assert_eq!(p.digest(), Some(&Digest::of(wasm)));
    // The error takes the `Error` apart: keep the cause.
    match err {
        Error::Release { source, .. } => match *source {
            Error::Plugin(p) => p,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn fixture(mode: &str) -> PluginError {
    hostile(&FIXTURE.bytes(), &format!("{{mode: {mode}}}"))
}

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

/// A command whose `_start` runs `body`, with `proc_exit` imported as `$exit`.
fn command(body: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") {body}))"#
    ))
}

// Hostile plugins.

#[test]
fn endless_loop_is_the_time_limit() {
    let err = fixture("loop");
    assert!(
        matches!(err, PluginError::Timeout { limit, .. } if limit == Duration::from_millis(500)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("timed out after 500ms (time limit)")
    );
}

#[test]
fn unbounded_and_huge_allocations_are_the_memory_limit() {
    for mode in ["alloc", "alloc-huge"] {
        let err = fixture(mode);
        assert!(
            matches!(err, PluginError::MemoryLimit { limit, .. } if limit == 64 << 20),
            "{mode}: {err:?}"
        );
        assert!(
            err.to_string().contains("but the memory limit is 64 MiB"),
            "{err}"
        );
    }
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let err = fixture("recurse");
    assert!(matches!(err, PluginError::StackOverflow { .. }), "{err:?}");
    // Pure wasm recursion, outside any linear-memory stack.
    let err = hostile(
        &wat(r#"(module (memory (export "memory") 1)
              (func $f (call $f)) (func (export "_start") (call $f)))"#),
        "{}",
    );
    assert!(matches!(err, PluginError::StackOverflow { .. }), "{err:?}");
}

#[test]
fn stdout_and_stderr_floods_are_stopped() {
    // stdout: the release keeps the default output cap (64 MiB); writing it takes longer
    // than the time limit or hits the cap, either way a named limit.
    let err = fixture("flood-stdout");
    assert!(
        matches!(
            err,
            PluginError::OutputLimit { .. } | PluginError::Timeout { .. }
        ),
        "{err:?}"
    );
    // stderr is never an error by itself: the flood runs into the time limit, and what
    // the message shows of it is capped.
    let err = fixture("flood-stderr");
    let PluginError::Timeout { stderr, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(stderr.len(), 64 << 10);
}

#[test]
fn partial_or_garbage_output_is_bad_output() {
    for mode in ["partial", "garbage"] {
        let err = fixture(mode);
        assert!(
            matches!(err, PluginError::BadOutput { .. }),
            "{mode}: {err:?}"
        );
        assert!(
            err.to_string().contains("output is not a ResourceList"),
            "{err}"
        );
    }
    // Nothing at all on stdout, exit 0.
    let err = hostile(&command(""), "{}");
    assert!(matches!(err, PluginError::BadOutput { .. }), "{err:?}");
}

#[test]
fn exit_codes_panics_and_error_results() {
    let err = fixture("exit");
    assert!(
        matches!(&err, PluginError::Exit { code: 3, stderr, .. } if stderr.contains("exiting with code 3")),
        "{err:?}"
    );
    let err = fixture("panic");
    assert!(
        matches!(&err, PluginError::Results { results, .. } if results[0].contains("panic on purpose")),
        "{err:?}"
    );
    let err = fixture("error-result");
    assert!(matches!(err, PluginError::Results { .. }), "{err:?}");
}

#[test]
fn imports_the_sandbox_does_not_provide_are_refused_before_running() {
    for (import, shown) in [
        (r#"(import "env" "now" (func))"#, "function `env::now`"),
        (
            r#"(import "wasi:sockets/tcp@0.2.0" "connect" (func (param i32)))"#,
            "function `wasi:sockets/tcp@0.2.0::connect`",
        ),
        (
            r#"(import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32) (result i32)))"#,
            "function `wasi_snapshot_preview1::sock_open`",
        ),
        (
            r#"(import "env" "memory" (memory 1))"#,
            "memory `env::memory`",
        ),
    ] {
        let memory = if import.contains("memory") {
            ""
        } else {
            r#"(memory (export "memory") 1)"#
        };
        let err = hostile(
            &wat(&format!(
                r#"(module {import} {memory} (func (export "_start")))"#
            )),
            "{}",
        );
        let PluginError::NotCommand { reason, .. } = &err else {
            panic!("{import}: {err:?}")
        };
        assert!(
            reason.starts_with(&format!(
                "imports {shown}, which the sandbox does not provide"
            )),
            "{reason}"
        );
    }
}

#[test]
fn wasi_socket_calls_find_no_socket() {
    // Preview 1's socket calls link, but there is no socket to use: fd 3 is not open.
    let wasm = wat(&format!(
        r#"(module
  (import "{WASI}" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $exit (call $accept (i32.const 3) (i32.const 0) (i32.const 64)))))"#
    ));
    let err = hostile(&wasm, "{}");
    // errno 8 is EBADF: no such descriptor.
    assert!(matches!(err, PluginError::Exit { code: 8, .. }), "{err:?}");
}

#[test]
fn modules_that_are_not_commands_are_refused() {
    let cases: [(&str, Vec<u8>, &str); 7] = [
        (
            "no _start",
            wat(r#"(module (memory (export "memory") 1))"#),
            "has no _start: not a WASI command module",
        ),
        (
            "a reactor",
            wat(r#"(module (memory (export "memory") 1) (func (export "_initialize")))"#),
            "has no _start: not a WASI command module",
        ),
        (
            "_start that is not a function",
            wat(r#"(module (memory (export "_start") 1))"#),
            "has no _start: not a WASI command module",
        ),
        (
            "a component",
            wat("(component)"),
            "is a WASI component, expected a core module (WASI preview 1 command)",
        ),
        (
            "a text file",
            b"#!/bin/sh\necho not wasm\n".to_vec(),
            "invalid wasm",
        ),
        ("an empty file", Vec::new(), "invalid wasm"),
        (
            "a truncated module",
            command("(call $exit (i32.const 0))")[..20].to_vec(),
            "invalid wasm",
        ),
    ];
    for (what, wasm, reason_start) in cases {
        let err = hostile(&wasm, "{}");
        let PluginError::NotCommand { reason, .. } = &err else {
            panic!("{what}: {err:?}")
        };
        assert!(reason.starts_with(reason_start), "{what}: {reason}");
    }
}

#[test]
fn a_start_with_the_wrong_signature_is_refused() {
    let err = hostile(
        &wat(r#"(module (memory (export "memory") 1) (func (export "_start") (param i32)))"#),
        "{}",
    );
    let PluginError::NotCommand { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("_start"), "{reason}");
}

#[test]
fn traps_on_start_name_the_trap() {
    // In `_start`.
    let err = hostile(&command("unreachable"), "{}");
    let PluginError::Trap { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("unreachable"), "{message}");
    // In the module's start function, while it is instantiated.
    let err = hostile(
        &wat(r#"(module (memory (export "memory") 1)
              (func $init unreachable) (start $init) (func (export "_start")))"#),
        "{}",
    );
    let PluginError::Trap { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("unreachable"), "{message}");
    // A data segment past the end of memory.
    let err = hostile(
        &wat(r#"(module (memory (export "memory") 1)
              (data (i32.const 65535) "xx") (func (export "_start")))"#),
        "{}",
    );
    assert!(matches!(err, PluginError::Trap { .. }), "{err:?}");
}

#[test]
fn an_endless_start_function_is_the_time_limit() {
    let err = hostile(
        &wat(r#"(module (memory (export "memory") 1)
              (func $init (loop $l (br $l))) (start $init) (func (export "_start")))"#),
        "{}",
    );
    assert!(matches!(err, PluginError::Timeout { .. }), "{err:?}");
}

#[test]
fn exiting_from_the_start_function_is_an_exit() {
    let wasm = wat(&format!(
        r#"(module
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $init (call $exit (i32.const 9))) (start $init) (func (export "_start")))"#
    ));
    let err = hostile(&wasm, "{}");
    assert!(matches!(err, PluginError::Exit { code: 9, .. }), "{err:?}");
}

#[test]
fn memories_and_tables_over_the_limits() {
    // An initial memory over the limit.
    let err = hostile(
        &wat(r#"(module (memory (export "memory") 2000) (func (export "_start")))"#),
        "{}",
    );
    assert!(
        matches!(err, PluginError::MemoryLimit { limit, .. } if limit == 64 << 20),
        "{err:?}"
    );
    // `memory.grow` past the limit fails inside the guest, which then traps.
    let err = hostile(
        &command("(if (i32.eq (memory.grow (i32.const 2000)) (i32.const -1)) (then unreachable))"),
        "{}",
    );
    assert!(matches!(err, PluginError::MemoryLimit { .. }), "{err:?}");
    // A table of a hundred million entries: over kiln's table limit, so the module
    // is refused before it compiles.
    let err = hostile(
        &wat(
            r#"(module (memory (export "memory") 1) (table 100000000 funcref) (func (export "_start")))"#,
        ),
        "{}",
    );
    let PluginError::NotCommand { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        reason,
        "table 0 declares 100000000 entries; kiln allows at most 200000"
    );
    // Growing a table that far fails inside the guest.
    let err = hostile(
        &wat(r#"(module (memory (export "memory") 1) (table 1 funcref)
              (func (export "_start")
                (if (i32.eq (table.grow (ref.null func) (i32.const 100000000)) (i32.const -1))
                  (then unreachable))))"#),
        "{}",
    );
    assert!(matches!(err, PluginError::Trap { .. }), "{err:?}");
}

#[test]
fn a_plugin_that_changed_under_its_pin_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), &FIXTURE.bytes(), "{mode: ok}");
    // The file is replaced after the release was written: same name, other bytes.
    write(&dir.path().join("plugins/hostile.wasm"), command(""));
    let mut results = ENGINE.render_all(&releases).into_iter();
    let err = results.next().unwrap().unwrap_err();
    assert!(
        matches!(err.root(), Error::DigestMismatch { plugin, .. } if plugin == "hostile"),
        "{err:?}"
    );
    results.next().unwrap().unwrap();
}

#[test]
fn hostile_plugins_do_not_poison_a_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let releases = fleet(dir.path(), &FIXTURE.bytes(), "{mode: partial}");
    for _ in 0..2 {
        let engine = Engine::builder().cache_dir(cache.path()).build().unwrap();
        let mut results = engine.render_all(&releases).into_iter();
        let err = results.next().unwrap().unwrap_err();
        assert!(
            matches!(err.root(), Error::Plugin(PluginError::BadOutput { .. })),
            "{err:?}"
        );
        results.next().unwrap().unwrap();
    }
    // Only the healthy release has a render entry; every entry verifies.
    let report = kiln::Cache::open(cache.path()).verify().unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    let renders = std::fs::read_dir(cache.path().join("renders-v1"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .count();
    assert_eq!(renders, 1);
}

// Hostile inputs too big or too many to commit as golden cases.

/// A project with one release over `file` (written with `text`), as its only resource.
fn input_release(dir: &Path, file: &str, text: impl AsRef<[u8]>) -> Release {
    write(&dir.join(file), text);
    write(
        &dir.join("release.yaml"),
        release_yaml("input", &format!("  resources: [{file}]\n")),
    );
    Release::load_with_root(dir.join("release.yaml"), Some(dir)).unwrap()
}

/// Renders a release over `file`, expecting a failure inside [`BOUND`].
fn input_error(file: &str, text: impl AsRef<[u8]>) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let release = input_release(dir.path(), file, text);
    let started = Instant::now();
    let err = ENGINE.render(&release).unwrap_err();
    assert!(started.elapsed() < BOUND, "{:?}: {err}", started.elapsed());
    assert!(err.to_string().starts_with("release `input`: "), "{err}");
    err
}

fn yaml_error(err: &Error) -> &YamlError {
    match err.root() {
        Error::Yaml(y) => y,
        other => panic!("not a YAML error: {other:?}"),
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";

#[test]
fn alias_bombs_are_refused_before_they_expand() {
    // Ten levels of ten aliases: 10^10 strings if expanded, and in a sequence form too.
    let mut text = format!("{CM}l0: &a0 [lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("l{i}: &a{i} [{refs}]\n"));
    }
    text.push_str("data: {bomb: *a9}\n");
    let err = input_error("bomb.yaml", &text);
    let y = yaml_error(&err);
    assert_eq!(y.file, Path::new("bomb.yaml"));
    assert_eq!(y.message, "repetition limit exceeded");
    // An alias to a large mapping used a few times is fine: aliases are legal YAML.
    let ok = format!("{CM}data: &d {{a: '1', b: '2'}}\nx: *d\ny: *d\n");
    let dir = tempfile::tempdir().unwrap();
    ENGINE
        .render(&input_release(dir.path(), "ok.yaml", ok))
        .unwrap();
}

#[test]
fn deep_nesting_is_bounded_in_every_form() {
    let depth = 100_000;
    let flow = format!(
        "{CM}data:\n  x: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let json = format!(
        "{{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {{\"name\": \"x\"}}, \"data\": {}1{}}}",
        "{\"a\": ".repeat(depth),
        "}".repeat(depth)
    );
    let mut block = String::from(CM);
    for level in 0..2_000 {
        block.push_str(&" ".repeat(level * 2));
        block.push_str("a:\n");
    }
    for (file, text) in [
        ("flow.yaml", flow),
        ("deep.json", json),
        ("block.yaml", block),
    ] {
        let err = input_error(file, &text);
        let y = yaml_error(&err);
        assert!(
            y.message.contains("recursion limit exceeded") || y.message.contains("deeper"),
            "{file}: {err}"
        );
        assert!(
            y.line.is_some() || y.message.contains("deeper"),
            "{file}: {err}"
        );
    }
}

#[test]
fn files_over_the_size_limit_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("release.yaml"),
        release_yaml("input", "  resources: [big.yaml]\n"),
    );
    // Sparse: 65 MiB that cost no disk, refused by its size without being read.
    let big = std::fs::File::create(dir.path().join("big.yaml")).unwrap();
    big.set_len((64 << 20) + 1).unwrap();
    let release =
        Release::load_with_root(dir.path().join("release.yaml"), Some(dir.path())).unwrap();
    let err = ENGINE.render(&release).unwrap_err();
    assert!(
        matches!(err.root(), Error::Input(InputError::TooLarge { size, limit, .. })
            if *size == (64 << 20) + 1 && *limit == 64 << 20),
        "{err:?}"
    );
    assert!(err.to_string().contains("`big.yaml`"), "{err}");
    // The release file itself.
    let big = std::fs::File::create(dir.path().join("release.yaml")).unwrap();
    big.set_len((64 << 20) + 1).unwrap();
    let err =
        Release::load_with_root(dir.path().join("release.yaml"), Some(dir.path())).unwrap_err();
    assert!(
        matches!(err.root(), Error::Input(InputError::TooLarge { .. })),
        "{err:?}"
    );
}

#[test]
fn a_large_legal_file_renders_in_bounded_time() {
    // 5,000 ConfigMaps, about 1 MiB.
    let text: String = (0..5_000)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  k: \"{i}\"\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let release = input_release(dir.path(), "many.yaml", text);
    let started = Instant::now();
    let out = ENGINE.render(&release).unwrap();
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert_eq!(out.yaml().matches("kind: ConfigMap").count(), 5_000);
}

#[test]
fn invalid_utf8_anywhere_names_the_byte() {
    for (text, at) in [
        (b"\xff\xfe".to_vec(), 0),
        (
            [CM.as_bytes(), b"data: {k: \"\xc3\"}\n"].concat(),
            CM.len() + 11,
        ),
        (
            [CM.as_bytes(), b"# \xed\xa0\x80 a surrogate\n"].concat(),
            CM.len() + 2,
        ),
    ] {
        let err = input_error("bad.yaml", &text);
        assert!(
            matches!(err.root(), Error::Input(InputError::NotUtf8 { offset, .. }) if *offset == at),
            "{err:?}"
        );
    }
}

#[test]
fn keys_tabs_and_missing_identity_have_positions() {
    // Duplicate keys, at any depth.
    let err = input_error("dup.yaml", format!("{CM}data:\n  a: '1'\n  a: '2'\n"));
    let y = yaml_error(&err);
    assert!(
        y.message.contains("duplicate entry with key \"a\""),
        "{err}"
    );
    assert_eq!(y.line, Some(6), "{err}");
    // Non-string keys: a mapping as key is refused, scalars become strings.
    let err = input_error("key.yaml", format!("{CM}data:\n  ? {{a: 1}}\n  : v\n"));
    let y = yaml_error(&err);
    assert_eq!(
        y.message, "data: mapping key must be a scalar, found a mapping",
        "{err}"
    );
    assert_eq!(y.line, Some(6), "{err}");
    // A tab where indentation is expected.
    let err = input_error("tab.yaml", format!("{CM}data:\n\tk: v\n"));
    let y = yaml_error(&err);
    assert_eq!((y.line, y.column), (Some(6), Some(1)), "{err}");
    // No kind, no metadata, no name, an empty name, a name that is not a string, a
    // document that is not a mapping.
    for (text, why) in [
        (
            "apiVersion: v1\nmetadata: {name: x}\n",
            "resource has no `kind`",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\n",
            "has no `metadata.name`",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            "has no `metadata.name`",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n",
            "",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x]}\n",
            "",
        ),
        ("- just\n- a list\n", ""),
        ("just a string\n", ""),
    ] {
        let err = input_error("r.yaml", text);
        let y = yaml_error(&err);
        assert_eq!(y.file, Path::new("r.yaml"));
        assert!(y.message.starts_with("document 1: "), "{text:?}: {err}");
        assert!(y.message.contains(why), "{text:?}: {err}");
    }
}

#[test]
fn templates_that_run_away_are_stopped() {
    for (what, body) in [
        (
            "a loop",
            "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
        ),
        (
            "recursion",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ),
        ("a huge string", "{{ 'x' * 1000000000 }}"),
        (
            "a huge range",
            "{% for i in range(1000000000) %}{% endfor %}",
        ),
    ] {
        let err = input_error("t.yaml.j2", format!("{CM}data:\n  x: \"{body}\"\n"));
        assert!(
            matches!(
                err.root(),
                Error::Template(TemplateError::Render { line: Some(6), .. })
            ),
            "{what}: {err:?}"
        );
        assert!(err.to_string().contains("`t.yaml.j2`:6: "), "{what}: {err}");
    }
}

#[test]
fn paths_that_leave_the_root_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("project");
    write(&outer.path().join("secret.yaml"), CM);
    write(&dir.join("cm.yaml"), CM);
    std::os::unix::fs::symlink(outer.path().join("secret.yaml"), dir.join("abs-link.yaml"))
        .unwrap();
    std::os::unix::fs::symlink("../secret.yaml", dir.join("rel-link.yaml")).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(outer.path(), dir.join("outer")).unwrap();
    let secret = outer.path().join("secret.yaml");
    for resource in [
        "../secret.yaml".to_string(),
        "sub/../../secret.yaml".to_string(),
        secret.display().to_string(),
        "abs-link.yaml".to_string(),
        "rel-link.yaml".to_string(),
        "sub/up/../secret.yaml".to_string(),
        "outer/secret.yaml".to_string(),
        "outer".to_string(),
    ] {
        write(
            &dir.join("release.yaml"),
            release_yaml("input", &format!("  resources: [cm.yaml, '{resource}']\n")),
        );
        let release = Release::load_with_root(dir.join("release.yaml"), Some(&dir)).unwrap();
        let err = ENGINE.render(&release).unwrap_err();
        let Error::Input(InputError::OutsideRoot { path, .. }) = err.root() else {
            panic!("{resource}: {err:?}")
        };
        assert_eq!(path, Path::new(&resource));
        assert!(err.to_string().contains("leaves the project root"), "{err}");
    }
    // A symlink that stays inside the root is followed.
    std::os::unix::fs::symlink("cm.yaml", dir.join("in-link.yaml")).unwrap();
    write(
        &dir.join("release.yaml"),
        release_yaml("input", "  resources: [in-link.yaml]\n"),
    );
    let release = Release::load_with_root(dir.join("release.yaml"), Some(&dir)).unwrap();
    ENGINE.render(&release).unwrap();
}
