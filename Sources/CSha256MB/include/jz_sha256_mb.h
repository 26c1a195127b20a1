// Multi-buffer SHA-256: many independent messages hashed side by side in SIMD lanes.
//
// On CPUs without SHA extensions (SHA-NI), one-message SHA-256 runs at ~7-8 cycles per byte
// whatever the library. Hashing 16 messages at once in AVX-512 lanes (one 32-bit lane per
// message) does the same work at ~1 cycle per byte. Content-addressed stores hash many
// independent blocks (file chunks, received blocks), which is exactly this shape.
#ifndef JZ_SHA256_MB_H
#define JZ_SHA256_MB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Lanes of the kernel this CPU runs: 16 (AVX-512F+BW+VL; batches of 8 or fewer use an 8-lane
/// form on 256-bit registers), or 0 when no kernel applies: no
/// AVX-512, or the CPU has SHA extensions (one-message SHA-NI is then as fast, so callers should
/// hash one message at a time). `JZ_SHA256_MB=0` in the environment also gives 0.
int jz_sha256_mb_lanes(void);

/// Lanes of the kernel compiled in and supported by the CPU, ignoring the SHA-NI and
/// environment preferences (for tests and benchmarks).
int jz_sha256_mb_supported_lanes(void);

/// SHA-256 of `count` messages (`data[i]`, `lengths[i]` bytes; `data[i]` may be NULL when the
/// length is 0). Writes digest i to `out + 32 * i`. Requires `jz_sha256_mb_supported_lanes() > 0`.
void jz_sha256_mb(const uint8_t *const *data, const size_t *lengths, size_t count, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif
