//! `struct bio`, `bio_vec`, `iov_iter` and page extraction, the add and merge rules, bio flags
//! and release, the block device and its queue limits (block/bio.c, lib/iov_iter.c).
//!
//! Not modelled yet: `[device]` and the `dio-*` ops are refused as "not supported yet", and the
//! `bio_refs` knob is parsed but changes nothing, until this layer lands.
