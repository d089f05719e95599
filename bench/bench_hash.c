/* bench_hash.c - throughput of the model hash (src/clip/tac_clip_hash.c: 4-lane streaming 64-bit hash over all
 * bytes) on a buffer in memory, side by side with memcpy of the same buffer (the memory-speed reference the hash
 * should approach) and with FNV-1a 64 (the byte-at-a-time hash the model hash used before, over 4 KB per MB).
 * Prints the machine, then the median of 5 runs of each, in GB/s.
 *
 *   make bench && build/bench_hash [MiB]          (default 512 MiB)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "clip/tac_clip_internal.h"

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 512;
    size_t n = mib << 20;
    uint8_t *a = malloc(n), *b = malloc(n);
    if (!a || !b) { fprintf(stderr, "bench_hash: cannot allocate 2 x %zu MiB\n", mib); return 1; }
    for (size_t i = 0; i < n; i++) a[i] = (uint8_t)(i * 2654435761u >> 13);
    memcpy(b, a, n);                                  /* touch every page of b */
    print_machine();
    printf("buffer %zu MiB, median of 5 runs\n", mib);
    double th[5], tm[5], tf[5];
    uint64_t sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = tac_now();
        tac_hash64 h;
        tac_hash64_init(&h, 0);
        for (size_t o = 0; o < n; o += (size_t)4 << 20) tac_hash64_update(&h, a + o, n - o < ((size_t)4 << 20) ? n - o : (size_t)4 << 20);
        sink ^= tac_hash64_final(&h);
        th[r] = tac_now() - t0;
        t0 = tac_now();
        memcpy(b, a, n);
        tm[r] = tac_now() - t0;
        sink ^= b[r * 7];
        size_t part = n / 16;                         /* FNV on 1/16 of the buffer, scaled */
        t0 = tac_now();
        sink ^= fnv1a(a, part);
        tf[r] = (tac_now() - t0) * 16;
    }
    double gb = (double)n / 1e9;
    printf("  tac_hash64 (all bytes)     %6.2f GB/s\n", gb / median(th, 5));
    printf("  memcpy (read + write)      %6.2f GB/s\n", gb / median(tm, 5));
    printf("  FNV-1a 64, byte at a time  %6.2f GB/s\n", gb / median(tf, 5));
    printf("(checksum %016llx)\n", (unsigned long long)sink);
    free(a); free(b);
    return 0;
}
