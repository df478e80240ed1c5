#ifndef INSTAGRAM_AUTH_CLIBFUZZER_SHIM_H
#define INSTAGRAM_AUTH_CLIBFUZZER_SHIM_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver for programs with their own main (LLVM 13 and later). Only declared here:
/// it is linked in by -sanitize=fuzzer, and called only in a build with -DFUZZING.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
