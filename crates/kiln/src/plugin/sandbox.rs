//! The WASI context of one plugin call, built from empty defaults.
//!
//! `WasiCtxBuilder::new` starts with no preopened folders, no environment and no
//! arguments; kiln adds only:
//! - the plugin name as `argv[0]`;
//! - stdin: the encoded `ResourceList`;
//! - stdout: captured up to `Limits::stdout` (the write past it stops the guest);
//! - stderr: captured up to `Limits::stderr` (the rest is dropped);
//! - a wall clock fixed at 2000-01-01T00:00:00Z and a virtual monotonic clock that starts
//!   at zero and moves 1 µs per read, so a plugin's view of time never depends on the host;
//! - `poll_oneoff` replaced by a virtual one: a sleep returns at once and advances the
//!   virtual clock, so a plugin cannot block the host thread out of reach of the time
//!   limit, and sleeping changes nothing observable but the clock;
//! - random bytes from ChaCha12 seeded with the plugin digest: the same plugin on the same
//!   input gives the same output.
//!
//! WASI preview 1 has no sockets of its own, and none are inherited.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use rand::SeedableRng as _;
use rand::rngs::ChaCha12Rng;
use wasmtime::{Caller, Extern, Linker, ResourceLimiter};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx};

use super::{Digest, Limits};

/// The module WASI preview 1 imports come from.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// What the guest sees as the current time: 2000-01-01T00:00:00Z.
pub(crate) const WALL_CLOCK: Duration = Duration::from_secs(946_684_800);

/// How far the virtual monotonic clock moves on each read.
const MONOTONIC_STEP_NS: u64 = 1_000;

/// The data of one call's `Store`.
pub(crate) struct Host {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: MemoryLimiter,
    clock: Arc<AtomicU64>,
}

/// The sandbox of one call, and the handles to read its output afterwards.
pub(crate) struct Sandbox {
    pub(crate) host: Host,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

impl Sandbox {
    pub(crate) fn new(name: &str, digest: &Digest, stdin: Vec<u8>, limits: &Limits) -> Sandbox {
        let stdout = Capture::new(limits.stdout, Overflow::Stop);
        let stderr = Capture::new(limits.stderr, Overflow::Truncate);
        let clock = Arc::new(AtomicU64::new(0));
        let seed = rng_seed(digest);

        let mut b = WasiCtx::builder();
        b.arg(name)
            .stdin(MemoryInputPipe::new(stdin))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedWallClock)
            .monotonic_clock(VirtualClock(clock.clone()))
            .secure_random(ChaCha12Rng::from_seed(seed))
            .insecure_random(ChaCha12Rng::from_seed(seed))
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().expect("16 bytes"),
            ));
        let host = Host {
            wasi: b.build_p1(),
            limiter: MemoryLimiter::new(limits.memory),
            clock,
        };
        Sandbox {
            host,
            stdout,
            stderr,
        }
    }
}

/// The RNG seed of a plugin: sha256 of a fixed tag and the digest.
fn rng_seed(digest: &Digest) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"kiln-plugin-random-v1\0");
    h.update(digest.0);
    h.finalize().into()
}

/// Adds WASI preview 1 to `linker`, with the virtual `poll_oneoff`.
pub(crate) fn add_to_linker(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |h: &mut Host| &mut h.wasi)?;
    linker.allow_shadowing(true);
    linker.func_wrap(WASI_MODULE, "poll_oneoff", poll_oneoff)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Refuses memory growth past the limit, and remembers that it did.
pub(crate) struct MemoryLimiter {
    limit: u64,
    /// The size a refused growth asked for, if one was refused.
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            refused: None,
        }
    }
}

/// The most elements a plugin's table may have, initially or grown. A table holds a
/// module's function references: Go modules need one entry per function that may be called
/// indirectly (27,736 for a kpt function built on `k8s.io/api`, 18,447 for one on kyaml
/// alone), so the cap leaves room for several times that. The instance pool reserves
/// 8 bytes of address space per element for each of its table slots (1.6 MB a slot, 26 MB
/// for a pool of 16), and touches only the pages a module's table uses.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 200_000;

/// The most tables and memories a plugin may define (the instance pool's slots hold one each).
pub(crate) const MAX_TABLES: u32 = 1;
/// See [`MAX_TABLES`].
pub(crate) const MAX_MEMORIES: u32 = 1;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.refused = Some(self.refused.unwrap_or(0).max(desired as u64));
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The instance pool caps tables at this size; the same cap holds when kiln runs
        // without the pool.
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

/// What a [`Capture`] does with a write past its cap.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// Keep what fits and trap the guest.
    Stop,
    /// Keep what fits and drop the rest.
    Truncate,
}

/// A capped in-memory output stream (stdout or stderr of the guest).
#[derive(Clone)]
pub(crate) struct Capture(Arc<Mutex<CaptureState>>);

struct CaptureState {
    buf: Vec<u8>,
    cap: usize,
    overflow: Overflow,
    overflowed: bool,
}

impl Capture {
    fn new(cap: usize, overflow: Overflow) -> Self {
        Capture(Arc::new(Mutex::new(CaptureState {
            buf: Vec::new(),
            cap,
            overflow,
            overflowed: false,
        })))
    }

    fn state(&self) -> MutexGuard<'_, CaptureState> {
        // A poisoned lock only means a panic elsewhere mid-write; the bytes are still
        // the best record of what the guest wrote.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the guest tried to write past the cap.
    pub(crate) fn overflowed(&self) -> bool {
        self.state().overflowed
    }

    /// Takes the captured bytes.
    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.state().buf)
    }

    /// Takes the captured bytes as text, invalid UTF-8 replaced.
    pub(crate) fn take_text(&self) -> String {
        String::from_utf8_lossy(&self.take()).into_owned()
    }

    /// Appends what fits; `Err` when the write is past the cap of a stopping stream.
    fn push(&self, bytes: &[u8]) -> Result<(), ()> {
        let mut s = self.state();
        let room = s.cap.saturating_sub(s.buf.len());
        if bytes.len() <= room {
            s.buf.extend_from_slice(bytes);
            return Ok(());
        }
        s.buf.extend_from_slice(&bytes[..room]);
        s.overflowed = true;
        match s.overflow {
            Overflow::Stop => Err(()),
            Overflow::Truncate => Ok(()),
        }
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes)
            .map_err(|()| StreamError::trap("stdout is over the output limit"))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always ready; `write` enforces the cap.
        Ok(1 << 20)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(match self.push(buf) {
            Ok(()) => Ok(buf.len()),
            Err(()) => Err(std::io::Error::other("stdout is over the output limit")),
        })
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// The guest's wall clock: always [`WALL_CLOCK`].
struct FixedWallClock;

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        WALL_CLOCK
    }
}

/// The guest's monotonic clock: nanoseconds since the call started, in virtual time.
struct VirtualClock(Arc<AtomicU64>);

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(MONOTONIC_STEP_NS, Ordering::Relaxed)
    }
}

// WASI preview 1 `poll_oneoff` layouts (witx `subscription` and `event`).
const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const CLOCKID_REALTIME: u32 = 0;
const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1;
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: u16 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;

/// `poll_oneoff` in virtual time: every subscription is ready at once. Clock
/// subscriptions advance the virtual monotonic clock to their deadline; stdin, stdout and
/// stderr are in-memory pipes and always ready; any other descriptor reports `badf`.
fn poll_oneoff(
    mut caller: Caller<'_, Host>,
    subs: i32,
    events: i32,
    nsubs: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Ok(ERRNO_INVAL);
    };
    let (data, host) = memory.data_and_store_mut(&mut caller);
    let (subs, events, n, nevents) = (
        subs as u32 as usize,
        events as u32 as usize,
        nsubs as u32 as usize,
        nevents as u32 as usize,
    );
    if n == 0 {
        return Ok(ERRNO_INVAL);
    }
    let in_bounds =
        |at: usize, len: usize| at.checked_add(len).is_some_and(|end| end <= data.len());
    if !in_bounds(subs, n * SUBSCRIPTION_SIZE)
        || !in_bounds(events, n * EVENT_SIZE)
        || !in_bounds(nevents, 4)
    {
        return Ok(ERRNO_FAULT);
    }
    let now = host.clock.load(Ordering::Relaxed);
    let mut until = now;
    for i in 0..n {
        let sub = &data[subs + i * SUBSCRIPTION_SIZE..][..SUBSCRIPTION_SIZE];
        let userdata: [u8; 8] = sub[0..8].try_into().expect("8 bytes");
        let tag = sub[8];
        let mut event = [0u8; EVENT_SIZE];
        event[0..8].copy_from_slice(&userdata);
        event[10] = tag;
        match tag {
            EVENTTYPE_CLOCK => {
                let id = u32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
                let timeout = u64::from_le_bytes(sub[24..32].try_into().expect("8 bytes"));
                let flags = u16::from_le_bytes(sub[40..42].try_into().expect("2 bytes"));
                let deadline = match (flags & SUBSCRIPTION_CLOCK_ABSTIME != 0, id) {
                    (false, _) => now.saturating_add(timeout),
                    (true, CLOCKID_REALTIME) => {
                        let wall = WALL_CLOCK.as_nanos() as u64;
                        now.saturating_add(timeout.saturating_sub(wall))
                    }
                    (true, _) => timeout,
                };
                until = until.max(deadline);
            }
            EVENTTYPE_FD_READ | EVENTTYPE_FD_WRITE => {
                let fd = u32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
                if fd > 2 {
                    event[8..10].copy_from_slice(&ERRNO_BADF.to_le_bytes());
                }
            }
            _ => return Ok(ERRNO_INVAL),
        }
        data[events + i * EVENT_SIZE..][..EVENT_SIZE].copy_from_slice(&event);
    }
    data[nevents..nevents + 4].copy_from_slice(&(n as u32).to_le_bytes());
    host.clock.fetch_max(until, Ordering::Relaxed);
    Ok(ERRNO_SUCCESS)
}
