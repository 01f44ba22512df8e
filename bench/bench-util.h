/* bench-util.h: what the benchmarks share to reach the daemon they start:
 * a free loopback port, and its CURVE public key. */
#ifndef TF_BENCH_UTIL_H
#define TF_BENCH_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cliopt.h"

/* "tcp://127.0.0.1:PORT" for a loopback port that is free now, in out.
 * Returns 0 or a negated errno. */
static inline int bench_free_endpoint(char *out, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	close(fd);
	snprintf(out, size, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
	return 0;
}

/* The daemon's CURVE public key from DIR/curve.pub (tanfangd init writes
 * it). Returns as cli_read_server_key. */
static inline int bench_curve_pub(const char *dir, char out[41])
{
	char path[PATH_MAX + 32];
	int n = snprintf(path, sizeof path, "%s/curve.pub", dir);
	if (n < 0 || (size_t)n >= sizeof path)
		return -ENAMETOOLONG;
	return cli_read_server_key(path, out);
}

#endif
