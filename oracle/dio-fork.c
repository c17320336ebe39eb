// SPDX-License-Identifier: GPL-2.0
/*
 * dio-fork: an O_DIRECT read in flight across fork(), on a real kernel.
 *
 * The parent fills a private anonymous page with 0x11, submits an asynchronous 512-byte
 * O_DIRECT read of 0xab bytes into its start, and forks while the read is still in flight (the
 * device is dm-delay over a ramdisk, which holds reads back before their data is copied). Then,
 * by case, the parent or the child writes elsewhere in the page. The case passes when the
 * parent's page holds the read's bytes once the read completes: the kernel did not move the
 * parent away from the page the read targets.
 *
 * Prints TAP in the form of the kernel's selftests (`# [RUN] ...`, then `ok N` or `not ok N`);
 * a case whose read had completed before the write, in any iteration, did not test the race and
 * is skipped; one that could not run bails out. Runs ITERATIONS times per case, each with a
 * fresh page.
 *
 * Build: gcc -static -O2 dio-fork.c -o dio-fork. Needs /dev/dm-0: the kernel command line
 * `brd.rd_nr=1 brd.rd_size=8192 dm-mod.create="dly,,,rw,0 16384 delay 1:0 0 200 1:0 0 0"`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aio.h"

#define DEVICE "/dev/dm-0"
#define PAGE 4096
#define READ_LEN 512
#define ITERATIONS 5

enum writer { PARENT_WRITES, CHILD_WRITES };

static const char *const names[] = {
	[PARENT_WRITES] = "O_DIRECT read in flight across fork(): the parent writes the page",
	[CHILD_WRITES] = "O_DIRECT read in flight across fork(): the child writes the page",
};

enum outcome { PASS, FAIL, NOT_IN_FLIGHT, ERROR };

static int fd;

static enum outcome one(enum writer who)
{
	struct timespec zero = { 0, 0 };
	aio_context_t ctx = 0;
	struct io_event ev;
	struct iocb cb, *cbs[1] = { &cb };
	enum outcome out = ERROR;
	unsigned char *buf;
	int in_flight, i;
	pid_t child;

	buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return ERROR;
	memset(buf, 0x11, PAGE);
	if (io_setup(1, &ctx) < 0)
		goto unmap;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_buf = (uint64_t)(uintptr_t)buf;
	cb.aio_nbytes = READ_LEN;
	cb.aio_offset = 0;
	if (io_submit(ctx, 1, cbs) != 1)
		goto destroy;

	child = fork();
	if (child < 0)
		goto destroy;
	if (child == 0) {
		if (who == CHILD_WRITES)
			buf[2048] = 0x22;
		sleep(1);
		_exit(0);
	}
	in_flight = io_getevents(ctx, 0, 1, &ev, &zero) == 0;
	if (who == PARENT_WRITES)
		buf[2048] = 0x22;
	if (in_flight && io_getevents(ctx, 1, 1, &ev, NULL) != 1)
		goto reap;
	if (ev.res != READ_LEN)
		goto reap;
	out = PASS;
	for (i = 0; i < READ_LEN; i++)
		if (buf[i] != 0xab)
			out = FAIL;
	if (!in_flight)
		out = NOT_IN_FLIGHT;
reap:
	waitpid(child, NULL, 0);
destroy:
	io_destroy(ctx);
unmap:
	munmap(buf, PAGE);
	return out;
}

int main(void)
{
	unsigned char *data;
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..2\n");
	fd = open(DEVICE, O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&data, PAGE, PAGE)) {
		printf("Bail out! cannot open %s: %s\n", DEVICE, strerror(errno));
		return 1;
	}
	memset(data, 0xab, PAGE);
	if (pwrite(fd, data, PAGE, 0) != PAGE) {
		printf("Bail out! cannot write %s: %s\n", DEVICE, strerror(errno));
		return 1;
	}
	for (n = 0; n < 2; n++) {
		int pass = 0, fail = 0, stale = 0, errors = 0, i;

		printf("# [RUN] %s\n", names[n]);
		for (i = 0; i < ITERATIONS; i++) {
			switch (one(n)) {
			case PASS: pass++; break;
			case FAIL: fail++; break;
			case NOT_IN_FLIGHT: stale++; break;
			default: errors++; break;
			}
		}
		if (errors) {
			printf("Bail out! %d iterations of \"%s\" failed to run\n", errors, names[n]);
			return 1;
		}
		printf("# %d passed, %d failed, %d not in flight of %d\n", pass, fail, stale,
		       ITERATIONS);
		if (fail)
			printf("not ok %d %s\n", n + 1, names[n]);
		else if (stale)
			printf("ok %d %s # SKIP the read completed before the write\n", n + 1, names[n]);
		else
			printf("ok %d %s\n", n + 1, names[n]);
	}
	return 0;
}
