/* The INI parsers take a path (inih reads the file itself), so the INI fuzz
 * targets hand them each input as a file: an anonymous memory file, reached
 * through /proc/self/fd, so no disk is touched and nothing is left behind. */
#ifndef TF_FUZZ_FILE_H
#define TF_FUZZ_FILE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Replaces the memory file's content with data and writes its path into
 * path. The file is made on the first call and kept for the next ones.
 * Returns 0 or a negated errno. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t path_len)
{
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("fuzz-input", MFD_CLOEXEC)) < 0)
		return -errno;
	if (ftruncate(fd, 0) < 0)
		return -errno;
	for (size_t off = 0; off < size;) {
		ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	snprintf(path, path_len, "/proc/self/fd/%d", fd);
	return 0;
}

#endif
