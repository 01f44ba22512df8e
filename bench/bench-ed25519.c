/* bench-ed25519: the machine's Ed25519 ceiling for signed ingest (issue
 * 12): each process signs a visit-sized message and verifies it, as a
 * client and the daemon do between them, for --seconds, and prints the
 * pairs per second. Run as many processes as the cores the clients and the
 * daemon share (bench/bench-pg.sh runs two).
 *
 *   bench-ed25519 [--seconds S] [--bytes N]
 *
 * Prints one line: "ed25519 sign+verify: R pairs/s (N bytes)". */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 10;
	size_t bytes = 800; /* a visit's signed body is several hundred bytes */
	static const struct option lo[] = {{"seconds", required_argument, NULL, 's'},
	                                   {"bytes", required_argument, NULL, 'b'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's': seconds = atof(optarg); break;
		case 'b': bytes = (size_t)strtoul(optarg, NULL, 10); break;
		case 'h': puts("usage: bench-ed25519 [--seconds S] [--bytes N]"); return 0;
		default: fputs("Try 'bench-ed25519 --help'.\n", stderr); return 2;
		}
	}
	if (seconds <= 0 || seconds > 3600 || bytes < 1 || bytes > 1 << 20) {
		fputs("bench-ed25519: seconds 0..3600, bytes 1..1048576\n", stderr);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	crypto_sign_keypair(pk, sk);
	unsigned char *msg = malloc(bytes), sig[crypto_sign_BYTES];
	if (!msg)
		return 1;
	randombytes_buf(msg, bytes);
	unsigned long n = 0;
	double t0 = mono_s(), t = t0;
	while (t - t0 < seconds) {
		for (int i = 0; i < 64; i++, n++) {
			msg[n % bytes] ^= 1; /* a new message each time */
			crypto_sign_detached(sig, NULL, msg, bytes, sk);
			if (crypto_sign_verify_detached(sig, msg, bytes, pk) != 0)
				return 1;
		}
		t = mono_s();
	}
	printf("ed25519 sign+verify: %.0f pairs/s (%zu bytes)\n", (double)n / (t - t0), bytes);
	free(msg);
	return 0;
}
