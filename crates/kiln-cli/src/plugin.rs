//! `kiln plugin digest`.

use std::path::Path;

use crate::{Failure, write_stdout};

pub(crate) fn digest(file: &Path) -> Result<(), Failure> {
    let bytes = std::fs::read(file).map_err(|e| {
        eprintln!("error: `{}`: {e}", file.display());
        Failure::Render
    })?;
    match kiln::check_module(&bytes) {
        Ok(info) => {
            let sdk = info
                .sdk_version
                .map(|v| format!(", kiln-plugin {v}"))
                .unwrap_or_default();
            eprintln!(
                "`{}`: WASI command module, {} bytes{sdk}",
                file.display(),
                info.size
            );
            write_stdout(&format!("{}\n", info.digest))
        }
        Err(e) => {
            eprintln!("error: `{}`: {e}", file.display());
            Err(Failure::Render)
        }
    }
}
