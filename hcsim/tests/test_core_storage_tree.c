/* hcsim computestorage on deep trees and overlapping paths: the tree walks are iterative
 * and fd-relative, so a tree deeper than any stack or longer than PATH_MAX is imported,
 * exported and destroyed; a copy into its own source is refused before it starts. */
#include "test_core_util.h"
#include "plat.h"
#include "test_port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_PARENTS "{\"Layers\":[]}"

#ifdef _WIN32
/* Win32's path length rules bound a tree's depth here (no long-path prefix in the tests). */
enum { LEVELS = 50 };

/* dir/aa/aa/.../aa (levels deep) with a file "f" at the bottom. */
static int make_deep(const char *dir, int levels) {
    char p[4096];
    int n = snprintf(p, sizeof p, "%s", dir);
    for (int i = 0; i < levels; i++) {
        n += snprintf(p + n, sizeof p - (size_t)n, "/aa");
        if (tp_mkdir(p, 0777) != 0) return -1;
    }
    snprintf(p + n, sizeof p - (size_t)n, "/f");
    return plat_write_file(p, "x", 1) == 0 ? 0 : -1;
}

/* 1 when dir/aa/.../aa/f exists (levels deep). */
static int deep_leaf(const char *dir, int levels) {
    char p[4096];
    int n = snprintf(p, sizeof p, "%s", dir);
    for (int i = 0; i < levels; i++) n += snprintf(p + n, sizeof p - (size_t)n, "/aa");
    snprintf(p + n, sizeof p - (size_t)n, "/f");
    return access(p, F_OK) == 0;
}
#else
/* 2100 levels: a 6300-character path, beyond PATH_MAX, far beyond a recursion's stack. */
enum { LEVELS = 2100 };

/* dir/aa/aa/.../aa (levels deep) with a file "f" at the bottom, built fd-relative. */
static int make_deep(const char *dir, int levels) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    for (int i = 0; fd >= 0 && i < levels; i++) {
        int sub = mkdirat(fd, "aa", 0777) == 0 ? openat(fd, "aa", O_RDONLY | O_DIRECTORY) : -1;
        close(fd);
        fd = sub;
    }
    if (fd < 0) return -1;
    int f = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
    int ok = f >= 0 && write(f, "x", 1) == 1;
    if (f >= 0) close(f);
    close(fd);
    return ok ? 0 : -1;
}

/* 1 when dir/aa/.../aa/f exists (levels deep). */
static int deep_leaf(const char *dir, int levels) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    for (int i = 0; fd >= 0 && i < levels; i++) {
        int sub = openat(fd, "aa", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = sub;
    }
    if (fd < 0) return 0;
    int ok = faccessat(fd, "f", F_OK, 0) == 0;
    close(fd);
    return ok;
}
#endif

static HRESULT import(const char *layer, const char *src) {
    char16_t *l = tc_w(layer), *s = tc_w(src), *d = tc_w(NO_PARENTS);
    HRESULT hr = HcsImportLayer(l, s, d);
    free(l);
    free(s);
    free(d);
    return hr;
}

static HRESULT destroy(const char *layer) {
    char16_t *l = tc_w(layer);
    HRESULT hr = HcsDestroyLayer(l);
    free(l);
    return hr;
}

static HRESULT export_to(const char *layer, const char *out) {
    char16_t *l = tc_w(layer), *o = tc_w(out), *d = tc_w(NO_PARENTS);
    HRESULT hr = HcsExportLayer(l, o, d, NULL);
    free(l);
    free(o);
    free(d);
    return hr;
}

TEST(core_storage_deep_trees) {
    HcsimReset();
    char root[] = "/tmp/hcsim-deep-XXXXXX";
    REQUIRE(tp_mkdtemp(root) != NULL);
    char src[128], layer[128], out[128];
    snprintf(src, sizeof src, "%s/src", root);
    snprintf(layer, sizeof layer, "%s/layer", root);
    snprintf(out, sizeof out, "%s/out", root);
    REQUIRE(tp_mkdir(src, 0777) == 0);
    REQUIRE(make_deep(src, LEVELS) == 0);
    CHECK_HR(S_OK, import(layer, src));
    CHECK(deep_leaf(layer, LEVELS));
    CHECK_HR(S_OK, export_to(layer, out));
    CHECK(deep_leaf(out, LEVELS));
    CHECK_HR(S_OK, destroy(layer));
    CHECK(access(layer, F_OK) != 0);
    CHECK(plat_rmtree(out) == 0 && access(out, F_OK) != 0);
    CHECK(plat_rmtree(root) == 0);
}

TEST(core_storage_copy_into_its_source_is_refused) {
    HcsimReset();
    char root[] = "/tmp/hcsim-self-XXXXXX";
    REQUIRE(tp_mkdtemp(root) != NULL);
    char src[128], inner[160], layer[128], f[160];
    snprintf(src, sizeof src, "%s/src", root);
    snprintf(inner, sizeof inner, "%s/sub/layer", src);
    snprintf(layer, sizeof layer, "%s/layer", root);
    snprintf(f, sizeof f, "%s/file", src);
    REQUIRE(tp_mkdir(src, 0777) == 0);
    REQUIRE(plat_write_file(f, "x", 1) == 0);
    CHECK_HR(E_INVALIDARG, import(inner, src)); /* into a folder inside the source */
    snprintf(f, sizeof f, "%s/sub", src);
    CHECK(access(f, F_OK) != 0);              /* nothing copied, nothing created */
    CHECK_HR(E_INVALIDARG, import(src, src)); /* the source onto itself */
    CHECK_HR(HCS_E_INVALID_LAYER, destroy(src));
    /* an export into its own layer */
    CHECK_HR(S_OK, import(layer, src));
    snprintf(inner, sizeof inner, "%s/export", layer);
    CHECK_HR(E_INVALIDARG, export_to(layer, inner));
    CHECK(access(inner, F_OK) != 0);
    CHECK(plat_copytree(src, f) == EINVAL); /* the platform layer refuses it as well */
    CHECK_HR(S_OK, destroy(layer));
    CHECK(plat_rmtree(root) == 0);
}

TEST(core_storage_destroy_removes_the_marker_last) {
    /* plat_empty_dir leaves the named top entry: what destroy keeps until the end */
    char root[] = "/tmp/hcsim-keep-XXXXXX";
    REQUIRE(tp_mkdtemp(root) != NULL);
    char f[128];
    REQUIRE(make_deep(root, 3) == 0);
    snprintf(f, sizeof f, "%s/keep", root);
    REQUIRE(plat_write_file(f, "k", 1) == 0);
    CHECK(!plat_dir_is_empty(root));
    CHECK(plat_empty_dir(root, "keep") == 0);
    CHECK(access(f, F_OK) == 0 && !deep_leaf(root, 3));
    CHECK(plat_remove_file(f) == 0 && plat_dir_is_empty(root));
    CHECK(plat_rmtree(root) == 0 && !plat_dir_is_empty(root));
}

static HRESULT init_writable(const char *layer, const char *parent) {
    char ld[512];
    snprintf(ld, sizeof ld,
             "{\"Layers\":[{\"Id\":\"0b7e1d5c-8b41-4f3e-9a7a-1f0e5d2c3b4a\",\"Path\":\"%s\"}]}",
             parent);
    char16_t *l = tc_w(layer), *d = tc_w(ld);
    HRESULT hr = HcsInitializeWritableLayer(l, d, NULL);
    free(l);
    free(d);
    return hr;
}

TEST(core_storage_never_takes_over_a_users_folder) {
    HcsimReset();
    char root[] = "/tmp/hcsim-user-XXXXXX";
    REQUIRE(tp_mkdtemp(root) != NULL);
    char src[128], user[128], keep[160], layer[128], empty[128], marker[200];
    snprintf(src, sizeof src, "%s/src", root);
    snprintf(user, sizeof user, "%s/user", root);
    snprintf(keep, sizeof keep, "%s/mine.txt", user);
    snprintf(layer, sizeof layer, "%s/layer", root);
    snprintf(empty, sizeof empty, "%s/empty", root);
    REQUIRE(tp_mkdir(src, 0777) == 0 && tp_mkdir(user, 0777) == 0 && tp_mkdir(empty, 0777) == 0);
    REQUIRE(plat_write_file(keep, "mine", 4) == 0);
    const HRESULT not_empty = HRESULT_FROM_WIN32(145u); /* ERROR_DIR_NOT_EMPTY */
    CHECK_HR(not_empty, import(user, src));
    CHECK_HR(S_OK, import(layer, src));
    CHECK_HR(not_empty, init_writable(user, layer));
    CHECK_HR(not_empty, export_to(layer, user));
    CHECK_HR(HCS_E_INVALID_LAYER, destroy(user)); /* still no layer: the files stay */
    CHECK(access(keep, F_OK) == 0);
    /* an empty folder may become a layer; an export carries no marker and is no layer */
    CHECK_HR(S_OK, export_to(layer, empty));
    snprintf(marker, sizeof marker, "%s/.hcsim-layer.json", empty);
    CHECK(access(marker, F_OK) != 0);
    CHECK_HR(HCS_E_INVALID_LAYER, destroy(empty));
    CHECK(plat_rmtree(empty) == 0 && tp_mkdir(empty, 0777) == 0);
    CHECK_HR(S_OK, init_writable(empty, layer));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), init_writable(empty, layer)); /* twice */
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), import(empty, src));
    CHECK_HR(S_OK, destroy(empty));
    CHECK_HR(S_OK, destroy(layer));
    CHECK(plat_rmtree(root) == 0);
}

static HRESULT attach(const char *layer, const char *parent) {
    char ld[512];
    snprintf(ld, sizeof ld,
             "{\"Layers\":[{\"Id\":\"0b7e1d5c-8b41-4f3e-9a7a-1f0e5d2c3b4a\",\"Path\":\"%s\"}]}",
             parent);
    char16_t *l = tc_w(layer), *d = tc_w(ld);
    HRESULT hr = HcsAttachLayerStorageFilter(l, d);
    free(l);
    free(d);
    return hr;
}

TEST(core_storage_filter_rules) {
    HcsimReset();
    char root[] = "/tmp/hcsim-filt-XXXXXX";
    REQUIRE(tp_mkdtemp(root) != NULL);
    char src[128], base[128], scratch[128];
    snprintf(src, sizeof src, "%s/src", root);
    snprintf(base, sizeof base, "%s/base", root);
    snprintf(scratch, sizeof scratch, "%s/scratch", root);
    REQUIRE(tp_mkdir(src, 0777) == 0);
    CHECK_HR(S_OK, import(base, src));
    CHECK_HR(HCS_E_INVALID_LAYER, attach(base, base)); /* a read-only layer takes no filter */
    CHECK_HR(S_OK, init_writable(scratch, base));
    CHECK_HR(S_OK, attach(scratch, base));
    /* in use while the filter is attached: not destroyed, and still a layer */
    CHECK_HR(HRESULT_FROM_WIN32(32u), destroy(scratch)); /* ERROR_SHARING_VIOLATION */
    CHECK(access(scratch, F_OK) == 0);
    char16_t *w = tc_w(scratch);
    CHECK_HR(S_OK, HcsDetachLayerStorageFilter(w));
    free(w);
    CHECK_HR(S_OK, destroy(scratch));
    CHECK_HR(S_OK, destroy(base));
    CHECK(plat_rmtree(root) == 0);
}
