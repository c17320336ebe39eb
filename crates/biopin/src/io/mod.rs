//! The paths that combine the layers below: direct I/O, buffered I/O, RDMA registration by
//! address and by file descriptor, vmsplice into a pipe (fs/iomap/direct-io.c,
//! drivers/infiniband/core/umem.c, fs/splice.c).
//!
//! Not modelled yet: `dio-*`, `write`, `read`, `rdma-*`, `vmsplice` and `pipe-read` are refused
//! as "not supported yet" until this layer lands.
