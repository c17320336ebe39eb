//! The paths that combine the layers below: direct I/O ([`direct_io`]), RDMA registration by
//! address and by file descriptor ([`rdma`]), and vmsplice into a pipe (in `exec`), with the
//! state of direct I/O in flight ([`inflight`]) (fs/iomap/direct-io.c, fs/direct-io.c,
//! drivers/infiniband/core/umem.c, fs/splice.c). Buffered `write` and `read` are the page
//! cache's ([`crate::pagecache`]).

pub mod direct_io;
pub mod inflight;
pub mod rdma;

pub use direct_io::{DevStep, Woke};
pub use inflight::{BioStage, IoPage, IoStage, IoState, Ios};
