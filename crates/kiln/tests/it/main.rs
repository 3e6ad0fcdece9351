//! kiln's integration tests: one binary, one module per area.

mod cache;
mod examples;
mod golden;
mod hostile;
mod kustomize;
mod languages;
mod plugin;
mod util;
