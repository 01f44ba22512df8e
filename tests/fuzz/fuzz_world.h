/* The small, fixed world the request-path fuzz target runs in, shared with
 * the program that writes its seed corpus (gen-request-corpus.c).
 *
 * Everything is deterministic: the clock is pinned at WORLD_NOW, every key is
 * made from a fixed seed (Ed25519 signatures are deterministic too), and the
 * registry is built by the same signed requests in the same order. So a
 * sealed envelope written by the generator verifies in the target, and a
 * crashing input found on one machine replays on another. */
#ifndef TF_FUZZ_WORLD_H
#define TF_FUZZ_WORLD_H

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "keys.h"
#include "wire.h"

/* 2026-12-15 12:00 in Asia/Shanghai: mid-month, so month-based queries and
 * overdue duties both have something to say. */
#define WORLD_NOW ((int64_t)1797307200)
/* The registry takes effect 90 days before WORLD_NOW, so monthly duties are
 * already overdue and the alert paths have work to do. */
#define WORLD_SINCE (WORLD_NOW - 90 * 86400)

/* Who signs: the request target's first input byte picks one of these (0 is
 * "the input is already a whole Envelope frame"), see fuzz-request.c. */
enum world_signer {
	W_ADMIN,      /* the bootstrapped root admin */
	W_GRID,       /* g1, grid worker, scope: village 152223100201 */
	W_SUPERVISOR, /* s1, supervisor, scope: the banner 152223 */
	W_PARTY,      /* p1, party member, scope: village 152223100201 */
	W_DISPATCHER, /* d1, alert dispatcher, scope: the banner */
	W_NEIGHBOUR,  /* n1, "1+2" neighbour household of e1 */
	W_HEALTH,     /* h1, health worker, scope: township 152223200 */
	W_REVOKED,    /* a key of g1 that was revoked */
	W_STRANGER,   /* a key never enrolled */
	W_COUNT
};

static const char *const world_visitor_of[W_COUNT] = {
    [W_ADMIN] = "admin", [W_GRID] = "g1",       [W_SUPERVISOR] = "s1",
    [W_PARTY] = "p1",    [W_DISPATCHER] = "d1", [W_NEIGHBOUR] = "n1",
    [W_HEALTH] = "h1",   [W_REVOKED] = "g1",    [W_STRANGER] = NULL,
};

/* The key of signer s, from a fixed seed. Returns 0, or -1 if libsodium
 * refused (it cannot for a 32-byte seed). */
static inline int world_key(enum world_signer s, struct keypair *kp)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	memset(seed, 0xa0 + (int)s, sizeof seed);
	seed[0] = (uint8_t)s;
	return crypto_sign_seed_keypair(kp->pk, kp->sk, seed) == 0 ? 0 : -1;
}

/* Record ids already stored in the world (a visit and a care event by g1 for
 * e1), so corrections, duplicates and conflicts are reachable. */
static inline void world_id(uint8_t id[16], uint8_t tag)
{
	memset(id, tag, 16);
	id[0] = 0x7f;
}
#define WORLD_VISIT_TAG 0x11
#define WORLD_EVENT_TAG 0x22

#endif
