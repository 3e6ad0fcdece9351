//! kiln's integration tests: one binary, one module per area.

mod golden;
mod util;
