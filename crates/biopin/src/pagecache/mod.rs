//! Files, their disk blocks, `address_space`, folio flags (locked, dirty, writeback, uptodate),
//! per-folio filesystem private state and the filesystem kinds' operations (mm/filemap.c,
//! fs/ext4, mm/shmem.c).
//!
//! Not modelled yet: the scenario format's `[[file]]` tables, `shared` and `private` VMAs and
//! the file ops are recognised and refused as "not supported yet" until this layer lands.
