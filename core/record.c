#include "record.h"

#include <errno.h>

int record_get(struct store_txn *txn, const uint8_t id[16], tf_record **out)
{
	*out = NULL;
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_RECORDS, id, 16, &v, &vl);
	if (r < 0)
		return r;
	return wire_unpack(WIRE_RECORD, v, vl, (void **)out) < 0 ? TF_E_CORRUPT : 0;
}
