//! `kiln build DIR`.

use crate::args::{BuildArgs, Global};
use crate::{Failure, write_stdout};

pub(crate) fn run(global: &Global, args: BuildArgs) -> Result<(), Failure> {
    let engine = crate::render::engine(global, None)?;
    match engine.build_kustomization_with_root(&args.dir, args.root.as_ref()) {
        Ok(rendered) => {
            for w in rendered.warnings() {
                eprintln!("warning: {w}");
            }
            match &args.output {
                Some(path) => kiln::write_if_changed(path, rendered.yaml().as_bytes())
                    .map(|_| ())
                    .map_err(|e| {
                        eprintln!("error: `{}`: {e}", path.display());
                        Failure::Render
                    }),
                None => write_stdout(rendered.yaml()),
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(Failure::Render)
        }
    }
}
