/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Linux AIO system calls the oracle's own tests use, without libaio.
 */
#ifndef ORACLE_AIO_H
#define ORACLE_AIO_H

#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline long io_setup(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static inline long io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static inline long io_submit(aio_context_t ctx, long n, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, n, iocbs);
}

static inline long io_getevents(aio_context_t ctx, long min, long max, struct io_event *ev,
				struct timespec *timeout)
{
	return syscall(SYS_io_getevents, ctx, min, max, ev, timeout);
}

#endif
