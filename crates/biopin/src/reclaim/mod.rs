//! Writeback, fsync, stable writes, reclaim, truncate and migration as ops
//! (mm/page-writeback.c, mm/vmscan.c, mm/migrate.c).
//!
//! Not modelled yet: `writeback`, `fsync`, `reclaim`, `truncate` and `migrate` are refused as
//! "not supported yet". The migration primitive long-term pins need lives in
//! [`crate::vm`] (`Kernel::migrate_folio`), below GUP, so that GUP does not call up into this
//! layer.
