/* test_hub.c - models by Hugging Face id (src/hub/): SHA-256 against the FIPS 180-4 vectors, repo ids, and the
 * download into the huggingface_hub cache layout against a small HTTP server run here on 127.0.0.1 (port 0, a
 * thread of this process, stopped by every test that starts it) that serves the committed tiny CLIP model with
 * the Hub's URL layout and headers: /{repo}/resolve/{revision}/{file} answers with X-Repo-Commit and ETag, LFS
 * files with X-Linked-Etag / X-Linked-Size and a 302 to a different path (/cdn/<sha256>, as the Hub's CDN), and
 * errors with X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo). It counts requests and
 * records Range headers, and can cut a transfer in the middle or announce a wrong sha256. No network needed.
 * The constructor below sets HF_HUB_OFFLINE=1 for the whole test run, so that no test of the suite (a command run
 * without --model, say) ever reaches the real Hub; the tests here pass offline = 0 or HF_HUB_OFFLINE= themselves. */
#include "tac_test.h"
#include "taclust/clip.h"
#include "taclust/hub.h"
#include "hub/tac_hub_internal.h"   /* white-box: the index.json shard list */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void __attribute__((constructor)) hub_tests_offline(void) { setenv("HF_HUB_OFFLINE", "1", 1); }

/* ---- SHA-256 ------------------------------------------------------------------------------------------------ */

TAC_TEST(hub_sha256_known_vectors)
{
    char hex[65];
    tac_sha256_hex("", 0, hex);
    TAC_CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    tac_sha256_hex("abc", 3, hex);
    TAC_CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";   /* 56 bytes: padding spills a block */
    tac_sha256_hex(m448, strlen(m448), hex);
    TAC_CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    tac_sha256_hex(m896, strlen(m896), hex);
    TAC_CHECK(strcmp(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1") == 0);
    /* one million 'a', fed in uneven pieces (1, 2, 3, ... bytes) so every buffering path runs */
    tac_sha256_ctx c;
    tac_sha256_init(&c);
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    size_t off = 0;
    for (size_t step = 1; off < 1000000; step = step % 131 + 1) {
        size_t n = off + step > 1000000 ? 1000000 - off : step;
        tac_sha256_update(&c, a + off, n);
        off += n;
    }
    uint8_t d[32];
    tac_sha256_final(&c, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    TAC_CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    free(a);
    /* lengths around the padding boundary (55, 56, 63, 64, 65): pieces equal one shot */
    uint8_t buf[200];
    for (int i = 0; i < 200; i++) buf[i] = (uint8_t)(i * 37 + 11);
    const int lens[] = {55, 56, 63, 64, 65, 119, 120, 128, 200};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        char one[65], two[65];
        tac_sha256_hex(buf, (size_t)lens[k], one);
        tac_sha256_init(&c);
        tac_sha256_update(&c, buf, 7);
        tac_sha256_update(&c, buf + 7, (size_t)lens[k] - 7);
        tac_sha256_final(&c, d);
        for (int i = 0; i < 32; i++) snprintf(two + 2 * i, 3, "%02x", d[i]);
        if (strcmp(one, two) != 0) tac_test_fail_at(__FILE__, __LINE__, "length %d: pieces %s, one shot %s", lens[k], two, one);
    }
}

TAC_TEST(hub_parse_model_ids)
{
    char repo[128], rev[128];
    TAC_CHECK_OK(tac_hub_parse_id("openai/clip-vit-base-patch32", repo, sizeof repo, rev, sizeof rev));
    TAC_CHECK(strcmp(repo, "openai/clip-vit-base-patch32") == 0 && strcmp(rev, "main") == 0);
    TAC_CHECK_OK(tac_hub_parse_id("laion/CLIP-ViT-B-32-laion2B-s34B-b79K@refs/pr/3", repo, sizeof repo, rev, sizeof rev));
    TAC_CHECK(strcmp(repo, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K") == 0 && strcmp(rev, "refs/pr/3") == 0);
    TAC_CHECK_OK(tac_hub_parse_id("timm/vit_base_patch16_clip_224.openai@v1.0", repo, sizeof repo, rev, sizeof rev));
    TAC_CHECK(strcmp(rev, "v1.0") == 0);
    const char *bad[] = {"clip", "/abs/path", "a/b/c", "a//b", "a/", "/b", "a/b@", "a/../b", "a/b@../x", "a b/c",
                         "a/b@x/", "a--b/c", ".a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tac_hub_parse_id(bad[i], repo, sizeof repo, rev, sizeof rev) == TAC_OK)
            tac_test_fail_at(__FILE__, __LINE__, "'%s' parsed as a model id", bad[i]);
    TAC_CHECK(strstr(tac_last_error(), "neither a folder nor a Hugging Face model id") != NULL);
    /* a folder wins over an id, whatever it looks like */
    char *dir = NULL;
    TAC_CHECK_OK(tac_model_resolve("tests/fixtures", NULL, &dir));
    TAC_CHECK(dir && strcmp(dir, "tests/fixtures") == 0);
    free(dir);
    TAC_CHECK_ERR(tac_model_resolve("./no/such/folder", NULL, &dir), "no such folder");
}

/* The shard list of a .index.json: each file once, in first-seen order; names that would leave the snapshot folder
 * refused (the error path once read freed memory: found by fuzz/fuzz_hub.c). */
TAC_TEST(hub_index_shards_parse)
{
    const char *ok = "{\"weight_map\": {\"a\": \"s2.safetensors\", \"b\": \"s1.safetensors\", \"c\": \"s2.safetensors\"}}";
    char **sh; int n;
    TAC_CHECK_OK(tac_hub_index_shards(ok, strlen(ok), "idx", &sh, &n));
    TAC_REQUIRE(n == 2);
    TAC_CHECK(strcmp(sh[0], "s2.safetensors") == 0 && strcmp(sh[1], "s1.safetensors") == 0);
    free(sh[0]); free(sh[1]); free(sh);
    const char *bad[] = {"{\"weight_map\": {\"a\": \"s1\", \"bb\": \"sub/s2\"}}", "{\"weight_map\": {\"a\": \"../s\"}}",
                         "{\"weight_map\": {\"a\": 3}}", "{\"weight_map\": {}}", "{\"metadata\": {}}", "not json"};
    const char *says[] = {"weight_map entry 'bb' is not a plain file name", "entry 'a' is not a plain file name",
                          "entry 'a' is not a plain file name", "empty weight_map", "no \"weight_map\"", "no \"weight_map\""};
    for (int i = 0; i < 6; i++) TAC_CHECK_ERR(tac_hub_index_shards(bad[i], strlen(bad[i]), "idx", &sh, &n), says[i]);
}

/* ---- the test server ------------------------------------------------------------------------------------------- */

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define TOKEN "hf_testtoken"

typedef struct { const char *name; char *data; size_t len; int lfs; char sha[65], oid[41]; } srv_file;
typedef struct { const char *repo; int gated; srv_file files[4]; int nfiles; } srv_repo;
typedef struct {
    int lfd, port;
    pthread_t th;
    volatile int stop;
    srv_repo repos[6]; int nrepos;
    int nreq;                 /* requests answered (atomic) */
    char ranges[8][64]; int nranges;
    int cut_next;             /* 1: the next /cdn/ GET sends half the bytes and hangs up */
    int bad_sha;              /* announce a wrong sha256 for LFS files */
    int cdn_status;           /* nonzero: the /cdn/ path answers with this status (an expired CDN link) */
    int cdn_auth;             /* requests to /cdn/ that carried an Authorization header */
} hub_srv;

static void srv_add(srv_repo *r, const char *name, char *data, size_t len, int lfs)
{
    srv_file *f = &r->files[r->nfiles++];
    f->name = name; f->data = data; f->len = len; f->lfs = lfs;
    tac_sha256_hex(data, len, f->sha);
    memcpy(f->oid, f->sha + 24, 40);                        /* a stand-in git oid: distinct from the sha256 */
    f->oid[40] = 0;
}

static void sendall(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        c += w; n -= (size_t)w;
    }
}

static void reply(int fd, int status, const char *reason, const char *extra, const void *body, size_t len, int send_body)
{
    char h[2048];
    int n = snprintf(h, sizeof h, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status, reason, len, extra);
    sendall(fd, h, (size_t)n);
    if (send_body && len) sendall(fd, body, len);
}

static srv_file *srv_find(hub_srv *s, srv_repo *r, const char *name, const char *sha)
{
    for (int i = 0; i < s->nrepos; i++) {
        srv_repo *q = &s->repos[i];
        if (r && q != r) continue;
        for (int k = 0; k < q->nfiles; k++)
            if ((name && !strcmp(q->files[k].name, name)) || (sha && q->files[k].lfs && !strcmp(q->files[k].sha, sha))) return &q->files[k];
    }
    return NULL;
}

static void srv_handle(hub_srv *s, int fd)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[8192];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) return;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    __atomic_add_fetch(&s->nreq, 1, __ATOMIC_SEQ_CST);
    char method[16], path[1024];
    if (sscanf(req, "%15s %1023s", method, path) != 2) return;
    int get = strcmp(method, "GET") == 0;
    char range[64] = "", auth[128] = "";
    const char *p;
    if ((p = strcasestr(req, "\r\nRange: "))) sscanf(p + 9, "%63[^\r]", range);
    if ((p = strcasestr(req, "\r\nAuthorization: "))) sscanf(p + 17, "%127[^\r]", auth);
    char extra[1024];
    if (strncmp(path, "/cdn/", 5) == 0) {                     /* the "CDN": bytes by sha256, Range honoured */
        srv_file *f = srv_find(s, NULL, NULL, path + 5);
        if (!f) { reply(fd, 404, "Not Found", "", NULL, 0, 0); return; }
        if (s->cdn_status) { reply(fd, s->cdn_status, "Forbidden", "", NULL, 0, 0); return; }
        if (range[0] && s->nranges < 8) snprintf(s->ranges[s->nranges++], 64, "%s", range);
        if (auth[0]) s->cdn_auth++;
        long long from = 0;
        if (range[0] && sscanf(range, "bytes=%lld-", &from) == 1 && from > 0 && (size_t)from < f->len) {
            snprintf(extra, sizeof extra, "Content-Range: bytes %lld-%zu/%zu\r\n", from, f->len - 1, f->len);
            reply(fd, 206, "Partial Content", extra, f->data + from, f->len - (size_t)from, get);
            return;
        }
        if (get && s->cut_next) {                              /* promise everything, send half, hang up */
            s->cut_next = 0;
            char h[256];
            int k = snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", f->len);
            sendall(fd, h, (size_t)k);
            sendall(fd, f->data, f->len / 2);
            return;
        }
        reply(fd, 200, "OK", "", f->data, f->len, get);
        return;
    }
    char org[128], name[128], rev[128], file[256];
    if (sscanf(path, "/%127[^/]/%127[^/]/resolve/%127[^/]/%255s", org, name, rev, file) != 4) {
        reply(fd, 404, "Not Found", "", NULL, 0, 0);
        return;
    }
    char repo[300];
    snprintf(repo, sizeof repo, "%s/%s", org, name);
    srv_repo *r = NULL;
    for (int i = 0; i < s->nrepos; i++) if (!strcmp(s->repos[i].repo, repo)) r = &s->repos[i];
    if (!r) { reply(fd, 404, "Not Found", "X-Error-Code: RepoNotFound\r\nX-Error-Message: Repository not found\r\n", NULL, 0, 0); return; }
    if (r->gated && strcmp(auth, "Bearer " TOKEN) != 0) {
        reply(fd, 401, "Unauthorized", "X-Error-Code: GatedRepo\r\nX-Error-Message: Access to this model is restricted\r\n", NULL, 0, 0);
        return;
    }
    if (strcmp(rev, "main") != 0 && strcmp(rev, COMMIT) != 0) {
        reply(fd, 404, "Not Found", "X-Error-Code: RevisionNotFound\r\nX-Error-Message: Invalid rev id\r\n", NULL, 0, 0);
        return;
    }
    srv_file *f = srv_find(s, r, file, NULL);
    if (!f) { reply(fd, 404, "Not Found", "X-Error-Code: EntryNotFound\r\nX-Repo-Commit: " COMMIT "\r\n", NULL, 0, 0); return; }
    if (f->lfs) {
        char sha[65];
        strcpy(sha, f->sha);
        if (s->bad_sha) sha[10] = sha[10] == '0' ? '1' : '0';
        snprintf(extra, sizeof extra, "X-Repo-Commit: " COMMIT "\r\nETag: W/\"%s\"\r\nX-Linked-Etag: \"%s\"\r\n"
                 "X-Linked-Size: %zu\r\nLocation: http://%s:%d/cdn/%s\r\n", f->oid, sha, f->len,
                 r->gated ? "localhost" : "127.0.0.1", s->port, f->sha);   /* gated: the CDN is another host name */
        reply(fd, 302, "Found", extra, NULL, 0, 0);
    } else {
        snprintf(extra, sizeof extra, "X-Repo-Commit: " COMMIT "\r\nETag: \"%s\"\r\n", f->oid);
        reply(fd, 200, "OK", extra, f->data, f->len, get);
    }
}

static void *srv_main(void *arg)
{
    hub_srv *s = arg;
    while (!s->stop) {
        struct pollfd pf = {s->lfd, POLLIN, 0};
        if (poll(&pf, 1, 50) <= 0) continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        srv_handle(s, fd);
        close(fd);
    }
    return NULL;
}

static char *fixture(const char *name, size_t *len)
{
    char *b;
    if (tac_read_file(tac_test_path("tests/fixtures/clip/tiny", name), &b, len) != TAC_OK) return NULL;
    return b;
}

static const char tok_cfg[] = "{\"model_max_length\": 77}\n";
static const char bert_cfg[] = "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"]}\n";
static const char shard_index[] = "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", "
                                  "\"b.weight\": \"model-00002-of-00002.safetensors\", \"c.weight\": \"model-00001-of-00002.safetensors\"}}";
static const char shard1[] = "first shard bytes", shard2[] = "second shard";
static const char timm_cfg[] = "{\"architecture\": \"vit_base_patch32_clip_224\", \"num_classes\": 512}";
static const char oc_cfg[] = "{\"model_cfg\": {\"embed_dim\": 16, \"vision_cfg\": {\"width\": 24}, \"text_cfg\": {\"width\": 12}}}";

/* Starts the server with six repos: test/tiny-clip, test/gated-clip (needs TOKEN), test/not-clip (a BERT config),
 * test/no-weights (a CLIP config only), test/sharded (an index and two LFS shards), test/openclip (a timm config,
 * open_clip_config.json and open_clip_model.safetensors). */
static int srv_start(hub_srv *s)
{
    memset(s, 0, sizeof *s);
    size_t cl, ml;
    char *cfg = fixture("config.json", &cl), *model = fixture("model.safetensors", &ml);
    if (!cfg || !model) { free(cfg); free(model); return TAC_ERR; }
    const char *names[] = {"test/tiny-clip", "test/gated-clip", "test/not-clip", "test/no-weights"};
    for (int i = 0; i < 4; i++) {
        srv_repo *r = &s->repos[s->nrepos++];
        r->repo = names[i];
        r->gated = i == 1;
        if (i == 2) srv_add(r, "config.json", (char *)bert_cfg, strlen(bert_cfg), 0);
        else srv_add(r, "config.json", cfg, cl, 0);
        if (i != 3) srv_add(r, "model.safetensors", model, ml, 1);
        if (i == 0) srv_add(r, "tokenizer_config.json", (char *)tok_cfg, strlen(tok_cfg), 0);
        if (i == 0) srv_add(r, "special_tokens_map.json", (char *)"", 0, 0);   /* an empty file */
    }
    srv_repo *r = &s->repos[s->nrepos++];
    r->repo = "test/sharded";
    srv_add(r, "config.json", cfg, cl, 0);
    srv_add(r, "model.safetensors.index.json", (char *)shard_index, strlen(shard_index), 0);
    srv_add(r, "model-00001-of-00002.safetensors", (char *)shard1, strlen(shard1), 1);
    srv_add(r, "model-00002-of-00002.safetensors", (char *)shard2, strlen(shard2), 1);
    r = &s->repos[s->nrepos++];
    r->repo = "test/openclip";
    srv_add(r, "config.json", (char *)timm_cfg, strlen(timm_cfg), 0);
    srv_add(r, "open_clip_config.json", (char *)oc_cfg, strlen(oc_cfg), 0);
    srv_add(r, "open_clip_model.safetensors", model, ml, 1);
    srv_add(r, "model.safetensors", (char *)shard2, strlen(shard2), 1);   /* timm's image tower: not to be taken */
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0) {
        if (s->lfd >= 0) close(s->lfd);
        free(cfg); free(model);
        return tac_fail("test server: %s", strerror(errno));
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->th, NULL, srv_main, s) != 0) { close(s->lfd); free(cfg); free(model); return tac_fail("test server: no thread"); }
    return TAC_OK;
}

static void srv_stop(hub_srv *s)
{
    if (s->lfd < 0) return;
    s->stop = 1;
    pthread_join(s->th, NULL);                   /* the accept loop polls every 50 ms: bounded */
    close(s->lfd);
    s->lfd = -1;
    free(s->repos[0].files[0].data);             /* the fixture buffers are shared by the repos */
    free(s->repos[0].files[1].data);
}

static int nreq(hub_srv *s) { return __atomic_load_n(&s->nreq, __ATOMIC_SEQ_CST); }

static void opts_for(tac_hub_options *o, hub_srv *s, const char *cache, char *endpoint, size_t cap)
{
    tac_hub_default_options(o);
    snprintf(endpoint, cap, "http://127.0.0.1:%d", s->port);
    o->cache_dir = cache; o->endpoint = endpoint; o->offline = 0; o->progress = 0; o->token = "";
}

static int same_bytes(const char *path, const char *data, size_t len)
{
    char *b;
    size_t n;
    if (tac_read_file(path, &b, &n) != TAC_OK) return 0;
    int ok = n == len && memcmp(b, data, len) == 0;
    free(b);
    return ok;
}

static int exists(const char *p) { struct stat st; return lstat(p, &st) == 0; }

/* ---- downloads --------------------------------------------------------------------------------------------------- */

TAC_TEST(hub_download_fresh_into_hub_layout_then_cached)
{
    hub_srv s;
    TAC_REQUIRE(srv_start(&s) == TAC_OK);
    const char *cache = tac_test_path(tac_test_tmpdir(), "hub");
    tac_hub_options o;
    char ep[64];
    opts_for(&o, &s, cache, ep, sizeof ep);
    char *dir = NULL;
    int rc = tac_model_resolve("test/tiny-clip", &o, &dir);
    int after_first = nreq(&s);
    char *dir2 = NULL;
    int rc2 = rc == TAC_OK ? tac_model_resolve("test/tiny-clip", &o, &dir2) : TAC_ERR;
    int after_second = nreq(&s);
    srv_stop(&s);
    TAC_REQUIRE(rc == TAC_OK);
    char want[1024];
    snprintf(want, sizeof want, "%s/models--test--tiny-clip/snapshots/" COMMIT, cache);
    TAC_CHECK(strcmp(dir, want) == 0);
    /* refs/main names the commit (no newline, as huggingface_hub writes it) */
    char *ref; size_t rl;
    snprintf(want, sizeof want, "%s/models--test--tiny-clip/refs/main", cache);
    TAC_REQUIRE(tac_read_file(want, &ref, &rl) == TAC_OK);
    TAC_CHECK(rl == 40 && memcmp(ref, COMMIT, 40) == 0);
    free(ref);
    /* every file a symlink ../../blobs/<etag> whose bytes equal the source's */
    size_t ml, cl;
    char *model = fixture("model.safetensors", &ml), *cfg = fixture("config.json", &cl);
    char sha[65];
    tac_sha256_hex(model, ml, sha);
    struct { const char *name; const char *data; size_t len; int lfs; } files[] = {
        {"model.safetensors", model, ml, 1}, {"config.json", cfg, cl, 0}, {"tokenizer_config.json", tok_cfg, strlen(tok_cfg), 0}};
    for (int i = 0; i < 3; i++) {
        char lnk[1024], target[256];
        snprintf(lnk, sizeof lnk, "%s/%s", dir, files[i].name);
        ssize_t n = readlink(lnk, target, sizeof target - 1);
        if (n <= 0) { tac_test_fail_at(__FILE__, __LINE__, "%s is not a symbolic link", lnk); continue; }
        target[n] = 0;
        char hex[65];
        tac_sha256_hex(files[i].data, files[i].len, hex);
        char wt[256];
        if (files[i].lfs) snprintf(wt, sizeof wt, "../../blobs/%s", hex);
        else snprintf(wt, sizeof wt, "../../blobs/%.40s", hex + 24);    /* the server's ETag */
        if (strcmp(target, wt) != 0) tac_test_fail_at(__FILE__, __LINE__, "%s -> %s, expected %s", files[i].name, target, wt);
        if (!same_bytes(lnk, files[i].data, files[i].len)) tac_test_fail_at(__FILE__, __LINE__, "%s differs from the source", files[i].name);
    }
    snprintf(want, sizeof want, "%s/models--test--tiny-clip/blobs/%s.incomplete", cache, sha);
    TAC_CHECK(!exists(want));
    TAC_CHECK(!exists(tac_test_path(dir, "vocab.json")));          /* absent on the server: not invented */
    snprintf(want, sizeof want, "%s/models--test--tiny-clip/.no_exist/" COMMIT "/vocab.json", cache);
    TAC_CHECK(exists(want));                                       /* ... and noted as absent, as huggingface_hub does */
    TAC_CHECK(same_bytes(tac_test_path(dir, "special_tokens_map.json"), "", 0));
    /* the snapshot is a loadable model */
    tac_clip *m = NULL;
    TAC_CHECK_OK(tac_clip_load(dir, &m));
    TAC_CHECK_INT(tac_clip_embed_dim(m), 16);
    tac_clip_free(m);
    /* second resolve: the cache, not one request */
    TAC_CHECK_INT(rc2, TAC_OK);
    TAC_CHECK(dir2 && strcmp(dir2, dir) == 0);
    TAC_CHECK_INT(after_second, after_first);
    TAC_CHECK(after_first >= 4);
    free(dir2); dir2 = NULL;
    /* server stopped: offline and online both find the cache; the commit works as a revision */
    o.offline = 1;
    TAC_CHECK_OK(tac_model_resolve("test/tiny-clip", &o, &dir2));
    TAC_CHECK(dir2 && strcmp(dir2, dir) == 0);
    free(dir2); dir2 = NULL;
    o.offline = 0;
    TAC_CHECK_OK(tac_model_resolve("test/tiny-clip@" COMMIT, &o, &dir2));
    free(dir2); dir2 = NULL;
    /* listing */
    tac_hub_model *ms; int nm;
    TAC_CHECK_OK(tac_hub_list(&o, &ms, &nm));
    TAC_REQUIRE(nm == 1);
    TAC_CHECK(strcmp(ms[0].id, "test/tiny-clip") == 0 && strcmp(ms[0].revisions, "main") == 0);
    TAC_CHECK(strcmp(ms[0].commit, COMMIT) == 0 && strcmp(ms[0].format, "safetensors") == 0);
    TAC_CHECK_INT(ms[0].bytes, (long long)(ml + cl + strlen(tok_cfg)));
    tac_hub_list_free(ms, nm);
    free(model); free(cfg); free(dir);
}

TAC_TEST(hub_download_resumes_with_range)
{
    hub_srv s;
    TAC_REQUIRE(srv_start(&s) == TAC_OK);
    const char *tmp = tac_test_tmpdir();
    const char *cache = tac_test_path(tmp, "hub"), *cache2 = tac_test_path(tmp, "hub2");
    tac_hub_options o;
    char ep[64];
    opts_for(&o, &s, cache, ep, sizeof ep);
    size_t ml;
    char *model = fixture("model.safetensors", &ml);
    char sha[65], want[64];
    tac_sha256_hex(model, ml, sha);
    /* 1: the connection drops half way; the same run resumes with Range from where the file stopped */
    s.cut_next = 1;
    char *dir = NULL;
    int rc = tac_hub_download("test/tiny-clip", "main", &o, &dir);
    int nr1 = s.nranges;
    char r1[64];
    snprintf(r1, sizeof r1, "%s", nr1 ? s.ranges[0] : "");
    /* 2: an earlier run left 1000 bytes in blobs/<sha>.incomplete: the next run asks for the rest only */
    char inc[1024];
    snprintf(inc, sizeof inc, "%s/models--test--tiny-clip/blobs", cache2);
    tac_mkdir_p(inc);
    snprintf(inc, sizeof inc, "%s/models--test--tiny-clip/blobs/%s.incomplete", cache2, sha);
    tac_write_file_atomic(inc, model, 1000);
    s.nranges = 0;
    o.cache_dir = cache2;
    char *dir2 = NULL;
    int rc2 = tac_hub_download("test/tiny-clip", "main", &o, &dir2);
    int nr2 = s.nranges;
    char r2[64];
    snprintf(r2, sizeof r2, "%s", nr2 ? s.ranges[0] : "");
    /* 3: a partial file whose bytes are wrong: resumed, then refused by the checksum, and deleted */
    const char *cache3 = tac_test_path(tmp, "hub3");
    char inc3[1024];
    snprintf(inc3, sizeof inc3, "%s/models--test--tiny-clip/blobs", cache3);
    tac_mkdir_p(inc3);
    snprintf(inc3, sizeof inc3, "%s/models--test--tiny-clip/blobs/%s.incomplete", cache3, sha);
    char *junk = calloc(1000, 1);
    tac_write_file_atomic(inc3, junk, 1000);
    free(junk);
    o.cache_dir = cache3;
    char *dir3 = NULL;
    int rc3 = tac_hub_download("test/tiny-clip", "main", &o, &dir3);
    char err3[512];
    snprintf(err3, sizeof err3, "%s", tac_last_error());
    srv_stop(&s);

    TAC_CHECK_INT(rc, TAC_OK);
    snprintf(want, sizeof want, "bytes=%zu-", ml / 2);
    TAC_CHECK_INT(nr1, 1);
    if (strcmp(r1, want) != 0) tac_test_fail_at(__FILE__, __LINE__, "resumed with Range '%s', expected '%s'", r1, want);
    if (dir && !same_bytes(tac_test_path(dir, "model.safetensors"), model, ml)) tac_test_fail_at(__FILE__, __LINE__, "resumed file differs");
    TAC_CHECK_INT(rc2, TAC_OK);
    TAC_CHECK_INT(nr2, 1);
    TAC_CHECK(strcmp(r2, "bytes=1000-") == 0);
    if (dir2 && !same_bytes(tac_test_path(dir2, "model.safetensors"), model, ml)) tac_test_fail_at(__FILE__, __LINE__, "resumed file differs");
    TAC_CHECK(!exists(inc));
    TAC_CHECK_INT(rc3, TAC_ERR);
    TAC_CHECK(strstr(err3, "checksum mismatch") != NULL);
    TAC_CHECK(!exists(inc3));
    TAC_CHECK(!exists(tac_test_path(cache3, "models--test--tiny-clip/snapshots")));
    free(dir); free(dir2); free(dir3); free(model);
}

TAC_TEST(hub_download_wrong_sha256_refused)
{
    hub_srv s;
    TAC_REQUIRE(srv_start(&s) == TAC_OK);
    const char *cache = tac_test_path(tac_test_tmpdir(), "hub");
    tac_hub_options o;
    char ep[64];
    opts_for(&o, &s, cache, ep, sizeof ep);
    s.bad_sha = 1;
    char *dir = NULL;
    int rc = tac_model_resolve("test/tiny-clip", &o, &dir);
    char err[512];
    snprintf(err, sizeof err, "%s", tac_last_error());
    srv_stop(&s);
    TAC_CHECK_INT(rc, TAC_ERR);
    if (!strstr(err, "checksum mismatch") || !strstr(err, "model.safetensors") || strchr(err, '\n'))
        tac_test_fail_at(__FILE__, __LINE__, "error: %s", err);
    /* nothing a reader could take for the model: no snapshot, no ref, no blob or partial file of the weights */
    TAC_CHECK(!exists(tac_test_path(cache, "models--test--tiny-clip/snapshots")));
    TAC_CHECK(!exists(tac_test_path(cache, "models--test--tiny-clip/refs")));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s/models--test--tiny-clip/blobs' -size +100k -o -name '*.incomplete')\"", cache);
    TAC_CHECK_INT(tac_test_sh("%s", cmd), 0);
    free(dir);
}

TAC_TEST(hub_download_errors_say_why)
{
    hub_srv s;
    TAC_REQUIRE(srv_start(&s) == TAC_OK);
    const char *cache = tac_test_path(tac_test_tmpdir(), "hub");
    tac_hub_options o;
    char ep[64];
    opts_for(&o, &s, cache, ep, sizeof ep);
    char *dir = NULL;
    struct { const char *id; const char *token; const char *says; } cases[] = {
        {"test/nope", "", "test/nope: no such model on http://127.0.0.1"},
        {"test/tiny-clip@v9", "", "test/tiny-clip has no revision 'v9'"},
        {"test/gated-clip", "", "then set HF_TOKEN"},
        {"test/gated-clip", "hf_wrong", "your HF_TOKEN was refused"},
        {"test/not-clip", "", "test/not-clip is not a CLIP model: config.json has model_type 'bert', architecture BertModel"},
        {"test/no-weights", "", "test/no-weights has no CLIP weights"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o.token = cases[i].token;
        if (tac_model_resolve(cases[i].id, &o, &dir) == TAC_OK) { tac_test_fail_at(__FILE__, __LINE__, "%s resolved", cases[i].id); free(dir); continue; }
        const char *e = tac_last_error();
        if (!strstr(e, cases[i].says) || strchr(e, '\n')) tac_test_fail_at(__FILE__, __LINE__, "%s: '%s' does not say '%s'", cases[i].id, e, cases[i].says);
    }
    o.token = "";
    s.cdn_status = 403;                                          /* the CDN refuses: said as such, not as "gated" */
    TAC_CHECK_ERR(tac_model_resolve("test/tiny-clip", &o, &dir), "test/tiny-clip: downloading model.safetensors: HTTP 403");
    TAC_CHECK(!strstr(tac_last_error(), "gated"));
    s.cdn_status = 0;
    o.token = TOKEN;                                             /* the right token opens the gated repo */
    TAC_CHECK_OK(tac_model_resolve("test/gated-clip", &o, &dir));
    free(dir);
    TAC_CHECK_INT(s.cdn_auth, 0);                                /* ... and is not sent on to the CDN's host */
    TAC_CHECK(!exists(tac_test_path(cache, "models--test--not-clip/snapshots")));
    o.token = "";
    o.offline = 1;
    int before = nreq(&s);
    TAC_CHECK_ERR(tac_model_resolve("test/tiny-clip", &o, &dir), "HF_HUB_OFFLINE=1 forbids downloading it");
    TAC_CHECK_INT(nreq(&s), before);                             /* offline: not one request */
    srv_stop(&s);
    o.offline = 0;                                               /* server gone, nothing cached */
    TAC_CHECK_ERR(tac_model_resolve("test/tiny-clip", &o, &dir), "cannot reach http://127.0.0.1");
}

/* The other layouts: a sharded checkpoint (the index is read, each shard fetched and verified) and an OpenCLIP repo
 * whose config.json is timm's (open_clip_config.json is then what makes it CLIP). */
TAC_TEST(hub_download_sharded_and_open_clip_repos)
{
    hub_srv s;
    TAC_REQUIRE(srv_start(&s) == TAC_OK);
    const char *cache = tac_test_path(tac_test_tmpdir(), "hub");
    tac_hub_options o;
    char ep[64];
    opts_for(&o, &s, cache, ep, sizeof ep);
    char *d1 = NULL, *d2 = NULL;
    int rc1 = tac_model_resolve("test/sharded", &o, &d1);
    int rc2 = tac_model_resolve("test/openclip", &o, &d2);
    tac_hub_model *ms = NULL;
    int nm = 0;
    int rcl = tac_hub_list(&o, &ms, &nm);
    srv_stop(&s);
    TAC_CHECK_INT(rc1, TAC_OK);
    TAC_CHECK_INT(rc2, TAC_OK);
    if (d1) {
        TAC_CHECK(same_bytes(tac_test_path(d1, "model-00001-of-00002.safetensors"), shard1, strlen(shard1)));
        TAC_CHECK(same_bytes(tac_test_path(d1, "model-00002-of-00002.safetensors"), shard2, strlen(shard2)));
        TAC_CHECK(same_bytes(tac_test_path(d1, "model.safetensors.index.json"), shard_index, strlen(shard_index)));
    }
    if (d2) {
        TAC_CHECK(same_bytes(tac_test_path(d2, "open_clip_config.json"), oc_cfg, strlen(oc_cfg)));
        TAC_CHECK(exists(tac_test_path(d2, "open_clip_model.safetensors")) && !exists(tac_test_path(d2, "model.safetensors")));
    }
    TAC_CHECK_INT(rcl, TAC_OK);
    TAC_CHECK_INT(nm, 2);
    if (nm == 2) {                                               /* sorted by id */
        TAC_CHECK(strcmp(ms[0].id, "test/openclip") == 0 && strcmp(ms[0].format, "open_clip safetensors") == 0);
        TAC_CHECK(strcmp(ms[1].id, "test/sharded") == 0 && strcmp(ms[1].format, "safetensors (sharded)") == 0);
    }
    tac_hub_list_free(ms, nm);
    free(d1); free(d2);
}

/* The CLI: `models pull`, `models`, and --model left out with TACLUST_MODEL naming an id, through the binary. */
TAC_TEST(hub_cli_models_pull_list_and_default_model)
{
    hub_srv s;
    TAC_REQUIRE(srv_start(&s) == TAC_OK);
    const char *tmp = tac_test_tmpdir();
    const char *cache = tac_test_path(tmp, "hub");
    char env[1024];
    snprintf(env, sizeof env, "HF_ENDPOINT=http://127.0.0.1:%d HF_HUB_CACHE='%s' HF_TOKEN= HF_HUB_OFFLINE=", s.port, cache);
    const char *out = tac_test_path(tmp, "out"), *err = tac_test_path(tmp, "err");
    int pull = tac_test_sh("env %s %s models pull test/tiny-clip > '%s' 2> '%s'", env, tac_test_bin(), out, err);
    int nope = tac_test_sh("env %s %s models pull test/nope > /dev/null 2> '%s'", env, tac_test_bin(), tac_test_path(tmp, "err2"));
    srv_stop(&s);
    TAC_CHECK_INT(pull, 0);
    char *text; size_t len;
    TAC_REQUIRE(tac_read_file(out, &text, &len) == TAC_OK);
    TAC_CHECK(strstr(text, "models--test--tiny-clip/snapshots/" COMMIT) != NULL);
    free(text);
    TAC_CHECK_INT(nope, 1);
    TAC_REQUIRE(tac_read_file(tac_test_path(tmp, "err2"), &text, &len) == TAC_OK);
    TAC_CHECK(strncmp(text, "taclust models: test/nope: no such model", 40) == 0 && strchr(text, '\n') == text + len - 1);
    free(text);
    /* server stopped from here on: the cache serves */
    TAC_CHECK_INT(tac_test_sh("env %s %s models > '%s' 2> '%s'", env, tac_test_bin(), out, err), 0);
    TAC_REQUIRE(tac_read_file(out, &text, &len) == TAC_OK);
    TAC_CHECK(strstr(text, "test/tiny-clip") && strstr(text, "main") && strstr(text, COMMIT) == NULL && strstr(text, "0123456789ab") &&
              strstr(text, "safetensors"));
    free(text);
    const char *npy = tac_test_path(tmp, "x.npy");
    TAC_CHECK_INT(tac_test_sh("env %s HF_HUB_OFFLINE=1 TACLUST_MODEL=test/tiny-clip %s embed-images --out '%s' tests/fixtures/image/cifar_32x32.png > '%s' 2> '%s'",
                              env, tac_test_bin(), npy, out, err), 0);
    float *X; int64_t r, c;
    TAC_REQUIRE(tac_npy_load_f32(npy, &X, &r, &c) == TAC_OK);
    TAC_CHECK(r == 1 && c == 16);
    free(X);
    /* offline with an empty cache: one line that names the cause */
    TAC_CHECK_INT(tac_test_sh("env %s HF_HUB_CACHE='%s/empty' HF_HUB_OFFLINE=1 %s embed-images --model test/tiny-clip --out '%s' "
                              "tests/fixtures/image/cifar_32x32.png > /dev/null 2> '%s'", env, tmp, tac_test_bin(), npy, err), 1);
    TAC_REQUIRE(tac_read_file(err, &text, &len) == TAC_OK);
    TAC_CHECK(strstr(text, "HF_HUB_OFFLINE=1") && strchr(text, '\n') == text + len - 1);
    free(text);
}

/* A cache laid out by hand as Python's huggingface_hub leaves it (blobs, relative snapshot links, refs/main) is
 * found without any network (the endpoint is a closed port); the default model comes from TACLUST_MODEL, else
 * openai/clip-vit-base-patch32; a cached non-CLIP repo and half a sharded checkpoint are not taken for models. */
TAC_TEST(hub_lookup_finds_a_cache_made_by_python)
{
    const char *tmp = tac_test_tmpdir();
    const char *cache = tac_test_path(tmp, "hub");
    size_t ml, cl;
    char *model = fixture("model.safetensors", &ml), *cfg = fixture("config.json", &cl);
    TAC_REQUIRE(model && cfg);
    char sha[65], csha[65];
    tac_sha256_hex(model, ml, sha);
    tac_sha256_hex(cfg, cl, csha);
    const char *c2 = "fedcba9876543210fedcba9876543210fedcba98";
    /* repo, ref commit, files (name -> content) */
    TAC_REQUIRE(tac_test_sh("set -e; c='%s'; for r in models--py--clip models--py--bert models--py--halfsharded models--py--notok; do "
                            "mkdir -p $c/$r/blobs $c/$r/snapshots/" COMMIT " $c/$r/refs; printf " COMMIT " > $c/$r/refs/main; done; "
                            "mkdir -p $c/models--py--clip/snapshots/%s", cache, c2) == 0);
    char p[1024], q[1024];
    snprintf(p, sizeof p, "%s/models--py--clip/blobs/%s", cache, sha);
    TAC_REQUIRE(tac_write_file_atomic(p, model, ml) == TAC_OK);
    snprintf(p, sizeof p, "%s/models--py--clip/blobs/%.40s", cache, csha);
    TAC_REQUIRE(tac_write_file_atomic(p, cfg, cl) == TAC_OK);
    snprintf(q, sizeof q, "%s/models--py--clip/snapshots/" COMMIT "/model.safetensors", cache);
    snprintf(p, sizeof p, "../../blobs/%s", sha);
    TAC_REQUIRE(symlink(p, q) == 0);
    snprintf(q, sizeof q, "%s/models--py--clip/snapshots/" COMMIT "/config.json", cache);
    snprintf(p, sizeof p, "../../blobs/%.40s", csha);
    TAC_REQUIRE(symlink(p, q) == 0);
    snprintf(q, sizeof q, "%s/models--py--clip/snapshots/%s/config.json", cache, c2);   /* an older snapshot: config only */
    TAC_REQUIRE(symlink(p, q) == 0);
    const char *tok[2] = {"vocab.json", "merges.txt"}, *tokdata[2] = {"{\"a\": 0}", "#version: 0.2\n"};
    for (int i = 0; i < 2; i++) {                                /* CLIPProcessor's files, as regular blobs */
        char h[65];
        tac_sha256_hex(tokdata[i], strlen(tokdata[i]), h);
        snprintf(p, sizeof p, "%s/models--py--clip/blobs/%.40s", cache, h);
        TAC_REQUIRE(tac_write_file_atomic(p, tokdata[i], strlen(tokdata[i])) == TAC_OK);
        snprintf(q, sizeof q, "%s/models--py--clip/snapshots/" COMMIT "/%s", cache, tok[i]);
        snprintf(p, sizeof p, "../../blobs/%.40s", h);
        TAC_REQUIRE(symlink(p, q) == 0);
    }
    for (int i = 0; i < 2; i++) {                                /* CLIPModel alone: no tokenizer files */
        snprintf(p, sizeof p, "%s/models--py--notok/snapshots/" COMMIT "/%s", cache, i ? "model.safetensors" : "config.json");
        TAC_REQUIRE(tac_write_file_atomic(p, i ? model : cfg, i ? ml : cl) == TAC_OK);
    }
    snprintf(p, sizeof p, "%s/models--py--bert/snapshots/" COMMIT "/config.json", cache);
    TAC_REQUIRE(tac_write_file_atomic(p, bert_cfg, strlen(bert_cfg)) == TAC_OK);
    snprintf(p, sizeof p, "%s/models--py--bert/snapshots/" COMMIT "/model.safetensors", cache);
    TAC_REQUIRE(tac_write_file_atomic(p, model, 100) == TAC_OK);
    snprintf(p, sizeof p, "%s/models--py--halfsharded/snapshots/" COMMIT "/config.json", cache);
    TAC_REQUIRE(tac_write_file_atomic(p, cfg, cl) == TAC_OK);
    const char *idx = "{\"metadata\": {}, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", "
                      "\"b\": \"model-00002-of-00002.safetensors\"}}";
    snprintf(p, sizeof p, "%s/models--py--halfsharded/snapshots/" COMMIT "/model.safetensors.index.json", cache);
    TAC_REQUIRE(tac_write_file_atomic(p, idx, strlen(idx)) == TAC_OK);
    snprintf(p, sizeof p, "%s/models--py--halfsharded/snapshots/" COMMIT "/model-00001-of-00002.safetensors", cache);
    TAC_REQUIRE(tac_write_file_atomic(p, model, 100) == TAC_OK);

    tac_hub_options o;
    tac_hub_default_options(&o);
    o.cache_dir = cache; o.endpoint = "http://127.0.0.1:9"; o.offline = 0; o.progress = 0;
    char *dir = NULL;
    TAC_CHECK_OK(tac_model_resolve("py/clip", &o, &dir));
    snprintf(p, sizeof p, "%s/models--py--clip/snapshots/" COMMIT, cache);
    TAC_CHECK(dir && strcmp(dir, p) == 0);
    free(dir); dir = NULL;
    setenv("TACLUST_MODEL", "py/clip@main", 1);
    TAC_CHECK_OK(tac_model_resolve(NULL, &o, &dir));
    TAC_CHECK(dir && strcmp(dir, p) == 0);
    free(dir); dir = NULL;
    unsetenv("TACLUST_MODEL");
    o.offline = 1;
    TAC_CHECK_ERR(tac_model_resolve(NULL, &o, &dir), "openai/clip-vit-base-patch32@main is not in the cache");
    TAC_CHECK_ERR(tac_model_resolve("py/bert", &o, &dir), "py/bert is not a CLIP model: config.json has model_type 'bert'");
    o.offline = 0;                                               /* cached but not CLIP: no download tried either */
    TAC_CHECK_ERR(tac_model_resolve("py/bert", &o, &dir), "is not a CLIP model");
    TAC_CHECK_ERR(tac_model_resolve("py/halfsharded", &o, &dir), "cannot reach http://127.0.0.1:9");   /* incomplete: fetch */
    TAC_CHECK_ERR(tac_hub_lookup("py/clip", c2, &o, &dir), "has no complete weights");
    /* weights but no tokenizer: online, the missing files are fetched; offline, the snapshot is used as it is */
    TAC_CHECK_ERR(tac_model_resolve("py/notok", &o, &dir), "cannot reach http://127.0.0.1:9");
    o.offline = 1;
    TAC_CHECK_OK(tac_model_resolve("py/notok", &o, &dir));
    free(dir); dir = NULL;
    o.offline = 0;
    tac_hub_model *ms; int nm;
    TAC_CHECK_OK(tac_hub_list(&o, &ms, &nm));
    TAC_REQUIRE(nm == 2);                                        /* only the whole CLIP snapshots */
    TAC_CHECK(strcmp(ms[0].id, "py/clip") == 0 && strcmp(ms[0].revisions, "main") == 0 && strcmp(ms[0].commit, COMMIT) == 0);
    TAC_CHECK_INT(ms[0].bytes, (long long)(ml + cl + strlen(tokdata[0]) + strlen(tokdata[1])));
    TAC_CHECK(strcmp(ms[1].id, "py/notok") == 0);
    tac_hub_list_free(ms, nm);
    free(model); free(cfg);
}
