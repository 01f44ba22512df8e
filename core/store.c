#include "store.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"

static const char *const db_names[DB_COUNT] = {
    [DB_META] = "meta",
    [DB_AREAS] = "areas",
    [DB_ELDERS] = "elders",
    [DB_VISITORS] = "visitors",
    [DB_KEYS] = "keys",
    [DB_RECORDS] = "records",
    [DB_ELDER_HIST] = "elder_hist",
    [DB_VISITOR_HIST] = "visitor_hist",
    [DB_LOG] = "log",
    [DB_DUTIES] = "duties",
    [DB_DUE] = "due",
    [DB_DUE_AREA] = "due_area",
    [DB_DUE_VISITOR] = "due_visitor",
    [DB_MONTH_VISITS] = "month_visits",
    [DB_ALERTS] = "alerts",
    [DB_ALERT_KEYS] = "alert_keys",
    [DB_PENDING] = "pending",
    [DB_FOLLOW_UP] = "follow_up",
    [DB_ELDER_FACTS] = "elder_facts",
    [DB_ELDER_SPANS] = "elder_spans",
    [DB_VISITOR_SPANS] = "visitor_spans",
    [DB_AREA_SPANS] = "area_spans",
    [DB_ASSIGNED] = "assigned",
    [DB_FILED] = "filed",
    [DB_FACT_ARRIVALS] = "fact_arrivals",
    [DB_SEEN] = "seen",
    [DB_TRANSPORT] = "transport",
    [DB_IMPORTS] = "imports",
    [DB_ELDER_TWINS] = "elder_twins",
    [DB_ELDER_AREAS] = "elder_areas",
    [DB_OUTBOX] = "outbox",
    [DB_REFUSED] = "refused",
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
};

struct store_txn {
	struct store *st;
	MDB_txn *txn;
};

struct store_cursor {
	struct store *st;
	MDB_cursor *cur;
};

/* Below this much free space, an EIO from a write is taken for a full disk
 * (see write_err): LMDB writes at most a few hundred KiB per call, so a
 * disk that cut one short is left with less than that. */
#define DISK_LOW_BYTES ((uint64_t)4 << 20)

static int map_err(int rc)
{
	switch (rc) {
	case 0: return 0;
	case MDB_NOTFOUND: return -ENOENT;
	case MDB_KEYEXIST: return -EEXIST;
	case MDB_MAP_FULL: return TF_E_MAPFULL;
	case MDB_TXN_FULL: return TF_E_MAPFULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH: return TF_E_CORRUPT;
	case ENOSPC: return -ENOSPC;
	case EDQUOT: return -EDQUOT;
	case EFBIG: return -EFBIG;
	case ENOMEM: return -ENOMEM;
	case EACCES: return -EACCES;
	case ENOENT: return -ENOENT;
	case EINVAL: return -EINVAL;
	default: return rc > 0 && rc < 4096 ? -rc : -EIO;
	}
}

bool store_full(int code)
{
	return code == TF_E_MAPFULL || code == -ENOSPC || code == -EDQUOT || code == -EFBIG;
}

/* The code of a failed call that may have written to the data file
 * (put, del and commit: LMDB spills dirty pages to disk in a large
 * transaction, and flushes them on commit). LMDB reports a write the disk
 * cut short as EIO ("short write, filesystem full?" in mdb.c), which would
 * read as a failing disk; what the disk and the process's limits say now
 * tells a full one apart: the file has reached RLIMIT_FSIZE (-EFBIG), or
 * the filesystem has next to nothing left (-ENOSPC). */
static int write_err(struct store *st, int rc)
{
	if (rc != EIO)
		return map_err(rc);
	int fd;
	struct stat sb;
	if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) < 0)
		return -EIO;
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)sb.st_size >= (uint64_t)rl.rlim_cur)
		return -EFBIG;
	struct statvfs vf;
	if (fstatvfs(fd, &vf) == 0 && (uint64_t)vf.f_bavail * vf.f_frsize < DISK_LOW_BYTES)
		return -ENOSPC;
	return -EIO;
}

int store_open(const char *dir, const struct store_options *opt, struct store **out)
{
	*out = NULL;
	struct store_options def = {0};
	if (!opt)
		opt = &def;
	struct store *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	int rc = mdb_env_create(&st->env);
	if (rc)
		goto err;
	rc = mdb_env_set_maxdbs(st->env, DB_COUNT + 2);
	if (rc)
		goto err;
	/* Readers: the io thread, verify workers, and short-lived query
	 * threads; generous so a busy daemon never hits MDB_READERS_FULL. */
	rc = mdb_env_set_maxreaders(st->env, 512);
	if (rc)
		goto err;
	rc = mdb_env_set_mapsize(st->env, opt->map_size ? opt->map_size : (size_t)1 << 30);
	if (rc)
		goto err;
	unsigned flags = MDB_NOTLS; /* read txns may be reset/renewed across threads */
	if (opt->read_only)
		flags |= MDB_RDONLY;
	if (opt->read_only && opt->no_lock)
		flags |= MDB_NOLOCK;
	if (opt->no_sync)
		flags |= MDB_NOSYNC;
	if (!opt->read_only && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = errno;
		goto err;
	}
	rc = mdb_env_open(st->env, dir, flags, 0600);
	if (rc)
		goto err;
	int dead = 0;
	rc = mdb_reader_check(st->env, &dead);
	if (rc)
		goto err;
	if (dead)
		log_info("cleared %d stale reader slot(s) in %s", dead, dir);

	MDB_txn *txn;
	rc = mdb_txn_begin(st->env, NULL, opt->read_only ? MDB_RDONLY : 0, &txn);
	if (rc)
		goto err;
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], opt->read_only ? 0 : MDB_CREATE, &st->dbi[i]);
		if (rc == MDB_NOTFOUND && opt->read_only) {
			/* An older store without this database: reads see it empty. */
			st->dbi[i] = 0;
			rc = 0;
			continue;
		}
		if (rc) {
			mdb_txn_abort(txn);
			goto err;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto err;
	*out = st;
	return 0;
err:
	if (st->env)
		mdb_env_close(st->env);
	free(st);
	return map_err(rc);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	mdb_env_close(st->env);
	free(st);
}

int store_txn_begin(struct store *st, bool write, struct store_txn *parent, struct store_txn **out)
{
	*out = NULL;
	struct store_txn *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->st = st;
	int rc =
	    mdb_txn_begin(st->env, parent ? parent->txn : NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc) {
		free(t);
		return map_err(rc);
	}
	*out = t;
	return 0;
}

uint64_t store_txn_id(const struct store_txn *txn)
{
	return (uint64_t)mdb_txn_id(txn->txn);
}

int store_txn_twin(struct store_txn *txn, struct store_txn **out)
{
	int r = store_txn_begin(txn->st, false, NULL, out);
	if (r < 0)
		return r;
	if (mdb_txn_id((*out)->txn) != mdb_txn_id(txn->txn)) {
		store_txn_abort(*out);
		*out = NULL;
		return -EAGAIN;
	}
	return 0;
}

int store_txn_commit(struct store_txn *txn)
{
	struct store *st = txn->st;
	int rc = mdb_txn_commit(txn->txn);
	free(txn);
	return write_err(st, rc);
}

void store_txn_abort(struct store_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn->txn);
	free(txn);
}

void store_txn_reset(struct store_txn *txn)
{
	mdb_txn_reset(txn->txn);
}
int store_txn_renew(struct store_txn *txn)
{
	return map_err(mdb_txn_renew(txn->txn));
}

/* LMDB refuses an empty key or one longer than its limit (511 bytes) with
 * MDB_BAD_VALSIZE. Keys are built from what requests name (an elder's id, a
 * visitor's): no such key can be stored, so a lookup finds nothing and a
 * write is refused, rather than either failing as an I/O error (found by
 * fuzzing the request path). */
static bool key_ok(const struct store_txn *txn, size_t klen)
{
	return klen > 0 && klen <= (size_t)mdb_env_get_maxkeysize(txn->st->env);
}

int store_get(struct store_txn *txn, enum store_db db, const void *key, size_t klen,
              const void **val, size_t *vlen)
{
	if (!key_ok(txn, klen))
		return -ENOENT;
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_get(txn->txn, txn->st->dbi[db], &k, &v);
	if (rc)
		return map_err(rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

int store_put(struct store_txn *txn, enum store_db db, const void *key, size_t klen,
              const void *val, size_t vlen, unsigned flags)
{
	if (!key_ok(txn, klen))
		return TF_E_INVALID;
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	unsigned f = (flags & STORE_NOOVERWRITE) ? MDB_NOOVERWRITE : 0;
	return write_err(txn->st, mdb_put(txn->txn, txn->st->dbi[db], &k, &v, f));
}

int store_del(struct store_txn *txn, enum store_db db, const void *key, size_t klen)
{
	if (!key_ok(txn, klen))
		return -ENOENT;
	MDB_val k = {klen, (void *)key};
	return write_err(txn->st, mdb_del(txn->txn, txn->st->dbi[db], &k, NULL));
}

int store_clear(struct store_txn *txn, enum store_db db)
{
	return write_err(txn->st, mdb_drop(txn->txn, txn->st->dbi[db], 0));
}

int store_each(struct store_txn *txn, enum store_db db, store_each_fn fn, void *ctx)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, db, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl))
		if ((r = fn(ctx, k, kl, v, vl)) != 0)
			break;
	store_cursor_close(cur);
	return r == -ENOENT || r > 0 ? 0 : r;
}

int store_count(struct store_txn *txn, enum store_db db, size_t *out)
{
	MDB_stat s;
	int rc = mdb_stat(txn->txn, txn->st->dbi[db], &s);
	if (rc)
		return map_err(rc);
	*out = s.ms_entries;
	return 0;
}

int store_used_bytes(struct store_txn *txn, enum store_db db, uint64_t *out)
{
	MDB_stat s;
	int rc = mdb_stat(txn->txn, txn->st->dbi[db], &s);
	if (rc)
		return map_err(rc);
	*out = (uint64_t)(s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages) * s.ms_psize;
	return 0;
}

const char *store_db_name(enum store_db db)
{
	return db >= 0 && db < DB_COUNT ? db_names[db] : "?";
}

int store_cursor_open(struct store_txn *txn, enum store_db db, struct store_cursor **out)
{
	*out = NULL;
	struct store_cursor *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->st = txn->st;
	int rc = mdb_cursor_open(txn->txn, txn->st->dbi[db], &c->cur);
	if (rc) {
		free(c);
		return map_err(rc);
	}
	*out = c;
	return 0;
}

void store_cursor_close(struct store_cursor *cur)
{
	if (!cur)
		return;
	mdb_cursor_close(cur->cur);
	free(cur);
}

static int cursor_get(struct store_cursor *cur, MDB_val *k, MDB_cursor_op op, const void **ko,
                      size_t *kl, const void **vo, size_t *vl)
{
	MDB_val v;
	int rc = mdb_cursor_get(cur->cur, k, &v, op);
	if (rc)
		return map_err(rc);
	if (ko)
		*ko = k->mv_data, *kl = k->mv_size;
	if (vo)
		*vo = v.mv_data, *vl = v.mv_size;
	return 0;
}

int store_cursor_seek(struct store_cursor *cur, const void *key, size_t klen, const void **k,
                      size_t *kl, const void **v, size_t *vl)
{
	/* A key beyond LMDB's limit seeks by its longest storable prefix: the
	 * only stored key that can lie between the two is that prefix itself,
	 * and the callers check the keys they find against the whole one. */
	size_t max = (size_t)mdb_env_get_maxkeysize(cur->st->env);
	MDB_val mk = {klen < max ? klen : max, (void *)key};
	return cursor_get(cur, &mk, klen ? MDB_SET_RANGE : MDB_FIRST, k, kl, v, vl);
}

int store_cursor_next(struct store_cursor *cur, const void **k, size_t *kl, const void **v,
                      size_t *vl)
{
	MDB_val mk = {0, NULL};
	return cursor_get(cur, &mk, MDB_NEXT, k, kl, v, vl);
}

int store_cursor_prev(struct store_cursor *cur, const void **k, size_t *kl, const void **v,
                      size_t *vl)
{
	MDB_val mk = {0, NULL};
	return cursor_get(cur, &mk, MDB_PREV, k, kl, v, vl);
}

int store_cursor_last(struct store_cursor *cur, const void **k, size_t *kl, const void **v,
                      size_t *vl)
{
	MDB_val mk = {0, NULL};
	return cursor_get(cur, &mk, MDB_LAST, k, kl, v, vl);
}

int store_cursor_del(struct store_cursor *cur)
{
	return write_err(cur->st, mdb_cursor_del(cur->cur, 0));
}

/* Bytes on the free list of the last committed snapshot: pages LMDB hands
 * out again before it takes new ones past the end. LMDB refuses a cursor on
 * its free list inside a write transaction, so this reads it in a read
 * transaction of its own; called while the caller holds the write
 * transaction, that snapshot is the one the writer starts from. */
static int free_bytes(struct store *st, uint64_t psize, uint64_t *out)
{
	*out = 0;
	MDB_txn *rt;
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &rt);
	if (rc)
		return map_err(rc);
	MDB_cursor *c;
	rc = mdb_cursor_open(rt, 0 /* FREE_DBI */, &c);
	if (rc == 0) {
		MDB_val k, v;
		uint64_t pages = 0;
		/* Each record is an ID list: its first word counts the pages. */
		while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
			size_t n;
			if (v.mv_size < sizeof n) {
				rc = MDB_CORRUPTED;
				break;
			}
			memcpy(&n, v.mv_data, sizeof n);
			pages += n;
		}
		mdb_cursor_close(c);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			*out = pages * psize;
		}
	}
	mdb_txn_abort(rt);
	return map_err(rc);
}

int store_reserve(struct store_txn *txn, size_t bytes)
{
	struct store *st = txn->st;
	MDB_envinfo info;
	MDB_stat es;
	int fd;
	struct stat sb;
	int rc = mdb_env_info(st->env, &info);
	if (rc == 0)
		rc = mdb_env_stat(st->env, &es);
	if (rc == 0)
		rc = mdb_env_get_fd(st->env, &fd);
	if (rc)
		return map_err(rc);
	uint64_t psize = es.ms_psize;
	uint64_t used = ((uint64_t)info.me_last_pgno + 1) * psize;
	uint64_t map = info.me_mapsize;
	uint64_t freeb;
	int r = free_bytes(st, psize, &freeb);
	if (r < 0)
		return r;
	uint64_t map_room = (map > used ? map - used : 0) + freeb;
	if (map_room < bytes)
		return TF_E_MAPFULL;
	if (fstat(fd, &sb) < 0)
		return -errno;
	uint64_t size = (uint64_t)sb.st_size;
	uint64_t tail = size > used ? size - used : 0;
	if (tail + freeb >= bytes)
		return 0;
	/* Allocate what is missing, and as much again when the disk allows, so
	 * the next calls find room without a system call. */
	uint64_t want = used + (bytes - freeb), more = want + bytes;
	if (more > map)
		more = map;
	rc = posix_fallocate(fd, (off_t)size, (off_t)(more - size));
	if ((rc == ENOSPC || rc == EDQUOT || rc == EFBIG) && more > want)
		rc = posix_fallocate(fd, (off_t)size, (off_t)(want - size));
	/* A filesystem that cannot preallocate: writes find out for themselves. */
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = 0;
	return rc ? map_err(rc) : 0;
}

int store_backup(struct store *st, const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* The copy is as private as the store (issue 8, item 9):
	 * mdb_env_copy2 would create it 0666 less the umask, readable by
	 * everyone on a usual system, so the file is made here, 0600, and
	 * LMDB writes into it. O_EXCL: a backup never overwrites a store. */
	char path[4096];
	int n = snprintf(path, sizeof path, "%s/data.mdb", dir);
	if (n < 0 || (size_t)n >= sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = map_err(mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		unlink(path); /* no half copy left to be mistaken for a backup */
	return r;
}

void store_be64(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

uint64_t store_get_be64(const uint8_t in[8])
{
	uint64_t v;
	memcpy(&v, in, 8);
	return be64toh(v);
}

#define VERSION_KEY "version"
#define CREATED_KEY "created_version"

/* META value key as a string into out (size > 0); "" when absent. */
static int meta_string(struct store_txn *txn, const char *key, char *out, size_t size)
{
	const void *v;
	size_t vl;
	out[0] = '\0';
	int r = store_get(txn, DB_META, key, strlen(key), &v, &vl);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (vl >= size)
		vl = size - 1;
	memcpy(out, v, vl);
	out[vl] = '\0';
	return 0;
}

int store_version_get(struct store *st, char *version, char *created, size_t size)
{
	struct store_txn *txn;
	int r = store_txn_begin(st, false, NULL, &txn);
	if (r < 0)
		return r;
	r = meta_string(txn, VERSION_KEY, version, size);
	if (r == 0)
		r = meta_string(txn, CREATED_KEY, created, size);
	store_txn_abort(txn);
	return r;
}

int store_version_mark(struct store *st, const char *version, bool is_new, char *prev, size_t size)
{
	struct store_txn *txn;
	int r = store_txn_begin(st, true, NULL, &txn);
	if (r < 0)
		return r;
	r = meta_string(txn, VERSION_KEY, prev, size);
	if (r == 0 && strcmp(prev, version) != 0)
		r = store_put(txn, DB_META, VERSION_KEY, strlen(VERSION_KEY), version,
		              strlen(version), 0);
	/* A store made before versions were recorded did not start here. */
	if (r == 0 && is_new)
		r = store_put(txn, DB_META, CREATED_KEY, strlen(CREATED_KEY), version,
		              strlen(version), 0);
	if (r < 0) {
		store_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}
