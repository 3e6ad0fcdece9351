//! `kiln serve`: a resident engine answering `kiln argocd generate` over a Unix socket.
//!
//! Protocol: one request per connection. Each message is a 4-byte big-endian length and
//! that many bytes of JSON. Request `{"cwd": PATH, "env": {NAME: VALUE}}`; answer
//! `{"ok": true, "yaml": STREAM, "warnings": [..]}` or `{"ok": false, "error": MESSAGE}`.
//! The server reads the files of the request's own folder, so the render key always comes
//! from the content the request holds.

use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kiln::Engine;
use serde_json::Value;

use crate::Failure;
use crate::argocd::{Generated, Request, generate};
use crate::args::Global;

/// Messages larger than this are refused (a rendered fleet app is far smaller).
const MAX_MESSAGE: u32 = 512 << 20;

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn write_message(stream: &mut UnixStream, v: &Value) -> io::Result<()> {
    let body = serde_json::to_vec(v).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_MESSAGE)
        .ok_or_else(|| io::Error::other("message too large"))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    stream.write_all(&buf)?;
    stream.flush()
}

fn read_message(stream: &mut UnixStream) -> io::Result<Value> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_MESSAGE {
        return Err(io::Error::other(format!("message of {len} bytes refused")));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(|e| io::Error::other(format!("not JSON: {e}")))
}

/// Asks the server at `socket`. `Err` (the reason) when no server answered completely: the
/// caller renders in-process. `Ok(Err)` is a render failure the server reported.
pub(crate) fn ask(socket: &Path, req: &Request) -> Result<Result<Generated, String>, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    let gone = |doing: &str, e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => "the server closed the connection mid-request".to_string(),
        _ => format!("{doing}: {e}"),
    };
    write_message(&mut stream, &req.to_json()).map_err(|e| gone("sending the request", e))?;
    let answer = read_message(&mut stream).map_err(|e| gone("reading its answer", e))?;
    match answer.get("ok").and_then(Value::as_bool) {
        Some(true) => {
            let yaml = answer
                .get("yaml")
                .and_then(Value::as_str)
                .ok_or("an answer without `yaml`")?;
            let warnings = answer
                .get("warnings")
                .and_then(Value::as_array)
                .map(|w| {
                    w.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Ok(Generated {
                yaml: yaml.to_string(),
                warnings,
            }))
        }
        Some(false) => Ok(Err(answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the server failed without a message")
            .to_string())),
        None => Err("an answer without `ok`".into()),
    }
}

/// `kiln serve --socket PATH`.
pub(crate) fn run(global: &Global, socket: &Path) -> Result<(), Failure> {
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        Failure::Render
    };
    let listener = bind(socket).map_err(fail)?;
    let engine = Arc::new(crate::render::engine(global, None)?);
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|e| fail(format!("cannot watch signals: {e}")))?;
    {
        let stop = stop.clone();
        let socket = socket.to_path_buf();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                stop.store(true, Ordering::SeqCst);
                // Wake the accept loop.
                let _ = UnixStream::connect(&socket);
            }
        });
    }
    eprintln!("kiln serve: listening at `{}`", socket.display());
    let mut workers: Vec<std::thread::JoinHandle<()>> = Vec::new();
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kiln serve: accept: {e}");
                continue;
            }
        };
        workers.retain(|w| !w.is_finished());
        let engine = engine.clone();
        workers.push(std::thread::spawn(move || serve_one(&engine, stream)));
    }
    // Refuse new connections, let those under way finish.
    let _ = std::fs::remove_file(socket);
    for w in workers {
        let _ = w.join();
    }
    if let Some(cache) = engine.cache() {
        cache.record_run();
    }
    eprintln!("kiln serve: stopped");
    Ok(())
}

fn serve_one(engine: &Engine, mut stream: UnixStream) {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let req = match read_message(&mut stream) {
        Ok(v) => v,
        // A wake-up connection or a client that went away.
        Err(_) => return,
    };
    let answer = match Request::from_json(&req).and_then(|r| generate(engine, &r)) {
        Ok(g) => serde_json::json!({"ok": true, "yaml": g.yaml, "warnings": g.warnings}),
        Err(e) => serde_json::json!({"ok": false, "error": e}),
    };
    let _ = write_message(&mut stream, &answer);
}

/// Binds the socket: its folder is created (mode 0700) or must be closed to other users; a
/// socket file left by a server that died is replaced; the socket is made 0600.
fn bind(socket: &Path) -> Result<UnixListener, String> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    match std::fs::metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir)
                .and_then(|()| {
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                })
                .map_err(|e| format!("cannot create the socket folder `{}`: {e}", dir.display()))?;
        }
        Err(e) => return Err(format!("socket folder `{}`: {e}", dir.display())),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "socket folder `{}` is open to other users (mode {mode:04o}); give the \
                     socket a folder only kiln's user can open (mode 0700)",
                    dir.display()
                ));
            }
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "`{}` exists and is not a socket; refusing to replace it",
                socket.display()
            ));
        }
        if UnixStream::connect(socket).is_ok() {
            return Err(format!(
                "another kiln server is listening at `{}`",
                socket.display()
            ));
        }
        std::fs::remove_file(socket).map_err(|e| {
            format!(
                "cannot replace the stale socket `{}`: {e}",
                socket.display()
            )
        })?;
        eprintln!(
            "kiln serve: replaced the stale socket `{}` of a server that is gone",
            socket.display()
        );
    }
    let listener = UnixListener::bind(socket)
        .map_err(|e| format!("cannot listen at `{}`: {e}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("socket `{}`: {e}", socket.display()))?;
    Ok(listener)
}
