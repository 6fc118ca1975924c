// SPDX-License-Identifier: GPL-2.0
/*
 * The volume commands drive cryptsetup and dmsetup as programs (their
 * command lines are the documented interface); secrets reach them through
 * memory files, never argv.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "run.h"
#include "util.h"

static int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run(char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		return 127;
	if (!pid) {
		execvp(argv[0], argv);
		fprintf(stderr, "hsmkeyctl: cannot run %s: %m\n", argv[0]);
		_exit(127);
	}
	return wait_status(pid);
}

int run_capture(char *const argv[], char *out, size_t size)
{
	size_t len = 0;
	int fds[2], n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return 127;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return 127;
	}
	if (!pid) {
		dup2(fds[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (len < size - 1 && (n = (int)read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	return wait_status(pid);
}

int memfd_with(const char *what, const void *buf, size_t len)
{
	int fd = memfd_create(what, 0);

	if (fd < 0)
		return -1;
	if (write_full(fd, buf, len) || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
