/* Tests of the service mode's service side (hcsim/src/serve.c): a service in this process
 * and raw clients speaking wire.h to it over its Unix socket. POSIX only. */
#include "harness.h"
#include "hcsim_internal.h"
#include "test_core_util.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SV_CFG           "{\"Container\":{}}"
#define SV_CFG_TERMINATE "{\"ShouldTerminateOnLastHandleClosed\":true,\"Container\":{}}"

/* ---- a service on a fresh path -------------------------------------------------------- */
static char sv_dir[64], sv_path[96];

static int sv_start(void) {
    HcsimServiceStop(); /* one a failed test left */
    snprintf(sv_dir, sizeof sv_dir, "/tmp/hcsim-serve-XXXXXX");
    if (!mkdtemp(sv_dir)) return 0;
    snprintf(sv_path, sizeof sv_path, "%s/s", sv_dir);
    return HcsimServiceStart(sv_path, -1) == S_OK;
}

static void sv_stop(void) {
    CHECK_HR(S_OK, HcsimServiceStop());
    char lock[128];
    snprintf(lock, sizeof lock, "%s.lock", sv_path);
    unlink(lock);
    unlink(sv_path);
    rmdir(sv_dir);
}

/* ---- a raw client --------------------------------------------------------------------- */
static int rc_open(const char *path) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        if (s >= 0) close(s);
        return -1;
    }
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

static HRESULT rc_hello(int s, uint64_t version, uint64_t build) {
    hcw_buf b = {0};
    hcw_begin(&b, HCW_HELLO, 0);
    hcw_put_u64(&b, version);
    hcw_put_u64(&b, build);
    hcw_put_u64(&b, (uint64_t)getpid());
    int sent = hcw_send(s, &b);
    hcw_free(&b);
    if (sent < 0) return E_FAIL;
    hcw_msg m;
    uint64_t hr = 0, v = 0, pid = 0;
    int ok = hcw_recv(s, &m) == 1 && m.type == HCW_WELCOME && hcw_get_u64(&m, &hr) &&
             hcw_get_u64(&m, &v) && hcw_get_u64(&m, &pid) && hcw_end(&m) && v == HCW_VERSION &&
             pid == (uint64_t)getpid();
    hcw_msg_free(&m);
    return ok ? (HRESULT)(uint32_t)hr : E_FAIL;
}

/* A connected, welcomed client, or -1. */
static int rc_connect(void) {
    int s = rc_open(sv_path);
    if (s >= 0 && rc_hello(s, HCW_VERSION, hcw_build_id()) != S_OK) {
        close(s);
        s = -1;
    }
    return s;
}

/* The last EVENT a wait below skipped (single-threaded tests only): handle id, type. */
static uint64_t rc_event_hid, rc_event_type;

/* The next frame of type want with that seq into *m; other frames are skipped. 1, or 0 at
 * the end/timeout. */
static int rc_expect(int s, hcw_type want, uint64_t seq, hcw_msg *m) {
    for (;;) {
        if (hcw_recv(s, m) != 1) {
            hcw_msg_free(m);
            return 0;
        }
        if (m->type == want && m->seq == seq) return 1;
        if (m->type == HCW_EVENT && hcw_get_u64(m, &rc_event_type)) rc_event_hid = m->seq;
        hcw_msg_free(m);
    }
}

static void put_op(hcw_buf *b, uint64_t token) {
    hcw_put_u64(b, token);
    hcw_put_u64(b, 0); /* a plain operation */
    hcw_put_u64(b, 0); /* no resources */
}

/* Sends a CALL of a "h|p, o, s" signature (system/process calls with an operation). */
static int rc_call_hos(int s, uint64_t seq, uint32_t fn, uint64_t handle, uint64_t token,
                       const char16_t *opt) {
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, seq);
    hcw_put_u64(&b, fn);
    hcw_put_u64(&b, handle);
    put_op(&b, token);
    if (strchr(hcw_args_of(fn), 's')) hcw_put_str(&b, opt);
    int r = hcw_send(s, &b);
    hcw_free(&b);
    return r;
}

/* The REPLY of seq: its hr and its first result (a handle id) when it has one. */
static HRESULT rc_reply(int s, uint64_t seq, uint64_t *id) {
    hcw_msg m;
    if (!rc_expect(s, HCW_REPLY, seq, &m)) return E_FAIL;
    uint64_t hr = 0;
    hcw_get_u64(&m, &hr);
    if (id) hcw_get_u64(&m, id);
    hcw_msg_free(&m);
    return (HRESULT)(uint32_t)hr;
}

/* The COMPLETE of token: its hr; *doc non-NULL when it had a document. */
static HRESULT rc_complete(int s, uint64_t token, int *has_doc) {
    hcw_msg m;
    if (!rc_expect(s, HCW_COMPLETE, token, &m)) return E_FAIL;
    uint64_t hr = 0, pi = 0;
    char16_t *doc = NULL;
    hcw_get_u64(&m, &hr);
    hcw_get_str(&m, &doc);
    hcw_get_u64(&m, &pi);
    if (has_doc) *has_doc = doc != NULL;
    free(doc);
    hcw_msg_free(&m);
    return (HRESULT)(uint32_t)hr;
}

/* CreateComputeSystem id over s; the new handle id. */
static HRESULT rc_create(int s, uint64_t seq, const char *id, const char *cfg, uint64_t *hid) {
    char16_t *wid = tc_w(id), *wcfg = tc_w(cfg);
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, seq);
    hcw_put_u64(&b, FN_HcsCreateComputeSystem);
    hcw_put_str(&b, wid);
    hcw_put_str(&b, wcfg);
    put_op(&b, seq);
    int sent = hcw_send(s, &b);
    hcw_free(&b);
    free(wid);
    free(wcfg);
    if (sent < 0) return E_FAIL;
    HRESULT hr = rc_reply(s, seq, hid);
    return hr == S_OK ? rc_complete(s, seq, NULL) : hr;
}

static HRESULT rc_sys_op(int s, uint64_t seq, uint32_t fn, uint64_t hid, int *has_doc) {
    if (rc_call_hos(s, seq, fn, hid, seq, NULL) < 0) return E_FAIL;
    HRESULT hr = rc_reply(s, seq, NULL);
    return hr == S_OK ? rc_complete(s, seq, has_doc) : hr;
}

static HRESULT rc_simple(int s, uint64_t seq, uint32_t fn, uint64_t arg, int with_arg) {
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, seq);
    hcw_put_u64(&b, fn);
    if (with_arg) hcw_put_u64(&b, arg);
    int sent = hcw_send(s, &b);
    hcw_free(&b);
    return sent < 0 ? E_FAIL : rc_reply(s, seq, NULL);
}

/* The counts once these are reached and the service's operations are all closed (it
 * closes one just after sending its COMPLETE), or after 5 s. */
static HCSIM_COUNTS counts_when(uint32_t system_handles, uint32_t systems) {
    HCSIM_COUNTS k;
    uint64_t deadline = tc_now_ms() + 5000;
    do {
        HcsimGetCounts(&k);
        if (k.SystemHandles == system_handles && k.Systems == systems && !k.Operations &&
            !k.PendingOperations)
            break;
        tc_sleep_ms(5);
    } while (tc_now_ms() < deadline);
    return k;
}

/* ---- the tests ------------------------------------------------------------------------ */
TEST(serve_handshake_status_and_refusals) {
    HcsimReset();
    HCSIM_SERVICE_STATUS st;
    CHECK_HR(HCS_E_SERVICE_NOT_AVAILABLE, HcsimServiceQuery("/tmp/hcsim-no-such-socket", &st));
    REQUIRE(sv_start());
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), HcsimServiceStart(sv_path, -1));
    struct stat sb;
    CHECK(stat(sv_path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    CHECK_HR(S_OK, HcsimServiceQuery(sv_path, &st));
    CHECK(st.ProcessId == (uint32_t)getpid() && st.Version == HCW_VERSION && st.Clients == 0);
    int s = rc_open(sv_path);
    REQUIRE(s >= 0);
    CHECK_HR(HCS_E_PROTOCOL_ERROR, rc_hello(s, HCW_VERSION + 1, hcw_build_id()));
    hcw_msg m;
    CHECK(hcw_recv(s, &m) == 0); /* then closed */
    hcw_msg_free(&m);
    close(s);
    s = rc_open(sv_path);
    REQUIRE(s >= 0);
    CHECK_HR(HCS_E_PROTOCOL_ERROR, rc_hello(s, HCW_VERSION, hcw_build_id() ^ 1));
    close(s);
    s = rc_connect();
    REQUIRE(s >= 0);
    /* a control call through the service */
    CHECK_HR(S_OK, rc_simple(s, 1, HCW_CTL_HcsimGetCounts, 0, 0));
    /* a call of a local export is not part of the protocol: the client goes */
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, 2);
    hcw_put_u64(&b, FN_HcsCreateOperation);
    CHECK(hcw_send(s, &b) == 0);
    hcw_free(&b);
    CHECK(hcw_recv(s, &m) == 0);
    hcw_msg_free(&m);
    close(s);
    sv_stop();
    CHECK_HR(HCS_E_SERVICE_NOT_AVAILABLE, HcsimServiceQuery(sv_path, &st));
}

extern uint32_t serve_hello_deadline_ms; /* serve.c */

TEST(serve_silent_connection_closed_at_the_hello_deadline) {
    HcsimReset();
    uint32_t deadline = serve_hello_deadline_ms;
    serve_hello_deadline_ms = 200;
    REQUIRE(sv_start());
    int s = rc_open(sv_path); /* says nothing */
    REQUIRE(s >= 0);
    uint64_t t0 = tc_now_ms();
    hcw_msg m;
    CHECK(hcw_recv(s, &m) == 0); /* closed by the service */
    hcw_msg_free(&m);
    CHECK(tc_now_ms() - t0 < 5000);
    close(s);
    HCSIM_SERVICE_STATUS st;
    memset(&st, 0, sizeof st);
    for (int i = 0; i < 500; i++) {
        CHECK_HR(S_OK, HcsimServiceQuery(sv_path, &st));
        if (st.Clients == 0) break;
        tc_sleep_ms(10);
    }
    CHECK(st.Clients == 0);
    /* the deadline is HELLO's only: a welcomed client may stay quiet longer */
    s = rc_connect();
    REQUIRE(s >= 0);
    tc_sleep_ms(400);
    CHECK_HR(S_OK, rc_simple(s, 1, HCW_CTL_HcsimGetCounts, 0, 0));
    close(s);
    sv_stop();
    serve_hello_deadline_ms = deadline;
}

TEST(serve_system_lifecycle_with_events) {
    HcsimReset();
    REQUIRE(sv_start());
    int s = rc_connect();
    REQUIRE(s >= 0);
    uint64_t hid = 0;
    CHECK_HR(S_OK, rc_create(s, 1, "serve-life", SV_CFG, &hid));
    CHECK(hid != 0);
    /* HcsSetComputeSystemCallback "hu": handle, options */
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, 3);
    hcw_put_u64(&b, FN_HcsSetComputeSystemCallback);
    hcw_put_u64(&b, hid);
    hcw_put_u64(&b, HcsEventOptionNone);
    CHECK(hcw_send(s, &b) == 0);
    hcw_free(&b);
    CHECK_HR(S_OK, rc_reply(s, 3, NULL));
    CHECK_HR(S_OK, rc_sys_op(s, 4, FN_HcsStartComputeSystem, hid, NULL));
    int has_doc = 0;
    CHECK_HR(S_OK, rc_sys_op(s, 5, FN_HcsGetComputeSystemProperties, hid, &has_doc));
    CHECK(has_doc);
    rc_event_hid = rc_event_type = 0;
    CHECK_HR(S_OK, rc_sys_op(s, 6, FN_HcsTerminateComputeSystem, hid, NULL));
    if (rc_event_hid != hid) { /* SystemExited forwarded (before or after the COMPLETE) */
        hcw_msg m;
        REQUIRE(rc_expect(s, HCW_EVENT, hid, &m));
        hcw_get_u64(&m, &rc_event_type);
        hcw_msg_free(&m);
    }
    CHECK(rc_event_type == HcsEventSystemExited);
    /* an unknown handle id fails as a closed handle does */
    CHECK(rc_call_hos(s, 7, FN_HcsStartComputeSystem, 999, 7, NULL) == 0);
    CHECK_HR(E_HANDLE, rc_reply(s, 7, NULL));
    CHECK_HR(S_OK, rc_simple(s, 8, FN_HcsCloseComputeSystem, hid, 1));
    HCSIM_COUNTS k = counts_when(0, 0);
    CHECK(k.SystemHandles == 0 && k.Operations == 0);
    close(s);
    sv_stop();
}

TEST(serve_process_stdio_descriptors) {
    HcsimReset();
    REQUIRE(sv_start());
    int s = rc_connect();
    REQUIRE(s >= 0);
    uint64_t hid = 0, pid_id = 0;
    REQUIRE(rc_create(s, 1, "serve-proc", SV_CFG, &hid) == S_OK);
    REQUIRE(rc_sys_op(s, 2, FN_HcsStartComputeSystem, hid, NULL) == S_OK);
    char16_t *params = tc_w("{\"CommandLine\":\"echo served\",\"CreateStdOutPipe\":true}");
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, 3);
    hcw_put_u64(&b, FN_HcsCreateProcess);
    hcw_put_u64(&b, hid);
    hcw_put_str(&b, params);
    put_op(&b, 3);
    CHECK(hcw_send(s, &b) == 0);
    hcw_free(&b);
    free(params);
    CHECK_HR(S_OK, rc_reply(s, 3, &pid_id));
    CHECK(pid_id != 0);
    hcw_msg m;
    REQUIRE(rc_expect(s, HCW_COMPLETE, 3, &m));
    uint64_t hr = 1, has = 0, pid = 0;
    char16_t *doc = NULL;
    int in = 0, out = -1, err = 0;
    CHECK(hcw_get_u64(&m, &hr) && hr == S_OK);
    CHECK(hcw_get_str(&m, &doc));
    CHECK(hcw_get_u64(&m, &has) && has == 1);
    CHECK(hcw_get_u64(&m, &pid) && pid != 0);
    CHECK(hcw_get_fd(&m, &in) && in == -1);
    CHECK(hcw_get_fd(&m, &out) && out >= 0);
    CHECK(hcw_get_fd(&m, &err) && err == -1);
    CHECK(hcw_end(&m));
    free(doc);
    hcw_msg_free(&m);
    char buf[64] = {0};
    size_t n = 0;
    for (ssize_t r;
         out >= 0 && n < sizeof buf - 1 && (r = read(out, buf + n, sizeof buf - 1 - n)) > 0;)
        n += (size_t)r;
    CHECK(!strcmp(buf, "served\n"));
    if (out >= 0) close(out);
    HCSIM_COUNTS k;
    HcsimGetCounts(&k);
    CHECK(k.PipeHandles == 0); /* the service keeps no pipe end */
    /* HcsWaitForProcessExit "pu" -> "s", on a thread of its own */
    hcw_begin(&b, HCW_CALL, 4);
    hcw_put_u64(&b, FN_HcsWaitForProcessExit);
    hcw_put_u64(&b, pid_id);
    hcw_put_u64(&b, 10000);
    CHECK(hcw_send(s, &b) == 0);
    hcw_free(&b);
    CHECK_HR(S_OK, rc_reply(s, 4, NULL));
    close(s); /* the process and system handles close with the connection */
    k = counts_when(0, 1);
    CHECK(k.SystemHandles == 0 && k.ProcessHandles == 0);
    sv_stop();
    HcsimGetCounts(&k);
    CHECK(k.Systems == 0); /* the stop reset the host */
}

TEST(serve_disconnect_closes_handles) {
    HcsimReset();
    REQUIRE(sv_start());
    int s = rc_connect();
    REQUIRE(s >= 0);
    uint64_t a = 0, t = 0;
    REQUIRE(rc_create(s, 1, "serve-keep", SV_CFG, &a) == S_OK);
    REQUIRE(rc_create(s, 2, "serve-term", SV_CFG_TERMINATE, &t) == S_OK);
    REQUIRE(rc_sys_op(s, 3, FN_HcsStartComputeSystem, t, NULL) == S_OK);
    /* an operation in flight when the client goes */
    HcsimSetDelay("HcsGetComputeSystemProperties", 100, 0);
    CHECK(rc_call_hos(s, 4, FN_HcsGetComputeSystemProperties, a, 4, NULL) == 0);
    CHECK_HR(S_OK, rc_reply(s, 4, NULL));
    HCSIM_COUNTS k;
    HcsimGetCounts(&k);
    CHECK(k.SystemHandles == 2);
    close(s);
    /* both handles closed; the system that terminates on its last handle's close is gone */
    k = counts_when(0, 1);
    CHECK(k.SystemHandles == 0 && k.Systems == 1);
    uint64_t deadline = tc_now_ms() + 5000;
    do HcsimGetCounts(&k);
    while (k.Operations && tc_now_ms() < deadline && (tc_sleep_ms(5), 1));
    CHECK(k.Operations == 0 && k.PendingOperations == 0);
    HCSIM_SERVICE_STATUS st;
    CHECK_HR(S_OK, HcsimServiceQuery(sv_path, &st));
    CHECK(st.Systems == 1 && st.Clients == 0);
    sv_stop();
}

TEST(serve_credentials_check) {
    int64_t me = (int64_t)getuid(), g = (int64_t)getgid();
    CHECK(plat_unix_admits(me, g, me, -1));
    CHECK(plat_unix_admits(0, 0, me, -1)); /* root */
    CHECK(!plat_unix_admits(me + 12345, g + 12345, me, -1));
    CHECK(!plat_unix_admits(me + 12345, g + 12345, me, g)); /* not in the group */
    CHECK(plat_unix_admits(me + 12345, g, me, g));          /* its primary group */
}

TEST(serve_second_service_refused_and_stale_socket_taken_over) {
    HcsimReset();
    REQUIRE(sv_start());
    /* another process's service on the same path: the listener answers */
    plat_fd l;
    CHECK(plat_unix_listen(sv_path, -1, &l) == EEXIST);
    sv_stop();
    /* a socket whose service died: nobody listens, the path stays */
    REQUIRE(mkdtemp(strcpy(sv_dir, "/tmp/hcsim-serve-XXXXXX")));
    snprintf(sv_path, sizeof sv_path, "%s/s", sv_dir);
    int d = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sv_path);
    REQUIRE(bind(d, (struct sockaddr *)&a, sizeof a) == 0 && listen(d, 1) == 0);
    close(d);
    CHECK_HR(S_OK, HcsimServiceStart(sv_path, -1));
    int s = rc_connect();
    CHECK(s >= 0);
    if (s >= 0) close(s);
    CHECK_HR(S_OK, HcsimServiceStop());
    /* a path that is not a socket is not taken over */
    FILE *f = fopen(sv_path, "w");
    REQUIRE(f);
    fclose(f);
    CHECK_HR(HRESULT_FROM_WIN32(80u), HcsimServiceStart(sv_path, -1)); /* ERROR_FILE_EXISTS */
    sv_stop();
}

TEST(serve_refuses_non_sockets_and_a_planted_lock_file) {
    HcsimReset();
    REQUIRE(mkdtemp(strcpy(sv_dir, "/tmp/hcsim-serve-XXXXXX")));
    snprintf(sv_path, sizeof sv_path, "%s/s", sv_dir);
    char lock[128], target[128];
    snprintf(lock, sizeof lock, "%s.lock", sv_path);
    snprintf(target, sizeof target, "%s/t", sv_dir);
    struct stat st;
    /* a folder, or a symlink, at the path: refused, left alone, and no lock file made */
    REQUIRE(mkdir(sv_path, 0700) == 0);
    CHECK_HR(HRESULT_FROM_WIN32(80u), HcsimServiceStart(sv_path, -1));
    CHECK_HR(HRESULT_FROM_WIN32(80u), HcsimConnect(sv_path)); /* a client: not "not running" */
    CHECK(lstat(lock, &st) < 0 && errno == ENOENT);
    CHECK(rmdir(sv_path) == 0);
    REQUIRE(symlink(target, sv_path) == 0);
    CHECK_HR(HRESULT_FROM_WIN32(80u), HcsimServiceStart(sv_path, -1));
    CHECK(lstat(lock, &st) < 0 && errno == ENOENT);
    CHECK(lstat(target, &st) < 0 && errno == ENOENT);
    CHECK(unlink(sv_path) == 0);
    /* a symlink planted at the lock file: not followed (its target is not created) */
    REQUIRE(symlink(target, lock) == 0);
    CHECK_HR(HRESULT_FROM_WIN32(33u), HcsimServiceStart(sv_path, -1)); /* ERROR_LOCK_VIOLATION */
    CHECK(lstat(target, &st) < 0 && errno == ENOENT);
    CHECK(lstat(sv_path, &st) < 0 && errno == ENOENT);
    CHECK(unlink(lock) == 0);
    /* a folder at the lock file */
    REQUIRE(mkdir(lock, 0700) == 0);
    CHECK_HR(HRESULT_FROM_WIN32(33u), HcsimServiceStart(sv_path, -1));
    CHECK(rmdir(lock) == 0);
    /* nothing in the way: it serves */
    CHECK_HR(S_OK, HcsimServiceStart(sv_path, -1));
    sv_stop();
}

TEST(serve_garbage_closes_only_that_client) {
    HcsimReset();
    REQUIRE(sv_start());
    int good = rc_connect();
    REQUIRE(good >= 0);
    static const unsigned char junk[][20] = {
        {12, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},               /* a CALL without fn */
        {255, 255, 255, 255, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},        /* oversized */
        {16, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'Q', 1, 2, 3}, /* bad tag */
        {12, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},               /* a REPLY from a client */
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int bad = rc_connect();
        REQUIRE(bad >= 0);
        size_t len = i == 2 ? 20 : 16;
        CHECK(write(bad, junk[i], len) == (ssize_t)len);
        hcw_msg m;
        CHECK(hcw_recv(bad, &m) == 0); /* closed by the service */
        hcw_msg_free(&m);
        close(bad);
    }
    /* garbage before HELLO */
    int bad = rc_open(sv_path);
    REQUIRE(bad >= 0);
    CHECK(write(bad, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
    hcw_msg m;
    CHECK(hcw_recv(bad, &m) <= 0);
    hcw_msg_free(&m);
    close(bad);
    CHECK_HR(S_OK, rc_simple(good, 1, HCW_CTL_HcsimGetCounts, 0, 0));
    close(good);
    sv_stop();
}

static void *client_main(void *arg) {
    intptr_t i = (intptr_t)arg;
    int s = rc_connect();
    if (s < 0) return (void *)1;
    char id[32];
    snprintf(id, sizeof id, "serve-many-%d", (int)i);
    uint64_t hid = 0;
    intptr_t bad = rc_create(s, 1, id, SV_CFG_TERMINATE, &hid) != S_OK ||
                   rc_sys_op(s, 2, FN_HcsStartComputeSystem, hid, NULL) != S_OK ||
                   rc_sys_op(s, 3, FN_HcsGetComputeSystemProperties, hid, NULL) != S_OK;
    if (i % 2) bad |= rc_simple(s, 4, FN_HcsCloseComputeSystem, hid, 1) != S_OK;
    close(s);
    return (void *)bad;
}

TEST(serve_fifty_concurrent_clients) {
    HcsimReset();
    REQUIRE(sv_start());
    pthread_t t[50];
    int started = 0;
    for (intptr_t i = 0; i < 50; i++)
        if (pthread_create(&t[i], NULL, client_main, (void *)i) == 0) started++;
    REQUIRE(started == 50);
    int failures = 0;
    for (int i = 0; i < 50; i++) {
        void *r;
        pthread_join(t[i], &r);
        failures += r != NULL;
    }
    CHECK(failures == 0);
    HCSIM_COUNTS k = counts_when(0, 0);
    CHECK(k.SystemHandles == 0 && k.Systems == 0);
    sv_stop();
}

TEST(serve_request_stop) {
    HcsimReset();
    REQUIRE(sv_start());
    int s = rc_connect();
    REQUIRE(s >= 0);
    CHECK_HR(S_OK, HcsimServiceRequestStop(sv_path));
    /* the connected client gets STOPPING, then the end */
    hcw_msg m;
    CHECK(rc_expect(s, HCW_STOPPING, 0, &m));
    hcw_msg_free(&m);
    CHECK(hcw_recv(s, &m) == 0);
    hcw_msg_free(&m);
    close(s);
    HCSIM_SERVICE_STATUS st;
    uint64_t deadline = tc_now_ms() + 5000;
    while (HcsimServiceQuery(sv_path, &st) == S_OK && tc_now_ms() < deadline) tc_sleep_ms(10);
    CHECK_HR(HCS_E_SERVICE_NOT_AVAILABLE, HcsimServiceQuery(sv_path, &st));
    sv_stop(); /* joins the stop that was requested */
}

/* Sends "hu" (a handle and a number): HcsSet*Callback, HcsWaitFor*Exit. */
static int rc_call_hu(int s, uint64_t seq, uint32_t fn, uint64_t handle, uint64_t u) {
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, seq);
    hcw_put_u64(&b, fn);
    hcw_put_u64(&b, handle);
    hcw_put_u64(&b, u);
    int r = hcw_send(s, &b);
    hcw_free(&b);
    return r;
}

TEST(serve_events_fan_out_to_every_client) {
    HcsimReset();
    REQUIRE(sv_start());
    int a = rc_connect(), b = rc_connect();
    REQUIRE(a >= 0 && b >= 0);
    uint64_t ha = 0, hb = 0;
    REQUIRE(rc_create(a, 1, "serve-fan", SV_CFG, &ha) == S_OK);
    REQUIRE(rc_sys_op(a, 2, FN_HcsStartComputeSystem, ha, NULL) == S_OK);
    /* b opens the same system ("su": id, access) */
    char16_t *id = tc_w("serve-fan");
    hcw_buf f = {0};
    hcw_begin(&f, HCW_CALL, 1);
    hcw_put_u64(&f, FN_HcsOpenComputeSystem);
    hcw_put_str(&f, id);
    hcw_put_u64(&f, 0);
    CHECK(hcw_send(b, &f) == 0);
    hcw_free(&f);
    free(id);
    CHECK_HR(S_OK, rc_reply(b, 1, &hb));
    CHECK(hb != 0);
    CHECK(rc_call_hu(a, 3, FN_HcsSetComputeSystemCallback, ha, 0) == 0);
    CHECK_HR(S_OK, rc_reply(a, 3, NULL));
    CHECK(rc_call_hu(b, 2, FN_HcsSetComputeSystemCallback, hb, 0) == 0);
    CHECK_HR(S_OK, rc_reply(b, 2, NULL));
    /* b waits for the exit on a thread of the service's; its reader keeps serving */
    CHECK(rc_call_hu(b, 3, FN_HcsWaitForComputeSystemExit, hb, 10000) == 0);
    CHECK_HR(S_OK, rc_simple(b, 4, HCW_CTL_HcsimGetCounts, 0, 0));
    rc_event_hid = rc_event_type = 0;
    CHECK_HR(S_OK, rc_sys_op(a, 4, FN_HcsTerminateComputeSystem, ha, NULL));
    hcw_msg m;
    if (rc_event_hid != ha) {
        REQUIRE(rc_expect(a, HCW_EVENT, ha, &m));
        hcw_msg_free(&m);
    }
    /* on b: the same event on its own handle, and the wait's REPLY ("s": the exit
     * document), in either order */
    int event = 0, waited = 0;
    while (!(event && waited) && hcw_recv(b, &m) == 1) {
        uint64_t v = 1;
        char16_t *doc = NULL;
        if (m.type == HCW_EVENT && m.seq == hb)
            event = hcw_get_u64(&m, &v) && v == HcsEventSystemExited;
        if (m.type == HCW_REPLY && m.seq == 3)
            waited =
                hcw_get_u64(&m, &v) && v == S_OK && hcw_get_str(&m, &doc) && doc && hcw_end(&m);
        free(doc);
        hcw_msg_free(&m);
    }
    CHECK(event && waited);
    close(a);
    close(b);
    HCSIM_COUNTS k = counts_when(0, 1);
    CHECK(k.SystemHandles == 0);
    sv_stop();
}

TEST(serve_wait_ends_with_its_client) {
    HcsimReset();
    REQUIRE(sv_start());
    int s = rc_connect();
    REQUIRE(s >= 0);
    uint64_t h = 0;
    REQUIRE(rc_create(s, 1, "serve-wait", SV_CFG, &h) == S_OK);
    REQUIRE(rc_sys_op(s, 2, FN_HcsStartComputeSystem, h, NULL) == S_OK);
    CHECK(rc_call_hu(s, 3, FN_HcsWaitForComputeSystemExit, h, INFINITE) == 0);
    tc_sleep_ms(50);
    uint64_t t0 = tc_now_ms();
    close(s); /* the running system keeps no handle: the wait must end for the stop below */
    HCSIM_COUNTS k = counts_when(0, 1);
    CHECK(k.SystemHandles == 0);
    sv_stop();
    CHECK(tc_now_ms() - t0 < 3000);
}

TEST(serve_operation_with_notifications) {
    HcsimReset();
    REQUIRE(sv_start());
    int s = rc_connect();
    REQUIRE(s >= 0);
    uint64_t h = 0;
    REQUIRE(rc_create(s, 1, "serve-notify", SV_CFG, &h) == S_OK);
    HcsimSetDelay("HcsStartComputeSystem", 80, 0);
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, 2);
    hcw_put_u64(&b, FN_HcsStartComputeSystem);
    hcw_put_u64(&b, h);
    hcw_put_u64(&b, 2);                                /* token */
    hcw_put_u64(&b, HcsOperationOptionProgressUpdate); /* with notifications */
    hcw_put_u64(&b, 0);
    hcw_put_str(&b, NULL);
    CHECK(hcw_send(s, &b) == 0);
    hcw_free(&b);
    /* REPLY first, then OPEVENTs, then COMPLETE: nothing of the token before its REPLY */
    int replied = 0, progress = 0, completed = 0, order_ok = 1;
    while (!completed) {
        hcw_msg m;
        if (hcw_recv(s, &m) != 1) {
            hcw_msg_free(&m);
            break;
        }
        if (m.type == HCW_REPLY && m.seq == 2) replied = 1;
        if (m.type == HCW_OPEVENT && m.seq == 2) {
            order_ok &= replied && !completed;
            progress++;
        }
        if (m.type == HCW_COMPLETE && m.seq == 2) {
            uint64_t hr = 1;
            order_ok &= replied;
            completed = hcw_get_u64(&m, &hr) && hr == S_OK;
        }
        hcw_msg_free(&m);
    }
    CHECK(replied && completed && order_ok);
    CHECK(progress >= 1);
    /* options hcsim refuses: the REPLY says so, and nothing follows for the token */
    hcw_begin(&b, HCW_CALL, 3);
    hcw_put_u64(&b, FN_HcsGetComputeSystemProperties);
    hcw_put_u64(&b, h);
    hcw_put_u64(&b, 3);
    hcw_put_u64(&b, 0x80); /* no such option */
    hcw_put_u64(&b, 0);
    hcw_put_str(&b, NULL);
    CHECK(hcw_send(s, &b) == 0);
    hcw_free(&b);
    CHECK_HR(E_INVALIDARG, rc_reply(s, 3, NULL));
    close(s);
    HCSIM_COUNTS k = counts_when(0, 1);
    CHECK(k.Operations == 0);
    sv_stop();
}

/* ---- a registration's first notifications --------------------------------------------- */
static atomic_int ns_churn_stop;

static void *ns_churn_main(void *arg) { /* another client: namespaces in a tight loop */
    (void)arg;
    GUID id;
    memset(&id, 0, sizeof id);
    id.Data1 = 0x5e7e0001u;
    while (!atomic_load(&ns_churn_stop)) {
        HCN_NAMESPACE ns = NULL;
        if (HcnCreateNamespace(&id, u"{\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}", &ns, NULL) ==
            S_OK) {
            HcnCloseNamespace(ns);
            HcnDeleteNamespace(&id, NULL);
        }
    }
    return NULL;
}

/* The client learns a registration's id from its REPLY: no NOTIFY of the registration
 * comes before it (the service holds them until the REPLY is queued), however busy
 * another client is meanwhile. */
TEST(serve_registration_notifications_follow_its_reply) {
    HcsimReset();
    REQUIRE(sv_start());
    int s = rc_connect();
    REQUIRE(s >= 0);
    atomic_store(&ns_churn_stop, 0);
    pthread_t churn;
    REQUIRE(pthread_create(&churn, NULL, ns_churn_main, NULL) == 0);
    int early = 0, after = 0, failed = 0;
    uint64_t seq = 1;
    for (int round = 0; round < 1000 && !failed; round++) {
        hcw_buf b = {0};
        uint64_t reg = seq++;
        hcw_begin(&b, HCW_CALL, reg);
        hcw_put_u64(&b, FN_HcnRegisterServiceCallback); /* 'c' and 'x' are not sent */
        failed |= hcw_send(s, &b) != 0;
        hcw_free(&b);
        uint64_t before[64], nbefore = 0, id = 0;
        for (int replied = 0; !replied && !failed;) {
            hcw_msg m;
            if (hcw_recv(s, &m) != 1) {
                failed = 1;
            } else if (m.type == HCW_REPLY && m.seq == reg) {
                uint64_t hr = 1;
                failed |= !hcw_get_u64(&m, &hr) || hr != S_OK || !hcw_get_u64(&m, &id);
                replied = 1;
            } else if (m.type == HCW_NOTIFY && nbefore < 64) {
                before[nbefore++] = m.seq;
            }
            hcw_msg_free(&m);
        }
        for (uint64_t i = 0; i < nbefore; i++) early += before[i] == id;
        /* one notification of the registration after its REPLY, then it goes */
        for (int heard = 0; !heard && !failed;) {
            hcw_msg m;
            if (hcw_recv(s, &m) != 1)
                failed = 1;
            else
                heard = m.type == HCW_NOTIFY && m.seq == id;
            hcw_msg_free(&m);
        }
        after += !failed;
        if (!failed) failed = rc_simple(s, seq++, FN_HcnUnregisterServiceCallback, id, 1) != S_OK;
    }
    atomic_store(&ns_churn_stop, 1);
    pthread_join(churn, NULL);
    CHECK(!failed);
    CHECK(early == 0);
    CHECK(after == 1000);
    close(s);
    sv_stop();
}
