/* fuzz_hub.c - libFuzzer target for the hub's parsers of untrusted text (src/hub/): model ids
 * (tac_hub_parse_id), a repo's *.index.json (tac_hub_index_shards) and its config files (tac_hub_check_clip).
 *
 *   make fuzz && build-fuzz/fuzz_hub -max_total_time=60 fuzz/corpus/hub
 * The first byte picks the parser; the rest is its input (for the configs: config.json, a NUL, then
 * open_clip_config.json). Accepted ids and shard names must be safe to put in a cache path (no "..", no extra '/');
 * a rejection must carry a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/tac_hub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = data[0] % 3;
    size_t n = size - 1;
    char *buf = malloc(n + 1);
    memcpy(buf, data + 1, n);
    buf[n] = 0;
    tac_clear_error();
    int rc;
    if (which == 0) {
        char repo[64], rev[64];
        rc = tac_hub_parse_id(buf, repo, sizeof repo, rev, sizeof rev);
        if (rc == TAC_OK) {
            const char *s = strchr(repo, '/');
            if (!s || strchr(s + 1, '/') || strstr(repo, "..") || strstr(repo, "--") || !rev[0] || strstr(rev, "..") ||
                rev[0] == '/')
                abort();
        }
    } else if (which == 1) {
        char **sh;
        int k;
        rc = tac_hub_index_shards(buf, n, "fuzz", &sh, &k);
        if (rc == TAC_OK) {
            if (k < 1) abort();
            for (int i = 0; i < k; i++) {
                if (!tac_hub_safe_name(sh[i])) abort();
                free(sh[i]);
            }
            free(sh);
        }
    } else {
        size_t cl = strnlen(buf, n);
        const char *oc = cl < n ? buf + cl + 1 : NULL;
        int hf;
        rc = tac_hub_check_clip("fuzz/repo", cl ? buf : NULL, cl, oc, oc ? n - cl - 1 : 0, &hf);
        if (rc == TAC_OK && hf != 0 && hf != 1) abort();
    }
    if (rc != TAC_OK && tac_last_error()[0] == 0) abort();
    free(buf);
    return 0;
}
