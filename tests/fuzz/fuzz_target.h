/* The entry point every fuzz target defines. libFuzzer calls it once per
 * input; replay.c calls it for each file of a corpus, so the same targets
 * run as plain regression tests in a build without libFuzzer. A target
 * reports a broken invariant by aborting. */
#ifndef TF_FUZZ_TARGET_H
#define TF_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
