//! The plugin host: one wasmtime [`Engine`] with epoch interruption and a ticker thread,
//! one compiled [`Module`] and [`InstancePre`] per plugin digest, a fresh [`Store`] per
//! call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store, Trap, WasmBacktrace,
};
use wasmtime_wasi::I32Exit;

use super::compiled::{DiskCache, Miss};
use super::krm::{self, Provenance};
use super::module::{inspect, one_line};
use super::sandbox::{self, Host, Sandbox};
use super::{Digest, Limits, PluginError, PluginOutput};
use crate::resource::Resource;

/// How often the epoch ticks; time limits are counted in ticks.
const TICK: Duration = Duration::from_millis(10);

/// The most wasm frames a trap's backtrace keeps.
const BACKTRACE_FRAMES: usize = 1024;

/// Configures a [`Runtime`].
#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// Where compiled plugins are kept between processes (`<dir>/modules-v1/`); `None`
    /// compiles each plugin once per process.
    pub module_cache_dir: Option<PathBuf>,
}

/// Counters of the compiled-module cache, for `kiln cache stats` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Plugins compiled from wasm.
    pub compiles: u64,
    /// Compiled plugins loaded from the module cache folder.
    pub disk_hits: u64,
    /// Calls that found their plugin already compiled in this process.
    pub memory_hits: u64,
    /// Cache files that were corrupt, truncated or incompatible (each was removed and
    /// the plugin recompiled).
    pub disk_rejects: u64,
    /// Compiled plugins that could not be written to the cache folder.
    pub disk_write_errors: u64,
    /// Plugins that failed to compile or link (each is remembered, in this process and in
    /// the module cache folder).
    pub compile_failures: u64,
    /// Calls refused at once, without compiling, because this process or the module cache
    /// folder remembers that their plugin failed to compile or link.
    pub remembered_failures: u64,
}

#[derive(Default)]
struct Counters {
    compiles: AtomicU64,
    disk_hits: AtomicU64,
    memory_hits: AtomicU64,
    disk_rejects: AtomicU64,
    disk_write_errors: AtomicU64,
    compile_failures: AtomicU64,
    remembered_failures: AtomicU64,
}

/// One compiled plugin, ready to instantiate.
struct Prepared {
    pre: InstancePre<Host>,
}

/// The slot of one digest: its lock makes concurrent first calls compile once. A module
/// that failed to compile or link keeps its reason, so later calls fail at once.
type Slot = Arc<Mutex<Option<Result<Arc<Prepared>, String>>>>;

/// The plugin host: one wasmtime engine, compiled modules by digest.
///
/// `Runtime` is `Send + Sync`: share one between threads (a [`crate::Engine`] holds one).
/// Each plugin is compiled once per digest, or loaded from the module cache folder when
/// one is configured; every call runs in a fresh sandbox (see [`Limits`]).
pub struct Runtime {
    engine: Engine,
    linker: Linker<Host>,
    modules: Mutex<HashMap<Digest, Slot>>,
    disk: Option<DiskCache>,
    counters: Counters,
    /// Bounds concurrent calls by the instance pool's size (`None` without a pool).
    slots: Option<Semaphore>,
    /// The threads that compile plugins (made at the first compile; `None` inside when
    /// the threads could not be started, and modules compile on the calling thread).
    compile_pool: OnceLock<Option<rayon::ThreadPool>>,
    ticker: Option<Ticker>,
}

impl Runtime {
    /// Starts a runtime: builds the engine (with the pooling allocator when the host can
    /// reserve its address space, else on-demand allocation) and its epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, PluginError> {
        let host_error = |message: String| PluginError::Start { message };
        let pool_size = pool_size();
        let (engine, slots) = match Engine::new(&engine_config(Some(pool_size))) {
            Ok(engine) => (engine, Some(Semaphore::new(pool_size as usize))),
            Err(_) => {
                let engine = Engine::new(&engine_config(None))
                    .map_err(|e| host_error(format!("cannot start wasmtime: {}", one_line(&e))))?;
                (engine, None)
            }
        };
        let mut linker = Linker::new(&engine);
        sandbox::add_to_linker(&mut linker)
            .map_err(|e| host_error(format!("cannot link WASI: {}", one_line(&e))))?;
        let disk = config
            .module_cache_dir
            .as_deref()
            .map(|dir| DiskCache::new(dir, &engine));
        let ticker = Ticker::start(engine.clone())
            .map_err(|e| host_error(format!("cannot start the epoch thread: {e}")))?;
        Ok(Runtime {
            engine,
            linker,
            modules: Mutex::new(HashMap::new()),
            disk,
            counters: Counters::default(),
            slots,
            compile_pool: OnceLock::new(),
            ticker: Some(ticker),
        })
    }

    /// The cache counters so far.
    pub fn stats(&self) -> RuntimeStats {
        let c = &self.counters;
        RuntimeStats {
            compiles: c.compiles.load(Ordering::Relaxed),
            disk_hits: c.disk_hits.load(Ordering::Relaxed),
            memory_hits: c.memory_hits.load(Ordering::Relaxed),
            disk_rejects: c.disk_rejects.load(Ordering::Relaxed),
            disk_write_errors: c.disk_write_errors.load(Ordering::Relaxed),
            compile_failures: c.compile_failures.load(Ordering::Relaxed),
            remembered_failures: c.remembered_failures.load(Ordering::Relaxed),
        }
    }

    /// Whether instances come from the pooling allocator (it falls back to on-demand
    /// allocation when the address space cannot be reserved).
    pub fn is_pooling(&self) -> bool {
        self.slots.is_some()
    }

    /// The compiled-module file a plugin is cached in, when there is a cache folder.
    pub fn module_cache_path(&self, digest: &Digest) -> Option<PathBuf> {
        self.disk.as_ref().map(|d| d.path(digest))
    }

    /// Compiles (or loads) a plugin without running it.
    pub fn prepare(&self, name: &str, digest: &Digest, wasm: &[u8]) -> Result<(), PluginError> {
        self.prepared(name, digest, wasm).map(drop)
    }

    /// Runs a plugin on `items`: `wasm` are its bytes, already checked against `digest`;
    /// `config` becomes `functionConfig`.
    pub fn run(
        &self,
        name: &str,
        digest: &Digest,
        wasm: &[u8],
        config: Option<&Value>,
        limits: &Limits,
        items: Vec<Resource>,
    ) -> Result<PluginOutput, PluginError> {
        if limits.memory > Limits::MAX_MEMORY {
            return Err(PluginError::LimitTooLarge {
                plugin: name.to_string(),
                digest: *digest,
                limit: limits.memory,
                max: Limits::MAX_MEMORY,
            });
        }
        let prepared = self.prepared(name, digest, wasm)?;
        let provenance = Provenance::of(&items);
        let stdin = krm::encode(&items, config);
        drop(items);

        let sandbox = Sandbox::new(name, digest, stdin, limits);
        let (stdout, stderr) = (sandbox.stdout.clone(), sandbox.stderr.clone());
        let _slot = self.slots.as_ref().map(Semaphore::acquire);
        let mut store = Store::new(&self.engine, sandbox.host);
        store.limiter(|h| &mut h.limiter);
        store.set_epoch_deadline(ticks(limits.timeout));
        let outcome = run_start(&mut store, &prepared.pre);
        let refused = store.data().limiter.refused;
        drop(store);
        drop(_slot);

        let fail = Failure {
            plugin: name,
            digest,
            limits,
        };
        if stdout.overflowed() {
            return Err(fail.output_limit());
        }
        let code = match outcome {
            Ok(code) => code,
            Err(stopped) => {
                let stderr = stderr.take_text();
                if let Some(requested) = refused {
                    return Err(fail.memory(requested, stderr));
                }
                return Err(match stopped {
                    Stopped::Instantiate(e) => PluginError::Host {
                        plugin: name.to_string(),
                        digest: *digest,
                        message: one_line(&e),
                    },
                    Stopped::Run(e) => classify(&fail, e, stderr, &stdout.take()),
                });
            }
        };
        let out = stdout.take();
        if code != 0 {
            let stderr = stderr.take_text();
            if let Some(requested) = refused {
                return Err(fail.memory(requested, stderr));
            }
            if let Some(errors) = reported_errors(&out) {
                return Err(fail.results(errors));
            }
            return Err(PluginError::Exit {
                plugin: name.to_string(),
                digest: *digest,
                code,
                stderr,
            });
        }
        let decoded = krm::decode(&out, &provenance).map_err(|message| {
            let stderr = stderr.take_text();
            match refused {
                Some(requested) => fail.memory(requested, stderr),
                None => PluginError::BadOutput {
                    plugin: name.to_string(),
                    digest: *digest,
                    message,
                    stderr,
                },
            }
        })?;
        if !decoded.errors.is_empty() {
            return Err(fail.results(decoded.errors));
        }
        Ok(PluginOutput {
            items: decoded.items,
            messages: decoded.messages,
        })
    }

    /// Whether the module for `digest` is compiled and in memory, so that [`Runtime::run`]
    /// will not look at its `wasm` bytes.
    pub fn is_loaded(&self, digest: &Digest) -> bool {
        let slot = self
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
            .cloned();
        slot.is_some_and(|s| {
            matches!(
                *s.lock().unwrap_or_else(PoisonError::into_inner),
                Some(Ok(_))
            )
        })
    }

    /// The compiled plugin for `digest`: from memory, from disk, or compiled now.
    fn prepared(
        &self,
        name: &str,
        digest: &Digest,
        wasm: &[u8],
    ) -> Result<Arc<Prepared>, PluginError> {
        let slot = {
            let mut modules = self.modules.lock().unwrap_or_else(PoisonError::into_inner);
            modules.entry(*digest).or_default().clone()
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let not_command = |reason: String| PluginError::NotCommand {
            plugin: name.to_string(),
            digest: *digest,
            reason,
        };
        match &*slot {
            Some(Ok(p)) => {
                self.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(p.clone());
            }
            Some(Err(reason)) => {
                self.counters
                    .remembered_failures
                    .fetch_add(1, Ordering::Relaxed);
                return Err(not_command(reason.clone()));
            }
            None => {}
        }
        let outcome = self.prepare_now(digest, wasm);
        *slot = Some(outcome.clone());
        outcome.map_err(not_command)
    }

    /// Loads or compiles `wasm` and links it; the error is a reason. A compile or link
    /// failure is remembered on disk too (for this engine and these limits), so another
    /// process does not spend the compile again to learn the same thing.
    fn prepare_now(&self, digest: &Digest, wasm: &[u8]) -> Result<Arc<Prepared>, String> {
        let module = match self.disk.as_ref().map(|d| d.load(&self.engine, digest)) {
            Some(Ok(module)) => {
                self.counters.disk_hits.fetch_add(1, Ordering::Relaxed);
                module
            }
            cached => {
                if let Some(Err(Miss::Rejected)) = cached {
                    self.counters.disk_rejects.fetch_add(1, Ordering::Relaxed);
                }
                inspect(wasm)?;
                if let Some(reason) = self.disk.as_ref().and_then(|d| d.load_failure(digest)) {
                    self.counters
                        .remembered_failures
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(reason);
                }
                let module = self.compile(wasm).map_err(|e| {
                    self.remember_failure(digest, format!("invalid wasm: {}", one_line(&e)))
                })?;
                self.counters.compiles.fetch_add(1, Ordering::Relaxed);
                if let Some(disk) = &self.disk
                    && disk.store(digest, &module).is_err()
                {
                    self.counters
                        .disk_write_errors
                        .fetch_add(1, Ordering::Relaxed);
                }
                module
            }
        };
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| self.remember_failure(digest, one_line(&e)))?;
        Ok(Arc::new(Prepared { pre }))
    }

    /// Compiles `wasm`, its functions in parallel on the runtime's own compile pool.
    ///
    /// wasmtime compiles on the rayon pool of the thread that asks, and a rayon worker that
    /// waits for a pool also runs other jobs of its own pool meanwhile. A render worker
    /// (which holds the slot lock of this digest) could then pick up another render that
    /// needs the same plugin and block on that lock forever. So the compile is handed to a
    /// plain thread, which the render worker waits for like any blocking call (running
    /// nothing else), and that thread enters the compile pool, whose workers only ever
    /// run compile jobs.
    fn compile(&self, wasm: &[u8]) -> wasmtime::Result<Module> {
        let pool = self.compile_pool.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("kiln-plugin-compile-{i}"))
                .build()
                .ok()
        });
        let Some(pool) = pool else {
            return Module::new(&self.engine, wasm);
        };
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("kiln-plugin-compile".into())
                .spawn_scoped(s, || pool.install(|| Module::new(&self.engine, wasm)))
                .map_err(|e| wasmtime::Error::msg(format!("cannot start a compile thread: {e}")))?
                .join()
                .unwrap_or_else(|_| Err(wasmtime::Error::msg("the compiler panicked")))
        })
    }

    /// Records that `digest` cannot be prepared, and gives the reason back.
    fn remember_failure(&self, digest: &Digest, reason: String) -> String {
        self.counters
            .compile_failures
            .fetch_add(1, Ordering::Relaxed);
        if let Some(disk) = &self.disk {
            // Best effort: without the record the next process compiles again.
            let _ = disk.store_failure(digest, &reason);
        }
        reason
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.stop();
        }
    }
}

/// Why a call did not finish with an exit code.
enum Stopped {
    /// The module could not be instantiated.
    Instantiate(wasmtime::Error),
    /// The guest trapped or a host call failed.
    Run(wasmtime::Error),
}

/// Instantiates and calls `_start`: the exit code, or what stopped the guest.
fn run_start(store: &mut Store<Host>, pre: &InstancePre<Host>) -> Result<i32, Stopped> {
    let guest = |e: wasmtime::Error| match e.downcast_ref::<I32Exit>() {
        Some(exit) => Ok(exit.0),
        None => Err(Stopped::Run(e)),
    };
    let instance = match pre.instantiate(&mut *store) {
        Ok(instance) => instance,
        // The module's own code ran (its start function or an out-of-bounds data
        // segment): a trap, a time limit or an exit of the guest, not of the host.
        Err(e) if e.downcast_ref::<Trap>().is_some() || e.downcast_ref::<I32Exit>().is_some() => {
            return guest(e);
        }
        Err(e) => return Err(Stopped::Instantiate(e)),
    };
    let start = instance
        .get_typed_func::<(), ()>(&mut *store, "_start")
        .map_err(Stopped::Instantiate)?;
    match start.call(&mut *store, ()) {
        Ok(()) => Ok(0),
        Err(e) => guest(e),
    }
}

/// Builds errors about one call.
struct Failure<'a> {
    plugin: &'a str,
    digest: &'a Digest,
    limits: &'a Limits,
}

impl Failure<'_> {
    fn output_limit(&self) -> PluginError {
        PluginError::OutputLimit {
            plugin: self.plugin.to_string(),
            digest: *self.digest,
            limit: self.limits.stdout,
        }
    }

    fn memory(&self, requested: u64, stderr: String) -> PluginError {
        PluginError::MemoryLimit {
            plugin: self.plugin.to_string(),
            digest: *self.digest,
            limit: self.limits.memory,
            requested,
            stderr,
        }
    }

    fn results(&self, results: Vec<String>) -> PluginError {
        PluginError::Results {
            plugin: self.plugin.to_string(),
            digest: *self.digest,
            results,
        }
    }
}

/// Maps a trap or host error to its variant.
fn classify(fail: &Failure<'_>, e: wasmtime::Error, stderr: String, stdout: &[u8]) -> PluginError {
    let plugin = fail.plugin.to_string();
    let digest = *fail.digest;
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PluginError::Timeout {
            plugin,
            digest,
            limit: fail.limits.timeout,
            stderr,
        },
        Some(Trap::StackOverflow) => PluginError::StackOverflow {
            plugin,
            digest,
            stderr,
        },
        Some(Trap::MemoryOutOfBounds) if deep_recursion(&e) => PluginError::StackOverflow {
            plugin,
            digest,
            stderr,
        },
        Some(trap) => {
            // A guest that reported error results and then aborted (a panic with
            // `panic = "abort"`) is best described by its results.
            if let Some(errors) = reported_errors(stdout) {
                return fail.results(errors);
            }
            // Rust's allocator aborts on a request it cannot serve, some too big to
            // even ask the memory to grow (so the limiter never saw them).
            if let Some(requested) = failed_allocation(&stderr) {
                return fail.memory(requested, stderr);
            }
            PluginError::Trap {
                plugin,
                digest,
                message: trap_message(trap, &e),
                stderr,
            }
        }
        None => PluginError::Trap {
            plugin,
            digest,
            message: one_line(&e),
            stderr,
        },
    }
}

/// `wasm trap: wasm `unreachable` instruction executed, in main <- _start`.
fn trap_message(trap: &Trap, e: &wasmtime::Error) -> String {
    let mut msg = trap.to_string();
    if let Some(bt) = e.downcast_ref::<WasmBacktrace>() {
        let frames: Vec<String> = bt
            .frames()
            .iter()
            .take(4)
            .map(|f| match f.func_name() {
                Some(n) => n.to_string(),
                None => format!("func[{}]", f.func_index()),
            })
            .collect();
        if !frames.is_empty() {
            msg.push_str(", in ");
            msg.push_str(&frames.join(" <- "));
        }
    }
    msg
}

/// Whether a trap happened deep in a recursion: the sign of a guest whose own stack, in
/// linear memory, ran past its bottom (C and Rust keep their stack there, below the
/// data, so an overflow shows up as an out-of-bounds access rather than an exhausted
/// wasm stack).
fn deep_recursion(e: &wasmtime::Error) -> bool {
    const DEPTH: usize = BACKTRACE_FRAMES / 2;
    const WINDOW: usize = 64;
    let Some(bt) = e.downcast_ref::<WasmBacktrace>() else {
        return false;
    };
    let frames = bt.frames();
    if frames.len() < DEPTH {
        return false;
    }
    // The innermost frames repeat: one function (or a cycle of a few) calling itself.
    let window = &frames[..WINDOW];
    let repeats = window
        .iter()
        .filter(|f| f.func_index() == window[0].func_index())
        .count();
    repeats * 8 >= WINDOW
}

/// The size of a failed allocation that Rust's standard library reported on stderr
/// (`memory allocation of N bytes failed`) before aborting.
fn failed_allocation(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        line.strip_prefix("memory allocation of ")?
            .strip_suffix(" bytes failed")?
            .parse()
            .ok()
    })
}

/// Error results in a failed plugin's stdout, when it wrote a readable `ResourceList`
/// with some.
fn reported_errors(stdout: &[u8]) -> Option<Vec<String>> {
    krm::decode(stdout, &Provenance::of(&[]))
        .ok()
        .map(|d| d.errors)
        .filter(|e| !e.is_empty())
}

/// Epoch ticks for a time limit, rounded up.
fn ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// How many instances the pool holds: enough for every render thread several times.
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    (cores * 4).clamp(16, 256)
}

/// The engine configuration: epoch interruption, and the pooling allocator when
/// `pool` names its size.
fn engine_config(pool: Option<u32>) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // Functions compile in parallel, on the runtime's compile pool (see `Runtime::compile`),
    // never on the render pool. Cranelift keeps its default tier: `OptLevel::None` saved
    // 15-20% of a Go module's compile and cost as much on every call; the single-pass
    // register allocator saved a third of the compile and doubled the call.
    config.parallel_compilation(true);
    // Deep enough to tell a runaway recursion from a plain out-of-bounds access; only
    // traps pay for it.
    config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(BACKTRACE_FRAMES));
    if let Some(total) = pool {
        let mut pooling = PoolingAllocationConfig::new();
        pooling
            .total_core_instances(total)
            .total_memories(total)
            .total_tables(total)
            .table_elements(sandbox::MAX_TABLE_ELEMENTS)
            .max_tables_per_module(sandbox::MAX_TABLES)
            .max_memories_per_module(sandbox::MAX_MEMORIES)
            .max_memory_size(Limits::MAX_MEMORY as usize)
            .max_unused_warm_slots(total.min(32))
            // Reset up to 16 MiB of a used memory with memset instead of madvise, and
            // scan for the pages actually touched: the biggest per-call saving measured.
            // 64 MiB made no measurable difference to a 10 MB Go module's calls and would
            // keep up to four times the memory resident per warm slot.
            .linear_memory_keep_resident(16 << 20)
            .table_keep_resident(1 << 20)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    config
}

/// Increments the engine's epoch every [`TICK`] until stopped.
struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Ticker> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kiln-plugin-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker { stop, thread })
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// A counting semaphore: at most `n` calls hold an instance slot at once.
struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn new(n: usize) -> Self {
        Semaphore {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}
