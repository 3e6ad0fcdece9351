//! Host tests on small hand-written modules; the fixture plugins are exercised in
//! `tests/it/plugin.rs`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::sandbox::MAX_TABLE_ELEMENTS;
use super::*;

const WASI: &str = "wasi_snapshot_preview1";

/// A module whose `_start` runs `body` and then copies stdin to stdout.
fn echo_after(imports: &str, body: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "{WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $proc_exit (param i32)))
  {imports}
  (memory (export "memory") 2)
  (data (i32.const 512) "boom\n")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func (export "_start")
    (local $n i32)
    {body}
    (loop $l
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 65536))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.gt_u (local.get $n) (i32.const 0))
        (then
          (call $write (i32.const 1) (i32.const 1024) (local.get $n))
          (br $l))))))"#
    );
    wat::parse_str(&wat).unwrap()
}

fn echo() -> Vec<u8> {
    echo_after("", "")
}

fn items() -> Vec<Resource> {
    (0..3)
        .map(|i| {
            Resource::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")},
            }))
            .unwrap()
        })
        .collect()
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_millis(300),
        memory: 16 << 20,
        stdout: 1 << 20,
        stderr: 1 << 10,
    }
}

fn run(rt: &Runtime, wasm: &[u8]) -> Result<PluginOutput, PluginError> {
    rt.run(
        "t",
        &Digest::of(wasm),
        wasm,
        Some(&json!({"a": 1})),
        &limits(),
        items(),
    )
}

#[test]
fn runtime_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Runtime>();
}

#[test]
fn echo_returns_the_items() {
    let rt = runtime();
    let out = run(&rt, &echo()).unwrap();
    assert_eq!(out.items, items());
    assert!(out.messages.is_empty());
    run(&rt, &echo()).unwrap();
    let stats = rt.stats();
    assert_eq!((stats.compiles, stats.memory_hits), (1, 1));
}

#[test]
fn a_loop_times_out() {
    let wasm = echo_after("", "(loop $spin (br $spin))");
    let started = Instant::now();
    let err = run(&runtime(), &wasm).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let PluginError::Timeout { limit, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*limit, Duration::from_millis(300));
    assert!(
        err.to_string()
            .contains("timed out after 300ms (time limit)"),
        "{err}"
    );
}

#[test]
fn a_refused_growth_is_the_memory_limit() {
    let wasm = echo_after(
        "",
        "(if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable))",
    );
    let err = run(&runtime(), &wasm).unwrap_err();
    let PluginError::MemoryLimit {
        limit, requested, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*limit, *requested), (16 << 20, 1002 * 65536));
    assert!(
        err.to_string().contains("the memory limit is 16 MiB"),
        "{err}"
    );
}

#[test]
fn an_initial_memory_over_the_limit_is_the_memory_limit() {
    let wasm =
        wat::parse_str(r#"(module (memory (export "memory") 1000) (func (export "_start")))"#)
            .unwrap();
    let err = run(&runtime(), &wasm).unwrap_err();
    assert!(matches!(err, PluginError::MemoryLimit { .. }), "{err:?}");
}

#[test]
fn a_memory_limit_over_the_maximum_is_refused() {
    let wasm = echo();
    let limits = Limits {
        memory: Limits::MAX_MEMORY + 1,
        ..limits()
    };
    let err = runtime()
        .run("t", &Digest::of(&wasm), &wasm, None, &limits, items())
        .unwrap_err();
    assert!(matches!(err, PluginError::LimitTooLarge { .. }), "{err:?}");
}

#[test]
fn exit_codes_and_stderr() {
    let wasm = echo_after(
        "",
        "(call $write (i32.const 2) (i32.const 512) (i32.const 5)) (call $proc_exit (i32.const 3))",
    );
    let err = run(&runtime(), &wasm).unwrap_err();
    let PluginError::Exit { code, stderr, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*code, stderr.as_str()), (3, "boom\n"));
    let digest = Digest::of(&wasm).short();
    assert_eq!(
        err.to_string(),
        format!("plugin `t` (sha256:{digest}): exited with code 3; stderr:\n  boom")
    );
    // Exit code 0 through proc_exit is success.
    let wasm = echo_after("", "");
    assert!(run(&runtime(), &wasm).is_ok());
}

#[test]
fn stdout_past_the_limit_stops_the_plugin() {
    let wasm = echo_after(
        "",
        "(loop $flood (call $write (i32.const 1) (i32.const 1024) (i32.const 65536)) (br $flood))",
    );
    let err = run(&runtime(), &wasm).unwrap_err();
    assert!(
        matches!(err, PluginError::OutputLimit { limit, .. } if limit == 1 << 20),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("wrote more than the output limit of 1 MiB to stdout")
    );
}

#[test]
fn stderr_past_the_limit_is_truncated() {
    let wasm = echo_after(
        "(global $i (mut i32) (i32.const 0))",
        "(loop $flood
           (call $write (i32.const 2) (i32.const 512) (i32.const 5))
           (global.set $i (i32.add (global.get $i) (i32.const 1)))
           (br_if $flood (i32.lt_u (global.get $i) (i32.const 10000))))",
    );
    run(&runtime(), &wasm).unwrap();
}

#[test]
fn infinite_recursion_is_a_stack_overflow() {
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func $r (call $r))
             (func (export "_start") (call $r)))"#,
    )
    .unwrap();
    let err = run(&runtime(), &wasm).unwrap_err();
    assert!(matches!(err, PluginError::StackOverflow { .. }), "{err:?}");
}

#[test]
fn a_trap_names_the_trap() {
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
    )
    .unwrap();
    let err = run(&runtime(), &wasm).unwrap_err();
    let PluginError::Trap { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("unreachable"), "{message}");
}

#[test]
fn garbage_output_is_bad_output() {
    let wasm = wat::parse_str(format!(
        r#"(module
             (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (data (i32.const 64) "hello")
             (func (export "_start")
               (i32.store (i32.const 0) (i32.const 64))
               (i32.store (i32.const 4) (i32.const 5))
               (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#
    ))
    .unwrap();
    let err = run(&runtime(), &wasm).unwrap_err();
    assert!(matches!(err, PluginError::BadOutput { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("output is not a ResourceList: expected a mapping, found a string"),
        "{err}"
    );
}

#[test]
fn modules_that_are_not_commands() {
    let component = wat::parse_str("(component)").unwrap();
    let no_start = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    let foreign = wat::parse_str(
        r#"(module (import "env" "now" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .unwrap();
    let reason = |wasm: &[u8]| match check_module(wasm).unwrap_err() {
        PluginError::NotCommand { reason, .. } => reason,
        e => panic!("{e:?}"),
    };
    assert_eq!(
        reason(&component),
        "is a WASI component, expected a core module (WASI preview 1 command)"
    );
    assert_eq!(
        reason(&no_start),
        "has no _start: not a WASI command module"
    );
    assert!(
        reason(&foreign).starts_with("imports function `env::now`"),
        "{}",
        reason(&foreign)
    );
    assert!(reason(b"\0asm\x01\0\0\0\x99").starts_with("invalid wasm"));
    // The runtime gives the same reasons, naming the plugin.
    let err = run(&runtime(), &no_start).unwrap_err();
    assert!(err.to_string().starts_with("plugin `t` (sha256:"), "{err}");
    assert!(
        err.to_string()
            .ends_with("has no _start: not a WASI command module"),
        "{err}"
    );
}

#[test]
fn check_module_reports_the_sdk_version() {
    let wasm = echo_after("", "");
    let info = check_module(&wasm).unwrap();
    assert_eq!(info.digest, Digest::of(&wasm));
    assert_eq!(info.size, wasm.len() as u64);
    assert_eq!(info.sdk_version, None);
    let stamped = wat::parse_str(
        r#"(module (@custom "kiln-plugin-sdk" "0.3.1") (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .unwrap();
    assert_eq!(
        check_module(&stamped).unwrap().sdk_version.as_deref(),
        Some("0.3.1")
    );
}

#[test]
fn time_is_virtual_and_sleep_returns_at_once() {
    // Sleeps an hour (relative clock subscription), then checks the monotonic clock
    // moved past it and the wall clock still says 2000-01-01.
    let wasm = echo_after(
        &format!(
            r#"(import "{WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
               (import "{WASI}" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))"#
        ),
        "(i64.store (i32.const 128) (i64.const 7))
         (i32.store8 (i32.const 136) (i32.const 0))
         (i32.store (i32.const 144) (i32.const 1))
         (i64.store (i32.const 152) (i64.const 3600000000000))
         (i64.store (i32.const 160) (i64.const 0))
         (i32.store16 (i32.const 168) (i32.const 0))
         (if (call $poll (i32.const 128) (i32.const 256) (i32.const 1) (i32.const 300)) (then unreachable))
         (if (i32.ne (i32.load (i32.const 300)) (i32.const 1)) (then unreachable))
         (if (i64.ne (i64.load (i32.const 256)) (i64.const 7)) (then unreachable))
         (drop (call $now (i32.const 1) (i64.const 1) (i32.const 400)))
         (if (i64.lt_u (i64.load (i32.const 400)) (i64.const 3600000000000)) (then unreachable))
         (drop (call $now (i32.const 0) (i64.const 1) (i32.const 400)))
         (if (i64.ne (i64.load (i32.const 400)) (i64.const 946684800000000000)) (then unreachable))",
    );
    let started = Instant::now();
    run(&runtime(), &wasm).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn compiled_modules_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        module_cache_dir: Some(dir.path().to_path_buf()),
    };
    let wasm = echo();
    let digest = Digest::of(&wasm);

    let first = Runtime::new(config.clone()).unwrap();
    run(&first, &wasm).unwrap();
    assert_eq!(first.stats().compiles, 1);
    let path = first.module_cache_path(&digest).unwrap();
    assert!(path.starts_with(dir.path().join("modules-v1")));
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&digest.to_hex())
    );
    assert!(path.exists());

    let second = Runtime::new(config.clone()).unwrap();
    assert_eq!(run(&second, &wasm).unwrap().items, items());
    assert_eq!((second.stats().compiles, second.stats().disk_hits), (0, 1));

    // A damaged entry is removed, recompiled and rewritten.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let third = Runtime::new(config.clone()).unwrap();
    run(&third, &wasm).unwrap();
    let s = third.stats();
    assert_eq!((s.compiles, s.disk_hits, s.disk_rejects), (1, 0, 1));

    // So is a truncated one.
    std::fs::write(&path, &bytes[..40]).unwrap();
    let fourth = Runtime::new(config).unwrap();
    run(&fourth, &wasm).unwrap();
    assert_eq!(
        (fourth.stats().compiles, fourth.stats().disk_rejects),
        (1, 1)
    );
    assert!(std::fs::read(&path).unwrap().len() > 40);
}

#[test]
fn concurrent_first_calls_compile_once() {
    let rt = runtime();
    let wasm = echo();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| run(&rt, &wasm).unwrap());
        }
    });
    let stats = rt.stats();
    assert_eq!((stats.compiles, stats.memory_hits), (1, 3));
}

/// First calls of one plugin from a rayon pool (as a fleet render makes them) finish: the
/// worker that compiles waits for the compile pool without running other renders, so it
/// never blocks on the slot lock it holds itself.
#[test]
fn first_calls_from_a_render_pool_do_not_deadlock() {
    use rayon::prelude::*;
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = runtime();
        // Enough functions for the compile to be split into many parallel jobs.
        let funcs: String = (0..3000)
            .map(|i| {
                format!(
                    "(func (param i32) (result i32) local.get 0 i32.const {i} i32.mul \
                     i32.const 7 i32.rotl local.get 0 i32.xor)\n"
                )
            })
            .collect();
        let wasm = echo_after(&funcs, "");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        pool.install(|| {
            (0..32)
                .into_par_iter()
                .for_each(|_| run(&rt, &wasm).map(drop).unwrap())
        });
        done.send(rt.stats()).unwrap();
    });
    let stats = finished
        .recv_timeout(Duration::from_secs(120))
        .expect("32 first calls on a 4-thread pool finish within 2 minutes");
    assert_eq!((stats.compiles, stats.memory_hits), (1, 31));
}

#[test]
fn digests_parse_and_print() {
    let d = Digest::of(b"x");
    assert_eq!(d.to_hex().parse::<Digest>().unwrap(), d);
    assert_eq!(format!("sha256:{d}").parse::<Digest>().unwrap(), d);
    assert_eq!(d.short().len(), 12);
    assert!(
        "abc"
            .parse::<Digest>()
            .unwrap_err()
            .contains("64 hex digits")
    );
}

/// An echo module with a funcref table of `elements` entries, every one filled with a
/// function that its `_start` calls through the last entry before echoing.
fn echo_with_table(elements: usize) -> Vec<u8> {
    let refs = " $f".repeat(elements);
    echo_after(
        &format!("(table {elements} funcref)\n  (func $f)\n  (elem (i32.const 0) func{refs})"),
        &format!("(call_indirect (i32.const {}))", elements - 1),
    )
}

#[test]
fn tables_the_size_of_real_go_modules_run() {
    // The largest kpt function measured needs 27,736 entries; the limit leaves room above.
    for elements in [27_736, MAX_TABLE_ELEMENTS] {
        let wasm = echo_with_table(elements);
        check_module(&wasm).unwrap();
        assert_eq!(run(&runtime(), &wasm).unwrap().items, items(), "{elements}");
    }
}

#[test]
fn a_table_over_the_limit_is_refused_before_compiling() {
    let wasm = echo_with_table(MAX_TABLE_ELEMENTS + 1);
    let reason = "table 0 declares 200001 entries; kiln allows at most 200000";
    match check_module(&wasm) {
        Err(e @ PluginError::NotCommand { .. }) => assert_eq!(
            e.to_string(),
            format!("module sha256:{}: {reason}", Digest::of(&wasm).short())
        ),
        other => panic!("{other:?}"),
    }
    let rt = runtime();
    match run(&rt, &wasm) {
        Err(e @ PluginError::NotCommand { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "plugin `t` (sha256:{}): {reason}",
                Digest::of(&wasm).short()
            )
        ),
        other => panic!("{other:?}"),
    }
    let s = rt.stats();
    assert_eq!((s.compiles, s.compile_failures), (0, 0));
    let refused = |wat: &str| match check_module(&wat::parse_str(wat).unwrap()) {
        Err(PluginError::NotCommand { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(r#"(module (memory 1) (memory 1) (func (export "_start")))"#),
        "it defines 2 memories; kiln allows at most 1"
    );
    // A 64-bit memory can declare more than a 32-bit one can address: 4 GiB and a page.
    assert_eq!(
        refused(r#"(module (memory i64 65537) (func (export "_start")))"#),
        "memory 0 declares 65537 pages (4194368 KiB) initially; kiln allows at most 4 GiB"
    );
    // A page size the module makes up (2^100 bytes) is refused as invalid wasm.
    let mut odd_pages = b"\0asm\x01\0\0\0".to_vec();
    odd_pages.extend_from_slice(&[5, 4, 1, 0x08, 1, 100]);
    match check_module(&odd_pages) {
        Err(PluginError::NotCommand { reason, .. }) => {
            assert!(reason.starts_with("invalid wasm: "), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The second table is counted, whatever its size.
    assert_eq!(
        refused(r#"(module (table 1 funcref) (table 300000 funcref) (func (export "_start")))"#),
        "table 1 declares 300000 entries; kiln allows at most 200000"
    );
}

#[test]
fn a_module_that_fails_to_compile_is_remembered() {
    // Well formed, so the structural check passes, but its body does not type-check:
    // only the compiler finds out.
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") i32.add drop))"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        module_cache_dir: Some(dir.path().to_path_buf()),
    };
    let reason = |r: Result<PluginOutput, PluginError>| match r {
        Err(PluginError::NotCommand { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    let first = Runtime::new(config.clone()).unwrap();
    let message = reason(run(&first, &wasm));
    assert!(message.starts_with("invalid wasm: "), "{message}");
    assert_eq!(reason(run(&first, &wasm)), message);
    assert_eq!(first.stats().compile_failures, 1);

    // Another process with the same cache folder fails at once, with the same reason.
    let second = Runtime::new(config).unwrap();
    assert_eq!(reason(run(&second, &wasm)), message);
    let s = second.stats();
    assert_eq!(
        (s.compiles, s.compile_failures, s.remembered_failures),
        (0, 0, 1)
    );

    // A record written under other limits is not trusted: the module is compiled again.
    let record = std::fs::read_dir(dir.path().join("modules-v1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "failed"))
        .unwrap();
    std::fs::write(&record, "kiln-failed-v1 kiln=0.0.0\nold reason").unwrap();
    let third = Runtime::new(RuntimeConfig {
        module_cache_dir: Some(dir.path().to_path_buf()),
    })
    .unwrap();
    assert_eq!(reason(run(&third, &wasm)), message);
    assert_eq!(third.stats().compile_failures, 1);
}
