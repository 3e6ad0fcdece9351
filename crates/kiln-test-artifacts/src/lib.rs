//! The example and fixture plugins under `plugins/`, built from source for
//! kiln's tests and benches.
//!
//! `build.rs` compiles every plugin crate for `wasm32-wasip1` (and for the
//! host, so benches can fork the same plugin natively) with the release
//! settings plugins ship with, and generates one [`Artifact`] constant per
//! plugin binary: [`ADD_OWNER`], [`ADD_OWNER_V2`], [`FIXTURE`], … and
//! [`ALL`].
//!
//! ```no_run
//! let wasm = kiln_test_artifacts::ADD_OWNER.bytes();
//! assert_eq!(&wasm[..4], b"\0asm");
//! ```

#![deny(missing_docs)]

/// One plugin, built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// The plugin's name, e.g. `add-owner`.
    pub name: &'static str,
    /// Absolute path of the `.wasm` module.
    pub path: &'static str,
    /// Absolute path of the same plugin built for the host.
    pub native: &'static str,
    /// sha256 of the `.wasm` module, lowercase hex: its pin.
    pub sha256: &'static str,
}

impl Artifact {
    /// The `.wasm` module's bytes.
    ///
    /// # Panics
    ///
    /// When the file cannot be read (e.g. the build directory was cleaned).
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.path).unwrap_or_else(|e| {
            panic!("cannot read plugin `{}` at `{}`: {e}", self.name, self.path)
        })
    }

    /// The artifact named `name`, if there is one.
    pub fn find(name: &str) -> Option<&'static Artifact> {
        ALL.iter().find(|artifact| artifact.name == name)
    }
}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn every_artifact_is_built_and_pinned() {
        assert!(ALL.len() >= 8, "{ALL:?}");
        for artifact in ALL {
            let bytes = artifact.bytes();
            assert_eq!(&bytes[..4], b"\0asm", "{}", artifact.name);
            assert_eq!(hex::encode(Sha256::digest(&bytes)), artifact.sha256);
            assert!(
                std::path::Path::new(artifact.native).is_file(),
                "{}",
                artifact.native
            );
        }
        assert_eq!(Artifact::find("fixture"), Some(&FIXTURE));
        assert_ne!(ADD_OWNER.sha256, ADD_OWNER_V2.sha256);
    }

    #[test]
    fn sdk_plugins_carry_the_version_stamp() {
        let needle = b"kiln-plugin-sdk";
        let stamped = |a: &Artifact| a.bytes().windows(needle.len()).any(|w| w == needle);
        assert!(stamped(&ADD_OWNER));
        assert!(stamped(&FIXTURE));
        assert!(!stamped(&PLAIN_YAML), "plain-yaml does not use the SDK");
    }
}
