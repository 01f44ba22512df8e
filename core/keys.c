#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"

int keys_generate(struct keypair *out)
{
	crypto_sign_keypair(out->pk, out->sk);
	return 0;
}

int keys_save(const char *path, const struct keypair *kp)
{
	char line[66];
	hex_encode(kp->sk, 32, line);
	line[64] = '\n';
	line[65] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, line, 65);
	int r = (w == 65) ? 0 : (w < 0 ? -errno : -EIO);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	sodium_memzero(line, sizeof line);
	if (r < 0)
		unlink(path);
	return r;
}

int keys_load(const char *path, struct keypair *out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[128] = {0};
	char *got = fgets(line, sizeof line, f);
	fclose(f);
	if (!got)
		return TF_E_MALFORMED;
	line[strcspn(line, "\r\n")] = '\0';
	uint8_t seed[32];
	int r = hex_decode(line, seed, sizeof seed);
	sodium_memzero(line, sizeof line);
	if (r < 0)
		return TF_E_MALFORMED;
	crypto_sign_seed_keypair(out->pk, out->sk, seed);
	sodium_memzero(seed, sizeof seed);
	return 0;
}

void keys_pk_hex(const struct keypair *kp, char out[65])
{
	hex_encode(kp->pk, 32, out);
}

int keys_transport(const struct keypair *kp, uint8_t pub[32], uint8_t sec[32])
{
	if (crypto_sign_ed25519_pk_to_curve25519(pub, kp->pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(sec, kp->sk) != 0)
		return TF_E_MALFORMED;
	return 0;
}

int keys_transport_public(const uint8_t ed_pk[32], uint8_t pub[32])
{
	return crypto_sign_ed25519_pk_to_curve25519(pub, ed_pk) == 0 ? 0 : TF_E_MALFORMED;
}
