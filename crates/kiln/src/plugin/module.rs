//! Checks that wasm bytes are a WASI preview 1 command module the sandbox can run.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use wasmparser::{CompositeInnerType, Encoding, ExternalKind, Parser, Payload, TypeRef};

use super::sandbox::{Host, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES, Sandbox, WASI_MODULE};
use super::{Digest, Limits, PluginError};

/// The custom section the kiln-plugin SDK stamps its version into.
pub(crate) const SDK_SECTION: &str = "kiln-plugin-sdk";

/// What [`check_module`] found out about a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The sha256 pin of the bytes.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// The kiln-plugin SDK version the plugin was built with, when it says so.
    pub sdk_version: Option<String>,
}

/// Checks that `bytes` are a valid WASI preview 1 command module kiln can run: a core
/// module (not a component) that exports `_start`, imports only WASI preview 1
/// functions, and declares tables and memories within kiln's bounds (read from its
/// sections before anything is compiled). Used by `kiln plugin digest`.
pub fn check_module(bytes: &[u8]) -> Result<ModuleInfo, PluginError> {
    let digest = Digest::of(bytes);
    let fail = |reason: String| PluginError::NotCommand {
        plugin: String::new(),
        digest,
        reason,
    };
    let shape = inspect(bytes).map_err(fail)?;
    wasmtime::Module::validate(check_engine(), bytes)
        .map_err(|e| fail(format!("invalid wasm: {}", one_line(&e))))?;
    Ok(ModuleInfo {
        digest,
        size: bytes.len() as u64,
        sdk_version: shape.sdk_version,
    })
}

/// What the structural check found.
pub(crate) struct Shape {
    pub(crate) sdk_version: Option<String>,
}

/// Checks the structure of a module without compiling it. The error is a reason.
pub(crate) fn inspect(bytes: &[u8]) -> Result<Shape, String> {
    let provided = wasi_functions();
    let mut sdk_version = None;
    let mut has_start = false;
    // Function types by type index, the type index of each function (imports first),
    // and the index of the function exported as `_start`.
    let mut types: Vec<Option<(usize, usize)>> = Vec::new();
    let mut functions: Vec<u32> = Vec::new();
    let mut start = None;
    let (mut tables, mut memories) = (0u32, 0u32);
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("invalid wasm: {e}"))?;
        match payload {
            Payload::Version {
                encoding: Encoding::Component,
                ..
            } => {
                return Err(
                    "is a WASI component, expected a core module (WASI preview 1 command)".into(),
                );
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| format!("invalid wasm: {e}"))?;
                    let what = match import.ty {
                        TypeRef::Func(ty) => {
                            if import.module == WASI_MODULE && provided.contains(import.name) {
                                functions.push(ty);
                                continue;
                            }
                            "function"
                        }
                        TypeRef::Memory(_) => "memory",
                        TypeRef::Table(_) => "table",
                        TypeRef::Global(_) => "global",
                        _ => "item",
                    };
                    return Err(format!(
                        "imports {what} `{}::{}`, which the sandbox does not provide (only \
                         `{WASI_MODULE}` functions are available)",
                        import.module, import.name
                    ));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| format!("invalid wasm: {e}"))?;
                    if export.name == "_start" && export.kind == ExternalKind::Func {
                        has_start = true;
                        start = Some(export.index);
                    }
                }
            }
            Payload::TypeSection(reader) => {
                for group in reader {
                    let group = group.map_err(|e| format!("invalid wasm: {e}"))?;
                    for ty in group.into_types() {
                        types.push(match &ty.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                Some((f.params().len(), f.results().len()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    functions.push(ty.map_err(|e| format!("invalid wasm: {e}"))?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(|e| format!("invalid wasm: {e}"))?;
                    if table.ty.initial > MAX_TABLE_ELEMENTS as u64 {
                        return Err(format!(
                            "table {tables} declares {} entries; kiln allows at most \
                             {MAX_TABLE_ELEMENTS}",
                            table.ty.initial
                        ));
                    }
                    tables += 1;
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(|e| format!("invalid wasm: {e}"))?;
                    // The parser allows only the page sizes wasm defines; saturate all the same.
                    let page = 1u64
                        .checked_shl(memory.page_size_log2.unwrap_or(16))
                        .unwrap_or(u64::MAX);
                    let bytes = memory.initial.saturating_mul(page);
                    if bytes > Limits::MAX_MEMORY {
                        return Err(format!(
                            "memory {memories} declares {} pages ({}) initially; kiln allows \
                             at most {}",
                            memory.initial,
                            super::Bytes(bytes),
                            super::Bytes(Limits::MAX_MEMORY)
                        ));
                    }
                    memories += 1;
                }
            }
            Payload::CustomSection(section) if section.name() == SDK_SECTION => {
                sdk_version = Some(String::from_utf8_lossy(section.data()).trim().to_string());
            }
            _ => {}
        }
    }
    if tables > MAX_TABLES {
        return Err(format!(
            "it defines {tables} tables; kiln allows at most {MAX_TABLES}"
        ));
    }
    if memories > MAX_MEMORIES {
        return Err(format!(
            "it defines {memories} memories; kiln allows at most {MAX_MEMORIES}"
        ));
    }
    if !has_start {
        return Err("has no _start: not a WASI command module".into());
    }
    let start_type = start
        .and_then(|f| functions.get(f as usize))
        .and_then(|t| types.get(*t as usize).copied().flatten());
    if let Some((params, results)) = start_type
        && (params, results) != (0, 0)
    {
        return Err(format!(
            "its _start takes {params} parameters and returns {results} results; a WASI \
             command's takes and returns none"
        ));
    }
    Ok(Shape { sdk_version })
}

/// The `wasi_snapshot_preview1` functions the sandbox's linker defines.
fn wasi_functions() -> &'static BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let engine = check_engine();
        let mut linker = wasmtime::Linker::<Host>::new(engine);
        super::sandbox::add_to_linker(&mut linker).expect("WASI preview 1 links once");
        let sandbox = Sandbox::new("check", &Digest([0; 32]), Vec::new(), &Limits::default());
        let mut store = wasmtime::Store::new(engine, sandbox.host);
        linker
            .iter(&mut store)
            .filter(|(module, _, _)| *module == WASI_MODULE)
            .map(|(_, name, _)| name.to_string())
            .collect()
    })
}

/// A plain engine for validation outside a [`super::Runtime`]; it enables the same wasm
/// features.
fn check_engine() -> &'static wasmtime::Engine {
    static ENGINE: OnceLock<wasmtime::Engine> = OnceLock::new();
    ENGINE.get_or_init(wasmtime::Engine::default)
}

/// An error on one line: the message and its causes.
pub(crate) fn one_line(e: &wasmtime::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        out.push_str(": ");
        out.push_str(&cause.to_string());
    }
    out
}
