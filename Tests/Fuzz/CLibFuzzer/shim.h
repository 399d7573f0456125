// libFuzzer's driver, linked by -sanitize=fuzzer (header only: the symbol comes from libFuzzer).
// SwiftPM links an executable's entry point as `main`, which libFuzzer also defines; the fuzz
// executable's own entry point hands over to this instead (Tests/Fuzz/Sources/FuzzEntry.swift).
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
