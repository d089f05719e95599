/* tac_rng.c - mt19937 (bit-compatible with std::mt19937) and faiss 1.7's rand_perm.
 *
 * Every random choice in taclust draws from a tac_mt seeded from the user's --seed, so runs are reproducible.
 */
#include "taclust/core.h"
#include "core/tac_internal.h"

#include <math.h>

void tac_mt_seed(tac_mt *r, uint32_t seed)
{
    r->mt[0] = seed;
    for (int i = 1; i < 624; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->idx = 624;
}

static void mt_twist(tac_mt *r)
{
    for (int i = 0; i < 624; i++) {
        uint32_t y = (r->mt[i] & 0x80000000u) | (r->mt[(i + 1) % 624] & 0x7fffffffu);
        uint32_t v = r->mt[(i + 397) % 624] ^ (y >> 1);
        if (y & 1u) v ^= 0x9908b0dfu;
        r->mt[i] = v;
    }
    r->idx = 0;
}

uint32_t tac_mt_next(tac_mt *r)
{
    if (r->idx >= 624) mt_twist(r);
    uint32_t y = r->mt[r->idx++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

float tac_mt_float(tac_mt *r) { return (float)tac_mt_next(r) / 4294967295.0f; }

double tac_mt_uniform(tac_mt *r)
{
    uint64_t a = tac_mt_next(r) >> 5, b = tac_mt_next(r) >> 6;
    return (double)(a * 67108864u + b) / 9007199254740992.0;
}

double tac_mt_normal(tac_mt *r)
{
    double u1 = tac_mt_uniform(r), u2 = tac_mt_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t tac_mt_below(tac_mt *r, uint64_t n)
{
    if (n <= 1) return 0;
    if (n <= 0xffffffffu) {
        uint32_t lim = (uint32_t)(0x100000000ull - (0x100000000ull % n)) ; /* reject the biased tail */
        for (;;) {
            uint32_t x = tac_mt_next(r);
            if (lim == 0 || x < lim) return x % n;
        }
    }
    for (;;) {
        uint64_t x = ((uint64_t)tac_mt_next(r) << 32) | tac_mt_next(r);
        uint64_t lim = UINT64_MAX - (UINT64_MAX % n);
        if (x < lim) return x % n;
    }
}

void tac_rand_perm(int64_t *perm, int64_t n, uint32_t seed)
{
    tac_mt r;
    tac_mt_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = 0; i + 1 < n; i++) {
        int64_t j = i + (int64_t)(tac_mt_next(&r) % (uint64_t)(n - i));
        int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}
