/* tac_hash.c - FNV-1a 64, the one definition used by the caches' record checksums and keys, the noun cache's
 * vocabulary key and the heads file checksum.
 *
 *   uint64_t h = tac_fnv1a64(TAC_FNV1A64_INIT, buf, n);      // one buffer
 *   h = tac_fnv1a64(h, more, m);                             // continued over several pieces
 * Parameters: offset basis 14695981039346656037 (0xcbf29ce484222325), prime 1099511628211 (0x100000001b3).
 */
#include "taclust/core.h"

uint64_t tac_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= TAC_FNV1A64_PRIME; }
    return h;
}
