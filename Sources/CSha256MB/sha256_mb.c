// Multi-buffer SHA-256 (FIPS 180-4) with AVX-512: 16 messages, one per 32-bit lane (an 8-lane
// form on 256-bit registers for batches of 8 or fewer).
//
// A small job manager keeps all 16 lanes busy: each lane hashes its message's whole 64-byte
// blocks straight from the caller's memory, then one or two padded tail blocks from a lane
// buffer; a lane that finishes takes the next message. Lanes with nothing left step over a zero
// block with stride 0 and their results are discarded.
#include "jz_sha256_mb.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define JZ_HAVE_AVX512_KERNEL 1
#include <immintrin.h>
#endif

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t IV256[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#ifdef JZ_HAVE_AVX512_KERNEL

// The 64 rounds of one 64-byte block on every lane, for vectors of type V with that width's
// operations (add, rotate right, shift right, three-way XOR, choose, majority, broadcast):
// `w` holds W[0..15] on entry and is reused as the message schedule; `h` (8 vectors) is updated.
#define SHA256_BLOCK(V, ADD, RORV, SRL, X3, CHV, MAJV, SET1, h, w) do {                          \
        V a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];      \
        for (int t = 0; t < 64; t++) {                                                           \
            V wt;                                                                                \
            if (t < 16) {                                                                        \
                wt = w[t];                                                                       \
            } else {                                                                             \
                V w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];                                  \
                V s0 = X3(RORV(w15, 7), RORV(w15, 18), SRL(w15, 3));                             \
                V s1 = X3(RORV(w2, 17), RORV(w2, 19), SRL(w2, 10));                              \
                wt = ADD(ADD(w[t & 15], s0), ADD(w[(t - 7) & 15], s1));                          \
            }                                                                                    \
            w[t & 15] = wt;                                                                      \
            V t1 = ADD(ADD(hh, X3(RORV(e, 6), RORV(e, 11), RORV(e, 25))),                        \
                       ADD(CHV(e, f, g), ADD(wt, SET1((int)K256[t]))));                          \
            V t2 = ADD(X3(RORV(a, 2), RORV(a, 13), RORV(a, 22)), MAJV(a, b, c));                 \
            hh = g; g = f; f = e;                                                                \
            e = ADD(d, t1);                                                                      \
            d = c; c = b; b = a;                                                                 \
            a = ADD(t1, t2);                                                                     \
        }                                                                                        \
        h[0] = ADD(h[0], a); h[1] = ADD(h[1], b); h[2] = ADD(h[2], c); h[3] = ADD(h[3], d);      \
        h[4] = ADD(h[4], e); h[5] = ADD(h[5], f); h[6] = ADD(h[6], g); h[7] = ADD(h[7], hh);     \
    } while (0)

#define AVX512 __attribute__((target("avx512f,avx512bw")))

enum { LANES = 16 };

// Lane state between kernel calls: digest words transposed (word k of every lane in one vector)
// and the address of each lane's next block, with its stride (64, or 0 for idle lanes).
typedef struct {
    uint32_t h[8][LANES];
    uint64_t addr[LANES];
    uint64_t step[LANES];
} Lanes;

#define ROR(x, n) _mm512_ror_epi32((x), (n))
// ternary-logic truth tables: XOR3 = a^b^c, CH = (a&b)^(~a&c), MAJ = (a&b)^(a&c)^(b&c)
#define XOR3(a, b, c) _mm512_ternarylogic_epi32((a), (b), (c), 0x96)
#define CH(e, f, g) _mm512_ternarylogic_epi32((e), (f), (g), 0xCA)
#define MAJ(a, b, c) _mm512_ternarylogic_epi32((a), (b), (c), 0xE8)

// Loads the current 64-byte block of all 16 lanes as 16 vectors W[0..15], W[t] holding big-endian
// word t of every lane: 16 row loads, then a 16x16 transpose of 32-bit words in four shuffle
// stages (much cheaper than 32 gathers).
AVX512 static inline void load_block(const uint64_t addr[LANES], __m512i w[16], __m512i bswap) {
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(uintptr_t)addr[i]), bswap);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4q + k]: in 128-bit chunk c, word 4c + k of rows 4q..4q+3
    __m512i u[16];
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int k = 0; k < 4; k++) {
        __m512i a = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x44);
        __m512i b = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xEE);
        __m512i c = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x44);
        __m512i d = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xEE);
        w[k] = _mm512_shuffle_i32x4(a, c, 0x88);
        w[4 + k] = _mm512_shuffle_i32x4(a, c, 0xDD);
        w[8 + k] = _mm512_shuffle_i32x4(b, d, 0x88);
        w[12 + k] = _mm512_shuffle_i32x4(b, d, 0xDD);
    }
}

// Hashes `blocks` 64-byte blocks on every lane, advancing each lane's address by its step.
AVX512 static void kernel_x16(Lanes *lanes, size_t blocks) {
    const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
    uint64_t addr[LANES];
    for (int i = 0; i < LANES; i++) addr[i] = lanes->addr[i];
    __m512i h[8];
    for (int k = 0; k < 8; k++) h[k] = _mm512_loadu_si512((const void *)lanes->h[k]);

    for (size_t block = 0; block < blocks; block++) {
        __m512i w[16];
        load_block(addr, w, bswap);
        SHA256_BLOCK(__m512i, _mm512_add_epi32, ROR, _mm512_srli_epi32, XOR3, CH, MAJ, _mm512_set1_epi32, h, w);
        for (int i = 0; i < LANES; i++) addr[i] += lanes->step[i];
    }

    for (int k = 0; k < 8; k++) _mm512_storeu_si512((void *)lanes->h[k], h[k]);
    for (int i = 0; i < LANES; i++) lanes->addr[i] = addr[i];
}

#define AVX512VL __attribute__((target("avx512f,avx512vl,avx512bw")))
#define ROR8(x, n) _mm256_ror_epi32((x), (n))
#define XOR3_8(a, b, c) _mm256_ternarylogic_epi32((a), (b), (c), 0x96)
#define CH8(e, f, g) _mm256_ternarylogic_epi32((e), (f), (g), 0xCA)
#define MAJ8(a, b, c) _mm256_ternarylogic_epi32((a), (b), (c), 0xE8)

// Transposes 8 rows of 8 words (r[i] = words of lane i) into w[k] = word k of every lane.
AVX512VL static inline void transpose8(const __m256i r[8], __m256i w[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4q + k]: in 128-bit half c, word 4c + k of rows 4q..4q+3
    for (int q = 0; q < 2; q++) {
        u[4 * q + 0] = _mm256_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm256_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm256_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm256_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int k = 0; k < 4; k++) {
        w[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
        w[4 + k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
    }
}

// The 8-lane kernel on 256-bit registers, for batches of at most 8 messages: the same rounds as
// kernel_x16 (AVX-512VL rotates and ternary logic), and a 256-bit operation can issue on three
// ports rather than two, so half-full batches run about 1.5x faster than in the 16-lane kernel.
AVX512VL static void kernel_x8(Lanes *lanes, size_t blocks) {
    const __m256i bswap = _mm256_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    uint64_t addr[8];
    for (int i = 0; i < 8; i++) addr[i] = lanes->addr[i];
    __m256i h[8];
    for (int k = 0; k < 8; k++) h[k] = _mm256_loadu_si256((const void *)lanes->h[k]);

    for (size_t block = 0; block < blocks; block++) {
        __m256i w[16], lo[8], hi[8];
        for (int i = 0; i < 8; i++) {
            const uint8_t *p = (const uint8_t *)(uintptr_t)addr[i];
            lo[i] = _mm256_shuffle_epi8(_mm256_loadu_si256((const void *)p), bswap);
            hi[i] = _mm256_shuffle_epi8(_mm256_loadu_si256((const void *)(p + 32)), bswap);
        }
        transpose8(lo, w);
        transpose8(hi, w + 8);
        SHA256_BLOCK(__m256i, _mm256_add_epi32, ROR8, _mm256_srli_epi32, XOR3_8, CH8, MAJ8, _mm256_set1_epi32, h, w);
        for (int i = 0; i < 8; i++) addr[i] += lanes->step[i];
    }

    for (int k = 0; k < 8; k++) _mm256_storeu_si256((void *)lanes->h[k], h[k]);
    for (int i = 0; i < 8; i++) lanes->addr[i] = addr[i];
}

// What a lane is doing: hashing message `message`'s whole blocks (phase 0), then its padded
// tail (phase 1); `left` blocks remain in the current phase.
typedef struct {
    size_t message;
    size_t left;
    int phase;
    int active;
    uint8_t tail[128];
} LaneJob;

static const uint8_t ZERO_BLOCK[64];

// Builds the padded tail of a message (the bytes after its last whole block, 0x80, zeros, the
// bit length) in `tail`; returns its block count (1 or 2).
static size_t build_tail(uint8_t tail[128], const uint8_t *data, size_t length) {
    size_t rest = length % 64;
    memset(tail, 0, 128);
    if (rest > 0) memcpy(tail, data + (length - rest), rest);
    tail[rest] = 0x80;
    size_t blocks = rest + 1 + 8 <= 64 ? 1 : 2;
    uint64_t bits = (uint64_t)length * 8;
    for (int i = 0; i < 8; i++) tail[blocks * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
    return blocks;
}

static void start_message(Lanes *lanes, LaneJob *job, int lane, size_t message,
                          const uint8_t *const *data, const size_t *lengths) {
    job->message = message;
    job->active = 1;
    for (int k = 0; k < 8; k++) lanes->h[k][lane] = IV256[k];
    size_t whole = lengths[message] / 64;
    if (whole > 0) {
        job->phase = 0;
        job->left = whole;
        lanes->addr[lane] = (uint64_t)(uintptr_t)data[message];
    } else {
        job->phase = 1;
        job->left = build_tail(job->tail, data[message], lengths[message]);
        lanes->addr[lane] = (uint64_t)(uintptr_t)job->tail;
    }
    lanes->step[lane] = 64;
}

static void park(Lanes *lanes, LaneJob *job, int lane) {
    job->active = 0;
    lanes->addr[lane] = (uint64_t)(uintptr_t)ZERO_BLOCK;
    lanes->step[lane] = 0;
}

// Runs the job manager over `width` lanes (16 or 8) with the matching kernel.
static void hash_lanes(const uint8_t *const *data, const size_t *lengths, size_t count, uint8_t *out,
                       int width, void (*kernel)(Lanes *, size_t)) {
    Lanes lanes;
    LaneJob jobs[LANES];
    size_t next = 0;
    int active = 0;
    for (int lane = 0; lane < width; lane++) {
        if (next < count) {
            start_message(&lanes, &jobs[lane], lane, next++, data, lengths);
            active++;
        } else {
            for (int k = 0; k < 8; k++) lanes.h[k][lane] = 0;
            park(&lanes, &jobs[lane], lane);
        }
    }
    while (active > 0) {
        size_t run = SIZE_MAX;
        for (int lane = 0; lane < width; lane++)
            if (jobs[lane].active && jobs[lane].left < run) run = jobs[lane].left;
        kernel(&lanes, run);
        for (int lane = 0; lane < width; lane++) {
            LaneJob *job = &jobs[lane];
            if (!job->active) continue;
            job->left -= run;
            if (job->left > 0) continue;
            if (job->phase == 0) {
                size_t m = job->message;
                job->phase = 1;
                job->left = build_tail(job->tail, data[m], lengths[m]);
                lanes.addr[lane] = (uint64_t)(uintptr_t)job->tail;
                continue;
            }
            uint8_t *digest = out + 32 * job->message;
            for (int k = 0; k < 8; k++) {
                uint32_t v = lanes.h[k][lane];
                digest[4 * k] = (uint8_t)(v >> 24);
                digest[4 * k + 1] = (uint8_t)(v >> 16);
                digest[4 * k + 2] = (uint8_t)(v >> 8);
                digest[4 * k + 3] = (uint8_t)v;
            }
            if (next < count) {
                start_message(&lanes, job, lane, next++, data, lengths);
            } else {
                park(&lanes, job, lane);
                active--;
            }
        }
    }
}

static int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl");
}

static int cpu_has_sha(void) {
    // CPUID leaf 7, sub-leaf 0: EBX bit 29 = SHA extensions.
    unsigned int eax = 7, ebx = 0, ecx = 0, edx = 0;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    return (ebx >> 29) & 1;
}

#endif  // JZ_HAVE_AVX512_KERNEL

int jz_sha256_mb_supported_lanes(void) {
#ifdef JZ_HAVE_AVX512_KERNEL
    static int lanes = -1;
    if (lanes < 0) lanes = cpu_has_avx512() ? LANES : 0;
    return lanes;
#else
    return 0;
#endif
}

int jz_sha256_mb_lanes(void) {
#ifdef JZ_HAVE_AVX512_KERNEL
    static int lanes = -1;
    if (lanes < 0) {
        const char *setting = getenv("JZ_SHA256_MB");
        int disabled = setting != NULL && strcmp(setting, "0") == 0;
        int forced = setting != NULL && strcmp(setting, "1") == 0;
        int supported = jz_sha256_mb_supported_lanes();
        lanes = (disabled || (!forced && cpu_has_sha())) ? 0 : supported;
    }
    return lanes;
#else
    return 0;
#endif
}

void jz_sha256_mb(const uint8_t *const *data, const size_t *lengths, size_t count, uint8_t *out) {
#ifdef JZ_HAVE_AVX512_KERNEL
    if (count == 0) return;
    if (count <= 8) {
        hash_lanes(data, lengths, count, out, 8, kernel_x8);
    } else {
        hash_lanes(data, lengths, count, out, LANES, kernel_x16);
    }
#else
    (void)data; (void)lengths; (void)count; (void)out;
    abort();
#endif
}
