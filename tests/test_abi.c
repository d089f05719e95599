/* test_abi.c - tac_struct_size (taclust/abi.h): the sizes bindings check their struct mirrors against. */
#include "tac_test.h"

#include "taclust/abi.h"
#include "taclust/cluster.h"
#include "taclust/embed.h"
#include "taclust/heads.h"
#include "taclust/metrics.h"
#include "taclust/pipeline.h"

TAC_TEST(abi_struct_sizes)
{
    TAC_CHECK(tac_struct_size("tac_fit_params") == sizeof(tac_fit_params));
    TAC_CHECK(tac_struct_size("tac_fit_result") == sizeof(tac_fit_result));
    TAC_CHECK(tac_struct_size("tac_heads_params") == sizeof(tac_heads_params));
    TAC_CHECK(tac_struct_size("tac_kmeans_params") == sizeof(tac_kmeans_params));
    TAC_CHECK(tac_struct_size("tac_embed_images_params") == sizeof(tac_embed_images_params));
    TAC_CHECK(tac_struct_size("tac_embed_text_params") == sizeof(tac_embed_text_params));
    TAC_CHECK(tac_struct_size("tac_metrics") == sizeof(tac_metrics));
    TAC_CHECK(tac_struct_size("tac_npy_map") == sizeof(tac_npy_map));
    /* unknown names, a prefix of a known one, NULL: 0 */
    TAC_CHECK(tac_struct_size("tac_nothing") == 0);
    TAC_CHECK(tac_struct_size("tac_fit") == 0);
    TAC_CHECK(tac_struct_size("") == 0);
    TAC_CHECK(tac_struct_size(NULL) == 0);
}
