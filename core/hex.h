/* Lowercase hex, the form in which keys are shown and accepted. */
#ifndef TF_HEX_H
#define TF_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "tf_err.h"

/* Writes 2*len lowercase hex digits and a NUL to out (size >= 2*len+1). */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly `len` bytes from a string of exactly 2*len hex digits
 * (either case). Returns 0, or -EINVAL on a wrong length or a non-hex digit. */
int hex_decode(const char *in, uint8_t *out, size_t len) TF_MUST_CHECK;

#endif
