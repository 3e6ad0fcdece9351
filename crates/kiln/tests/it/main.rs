//! kiln's integration tests: one binary, one module per area.

mod cache;
mod golden;
mod hostile;
mod kustomize;
mod plugin;
mod util;
