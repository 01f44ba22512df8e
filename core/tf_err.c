#include "tf_err.h"

#include <string.h>

const char *tf_strerror(int code)
{
	switch (code) {
	case TF_E_MALFORMED: return "malformed message";
	case TF_E_BADSIG: return "bad signature";
	case TF_E_SIGNER: return "unknown or revoked signer";
	case TF_E_FORBIDDEN: return "forbidden";
	case TF_E_CONFLICT: return "conflict: same id, different content";
	case TF_E_DUPLICATE: return "duplicate";
	case TF_E_NOELDER: return "unknown elder";
	case TF_E_INVALID: return "invalid";
	case TF_E_MAPFULL: return "store full (LMDB map size reached)";
	case TF_E_TIMEOUT: return "timed out";
	case TF_E_CORRUPT: return "stored data is corrupt";
	case TF_E_FUTURE: return "dated in the future (check the date and the device's clock)";
	default: break;
	}
	if (code < 0 && code > -TF_E_BASE)
		return strerror(-code);
	return "unknown error";
}
