// SPDX-License-Identifier: GPL-2.0
/*
 * gup-writeback: the 2018 race of GUP against writeback and reclaim, on a real kernel.
 *
 * A page of a MAP_SHARED ext4 mapping is written (page_mkwrite attaches its buffers) and
 * written back. An asynchronous O_DIRECT read of 0xab bytes from a dm-delay device (which holds
 * reads back before their data is copied) is submitted into it; while it is in flight the file
 * is fsync'ed (writeback cleans the page) and, in the first case, the page is reclaimed with
 * MADV_PAGEOUT (reclaim unmaps it and, unless it sees a pin, strips its buffers). The read then
 * lands and its completion re-dirties the page. After another fsync the case passes when the
 * file's block, read back with O_DIRECT, holds the read's bytes: the data reached the disk.
 * The second case is the control without the reclaim.
 *
 * Prints TAP in the form of the kernel's selftests (`# [RUN] ...`, then `ok N` or `not ok N`);
 * a case whose read had completed before the fsync and the pageout, in any iteration, did not
 * test the race and is skipped. Runs ITERATIONS times per case, each with a fresh file in the
 * current directory, which must be on ext4.
 *
 * Build: gcc -static -O2 gup-writeback.c -o gup-writeback. Needs /dev/dm-0: the kernel command
 * line `brd.rd_nr=2 brd.rd_size=16384 dm-mod.create="dly,,,rw,0 16384 delay 1:0 0 300 1:0 0 0"`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "aio.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define DEVICE "/dev/dm-0"
#define PAGE 4096
#define ITERATIONS 5

static const char *const names[] = {
	"GUP versus writeback: O_DIRECT read into a MAP_SHARED ext4 page, fsync and MADV_PAGEOUT while it is in flight",
	"GUP versus writeback: O_DIRECT read into a MAP_SHARED ext4 page, fsync while it is in flight",
};

enum outcome { PASS, FAIL, NOT_IN_FLIGHT, ERROR };

static int dev;
static unsigned char *bounce;

static enum outcome one(int pageout, int n)
{
	struct timespec zero = { 0, 0 };
	aio_context_t ctx = 0;
	struct io_event ev;
	struct iocb cb, *cbs[1] = { &cb };
	enum outcome out = ERROR;
	unsigned char *p;
	char name[64];
	int fd, dfd = -1, in_flight;

	snprintf(name, sizeof(name), "gupwb-%d-%d", pageout, n);
	fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return ERROR;
	memset(bounce, 0x11, PAGE);
	if (write(fd, bounce, PAGE) != PAGE || fsync(fd))
		goto close;
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto close;
	p[0] = 0x11;			/* page_mkwrite: buffers attached */
	if (fsync(fd) || io_setup(1, &ctx) < 0)
		goto unmap;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = dev;
	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_buf = (uint64_t)(uintptr_t)p;
	cb.aio_nbytes = PAGE;
	if (io_submit(ctx, 1, cbs) != 1)
		goto destroy;
	if (fsync(fd))
		goto destroy;
	if (pageout && madvise(p, PAGE, MADV_PAGEOUT))
		goto destroy;
	in_flight = io_getevents(ctx, 0, 1, &ev, &zero) == 0;
	if (in_flight && io_getevents(ctx, 1, 1, &ev, NULL) != 1)
		goto destroy;
	if (ev.res != PAGE)
		goto destroy;
	usleep(100 * 1000);		/* bio_dirty_fn runs after ki_complete */
	if (fsync(fd))
		goto destroy;
	dfd = open(name, O_RDONLY | O_DIRECT);
	if (dfd < 0 || pread(dfd, bounce, PAGE, 0) != PAGE)
		goto destroy;
	out = bounce[0] == 0xab ? PASS : FAIL;
	if (!in_flight)
		out = NOT_IN_FLIGHT;
destroy:
	io_destroy(ctx);
unmap:
	munmap(p, PAGE);
close:
	if (dfd >= 0)
		close(dfd);
	close(fd);
	unlink(name);
	return out;
}

int main(void)
{
	cpu_set_t cpu0;
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..2\n");
	/* Keep the page's LRU batch on the CPU MADV_PAGEOUT drains. */
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	sched_setaffinity(0, sizeof(cpu0), &cpu0);
	dev = open(DEVICE, O_RDWR | O_DIRECT);
	if (dev < 0 || posix_memalign((void **)&bounce, PAGE, PAGE)) {
		printf("Bail out! cannot open %s: %s\n", DEVICE, strerror(errno));
		return 1;
	}
	memset(bounce, 0xab, PAGE);
	if (pwrite(dev, bounce, PAGE, 0) != PAGE) {
		printf("Bail out! cannot write %s: %s\n", DEVICE, strerror(errno));
		return 1;
	}
	for (n = 0; n < 2; n++) {
		int pass = 0, fail = 0, stale = 0, i;

		printf("# [RUN] %s\n", names[n]);
		for (i = 0; i < ITERATIONS; i++) {
			switch (one(n == 0, i)) {
			case PASS: pass++; break;
			case FAIL: fail++; break;
			case NOT_IN_FLIGHT: stale++; break;
			default:
				printf("Bail out! iteration %d of \"%s\" failed to run: %s\n", i,
				       names[n], strerror(errno));
				return 1;
			}
		}
		printf("# %d passed, %d failed, %d not in flight of %d\n", pass, fail, stale,
		       ITERATIONS);
		if (fail)
			printf("not ok %d %s\n", n + 1, names[n]);
		else if (stale)
			printf("ok %d %s # SKIP the read completed before the fsync\n", n + 1, names[n]);
		else
			printf("ok %d %s\n", n + 1, names[n]);
	}
	return 0;
}
