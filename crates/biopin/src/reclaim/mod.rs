//! Writeback, fsync, stable writes, reclaim, truncation and migration (mm/page-writeback.c,
//! mm/vmscan.c, mm/truncate.c, mm/migrate.c). The migration primitive long-term pins need lives in [`crate::vm`]
//! (`Kernel::migrate_folio`), below GUP, so that GUP does not call up into this layer.

pub mod truncate;
pub mod vmscan;
pub mod writeback;

pub use vmscan::Reclaimed;
pub use writeback::Wrote;
