/* White-box tests of hcsim's engine: worker pool and timed queue, strands, re-entrancy,
 * handle validation, control API, reset. */
#include "hcsim_internal.h"
#include "test_core_util.h"
#include "test_port.h"

#include <errno.h>
#include <stdatomic.h>

#define CFG_VM "{\"Owner\":\"core\",\"VirtualMachine\":{\"GuestConnection\":{}}}"
#define CFG_CT "{\"Owner\":\"core\",\"Container\":{}}"

/* ---- command line splitting ------------------------------------------------------------ */
static int split_is(const char *cmd, const char *const *expect) {
    char **argv = NULL;
    int n = hc_cmdline_split(cmd, &argv);
    int ok = n >= 0;
    int i = 0;
    for (; ok && expect[i]; i++) ok = i < n && !strcmp(argv[i], expect[i]);
    ok = ok && i == n;
    if (!ok) {
        fprintf(stderr, "  split(%s):", cmd);
        for (int k = 0; k < n; k++) fprintf(stderr, " [%s]", argv[k]);
        fprintf(stderr, "\n");
    }
    for (int k = 0; k < n; k++) free(argv[k]);
    free(argv);
    return ok;
}

TEST(core_cmdline_split_windows_rules) {
    CHECK(split_is("prog a b", (const char *const[]){"prog", "a", "b", NULL}));
    CHECK(split_is("prog  \t a", (const char *const[]){"prog", "a", NULL}));
    CHECK(split_is("\"C:\\Program Files\\x.exe\" y",
                   (const char *const[]){"C:\\Program Files\\x.exe", "y", NULL}));
    CHECK(split_is("p \"a b\" c", (const char *const[]){"p", "a b", "c", NULL}));
    CHECK(split_is("p a\\\\b", (const char *const[]){"p", "a\\\\b", NULL}));       /* a\\b */
    CHECK(split_is("p a\\\"b", (const char *const[]){"p", "a\"b", NULL}));         /* a\"b */
    CHECK(split_is("p a\\\\\"b c\"", (const char *const[]){"p", "a\\b c", NULL})); /* a\\"b c" */
    CHECK(split_is("p a\\\\\\\"b", (const char *const[]){"p", "a\\\"b", NULL}));   /* a\\\"b */
    CHECK(split_is("p \"\"", (const char *const[]){"p", "", NULL}));
    CHECK(split_is("p \"a\"\"b\"", (const char *const[]){"p", "a\"b", NULL})); /* "a""b" */
    CHECK(split_is("p \"a\\\\\"", (const char *const[]){"p", "a\\", NULL}));   /* "a\\" */
    CHECK(split_is("p x\"y z\"w", (const char *const[]){"p", "xy zw", NULL}));
    CHECK(split_is("p \"end", (const char *const[]){"p", "end", NULL}));
    CHECK(split_is("p \\\\server\\share", (const char *const[]){"p", "\\\\server\\share", NULL}));
    /* the program name takes no backslash escapes */
    CHECK(split_is("C:\\dir\\\"x y", (const char *const[]){"C:\\dir\\\"x", "y", NULL}));
}

/* ---- pool: delays do not occupy workers ------------------------------------------------ */
static atomic_int done_count;
static void count_cb(HCS_OPERATION op, void *ctx) {
    (void)ctx;
    CHECK_HR(S_OK, HcsGetOperationResult(op, NULL));
    HcsCloseOperation(op);
    atomic_fetch_add(&done_count, 1);
}

TEST(core_1000_delayed_operations_in_parallel) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-1000", CFG_CT, 1, &s) == S_OK);
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 5, 0));
    atomic_store(&done_count, 0);
    uint64_t t0 = tc_now_ms();
    for (int i = 0; i < 1000; i++) {
        HCS_OPERATION op = HcsCreateOperation(NULL, count_cb);
        REQUIRE(op != NULL);
        CHECK_HR(S_OK, HcsGetComputeSystemProperties(s, op, NULL));
    }
    while (atomic_load(&done_count) < 1000 && tc_now_ms() - t0 < 20000) tc_sleep_ms(1);
    uint64_t elapsed = tc_now_ms() - t0;
    CHECK(atomic_load(&done_count) == 1000);
    /* serialised on 4 workers this would take >= 1250 ms */
    CHECK(elapsed < 1000);
    fprintf(stderr, "    (1000 ops x 5 ms delay: %llu ms)\n", (unsigned long long)elapsed);
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 0));
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_worker_threads_option) {
    HcsimReset();
    CHECK_HR(S_OK, HcsimSetOption("WorkerThreads", 1));
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-w1", CFG_CT, 0, &s) == S_OK);
    CHECK_HR(HCS_E_INVALID_STATE, HcsimSetOption("WorkerThreads", 3)); /* pool already running */
    CHECK_HR(E_INVALIDARG, HcsimSetOption("WorkerThreads", 0));
    CHECK_HR(E_INVALIDARG, HcsimSetOption("NoSuchOption", 1));
    hc_lock();
    CHECK(G.nthreads == 1);
    hc_unlock();
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK_HR(S_OK, HcsimSetOption("WorkerThreads", 3));
    REQUIRE(tc_create("core-w3", CFG_CT, 0, &s) == S_OK);
    hc_lock();
    CHECK(G.nthreads == 3);
    hc_unlock();
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* ---- per-handle order and re-entrancy ----------------------------------------------------- */
typedef struct seq_ctx {
    atomic_int next, bad, running, overlap;
} seq_ctx;

static void seq_cb(HCS_EVENT *ev, void *ctx) {
    seq_ctx *c = ctx;
    if (ev->Type != (HCS_EVENT_TYPE)0x100) return;
    if (atomic_fetch_add(&c->running, 1) != 0) atomic_store(&c->overlap, 1);
    char *s = hj_utf16_to_utf8(ev->EventData, NULL);
    int v = s ? atoi(s) : -1;
    free(s);
    if (v != atomic_load(&c->next)) atomic_store(&c->bad, 1);
    atomic_fetch_add(&c->next, 1);
    atomic_fetch_sub(&c->running, 1);
}

TEST(core_events_in_order_never_concurrent) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-order", CFG_VM, 1, &s) == S_OK);
    seq_ctx c;
    memset(&c, 0, sizeof c);
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(s, HcsEventOptionNone, &c, seq_cb));
    char16_t *id = tc_w("core-order");
    for (int i = 0; i < 500; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        char16_t *d = tc_w(buf);
        CHECK_HR(S_OK, HcsimRaiseSystemEvent(NULL, id, 0x100, d));
        free(d);
    }
    uint64_t t0 = tc_now_ms();
    while (atomic_load(&c.next) < 500 && tc_now_ms() - t0 < 10000) tc_sleep_ms(1);
    CHECK(atomic_load(&c.next) == 500);
    CHECK(!atomic_load(&c.bad));
    CHECK(!atomic_load(&c.overlap));
    free(id);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

typedef struct close_ctx {
    HCS_SYSTEM self, other, query;
    int keep_self;
    atomic_int entered, finished;
    unsigned sleep_ms;
} close_ctx;

static void closing_cb(HCS_EVENT *ev, void *ctx) {
    close_ctx *c = ctx;
    if (ev->Type != (HCS_EVENT_TYPE)0x200) return;
    atomic_store(&c->entered, 1);
    if (c->sleep_ms) tc_sleep_ms(c->sleep_ms);
    /* re-entrant calls: properties of our own handle, then close another and ourselves */
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(c->query ? c->query : c->self, op, NULL));
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, 10000, NULL));
    HcsCloseOperation(op);
    if (c->other) HcsCloseComputeSystem(c->other);
    if (!c->keep_self) HcsCloseComputeSystem(c->self); /* inside its own callback: no self-wait */
    atomic_store(&c->finished, 1);
}

TEST(core_close_inside_callback) {
    HcsimReset();
    HCS_SYSTEM a, b;
    REQUIRE(tc_create("core-close", CFG_VM, 1, &a) == S_OK);
    char16_t *id = tc_w("core-close");
    CHECK_HR(S_OK, HcsOpenComputeSystem(id, GENERIC_ALL, &b));
    close_ctx c;
    memset(&c, 0, sizeof c);
    c.self = a;
    c.other = b;
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(a, HcsEventOptionNone, &c, closing_cb));
    CHECK_HR(S_OK, HcsimRaiseSystemEvent(NULL, id, 0x200, NULL));
    uint64_t t0 = tc_now_ms();
    while (!atomic_load(&c.finished) && tc_now_ms() - t0 < 10000) tc_sleep_ms(1);
    CHECK(atomic_load(&c.finished));
    HCSIM_COUNTS k;
    HcsimGetCounts(&k);
    CHECK(k.SystemHandles == 0);
    CHECK(k.Systems == 1); /* the system outlives its handles */
    free(id);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_close_waits_for_running_callback) {
    HcsimReset();
    HCS_SYSTEM a;
    REQUIRE(tc_create("core-wait", CFG_VM, 1, &a) == S_OK);
    close_ctx c;
    memset(&c, 0, sizeof c);
    c.sleep_ms = 200;
    HCS_SYSTEM extra;
    char16_t *id = tc_w("core-wait");
    CHECK_HR(S_OK, HcsOpenComputeSystem(id, GENERIC_ALL, &extra));
    c.self = extra;
    c.query = a;
    c.keep_self = 1; /* this thread closes it while the callback runs */
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(extra, HcsEventOptionNone, &c, closing_cb));
    CHECK_HR(S_OK, HcsimRaiseSystemEvent(NULL, id, 0x200, NULL));
    while (!atomic_load(&c.entered)) tc_sleep_ms(1);
    /* closing from this thread must wait until the callback has returned */
    HcsCloseComputeSystem(extra);
    CHECK(atomic_load(&c.finished));
    HcsCloseComputeSystem(a);
    free(id);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* ---- handles ---------------------------------------------------------------------------- */
TEST(core_stale_and_foreign_handles) {
    HcsimReset();
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HcsCloseOperation(op);
    CHECK_HR(E_HANDLE, HcsGetOperationResult(op, NULL));
    CHECK_HR(E_HANDLE, HcsSetOperationContext(op, NULL));
    CHECK(HcsGetOperationId(op) == HCS_INVALID_OPERATION_ID);
    CHECK(HcsGetOperationType(op) == HcsOperationTypeNone);
    HcsCloseOperation(op); /* double close: harmless */
    int local = 0;
    CHECK_HR(E_HANDLE, HcsGetOperationResult((HCS_OPERATION)&local, NULL));
    CHECK_HR(E_HANDLE, HcsGetOperationResult(NULL, NULL));
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-stale", CFG_CT, 0, &s) == S_OK);
    HcsCloseComputeSystem(s);
    HCS_OPERATION op2 = HcsCreateOperation(NULL, NULL);
    CHECK_HR(E_HANDLE, HcsStartComputeSystem(s, op2, NULL));
    CHECK_HR(E_HANDLE, HcsStartComputeSystem((HCS_SYSTEM)op2, op2, NULL)); /* wrong kind */
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(op2, NULL));
    HcsCloseComputeSystem((HCS_SYSTEM)&local);
    HcsCloseProcess((HCS_PROCESS)op2);
    CHECK(CloseHandle((HANDLE)op2) == FALSE);
    CHECK(CloseHandle(NULL) == FALSE);
    CHECK(HcsimHandleToFd((HANDLE)op2) == -1);
    CHECK(LocalFree(NULL) == NULL);
    CHECK(LocalFree(&local) == &local); /* not ours: returned, as Win32 reports failure */
    HcsCloseOperation(op2);
    /* handle values are never reused */
    HCS_OPERATION o1 = HcsCreateOperation(NULL, NULL);
    HcsCloseOperation(o1);
    HCS_OPERATION o2 = HcsCreateOperation(NULL, NULL);
    CHECK(o1 != o2);
    HcsCloseOperation(o2);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* ---- control API -------------------------------------------------------------------------- */
TEST(core_fail_next_and_hidden_exports) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-fault", CFG_CT, 1, &s) == S_OK);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    /* sync: the call returns the HRESULT and the operation stays unused */
    CHECK_HR(S_OK,
             HcsimFailNext("HcsGetComputeSystemProperties", 1, E_ACCESSDENIED, HcsimFaultSync));
    CHECK_HR(E_ACCESSDENIED, HcsGetComputeSystemProperties(s, op, NULL));
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(op, NULL));
    /* async: S_OK, then the operation fails with a ResultError */
    CHECK_HR(S_OK, HcsimFailNext("HcsGetComputeSystemProperties", 2, HCS_E_CONNECTION_TIMEOUT,
                                 HcsimFaultAsync));
    for (int i = 0; i < 2; i++) {
        CHECK_HR(S_OK, HcsGetComputeSystemProperties(s, op, NULL));
        hj_value *doc = NULL;
        CHECK_HR(HCS_E_CONNECTION_TIMEOUT, tc_wait(op, &doc));
        int64_t e = 0;
        CHECK(hj_int64(hj_get(doc, "Error"), &e) && e == (int32_t)HCS_E_CONNECTION_TIMEOUT);
        CHECK(hj_str(hj_get(doc, "ErrorMessage"), NULL) != NULL);
        hj_free(doc);
    }
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(s, op, NULL));
    CHECK_HR(S_OK, tc_wait(op, NULL));
    /* "*" hits the next service call, not the operation accessors */
    CHECK_HR(S_OK, HcsimFailNext("*", 1, E_FAIL, HcsimFaultSync));
    CHECK_HR(S_OK, HcsGetOperationResult(op, NULL));
    CHECK_HR(E_FAIL, HcsGetComputeSystemProperties(s, op, NULL));
    CHECK_HR(E_INVALIDARG, HcsimFailNext("HcsNoSuchFunction", 1, E_FAIL, HcsimFaultSync));
    CHECK_HR(E_INVALIDARG, HcsimFailNext("HcsCloseOperation", 1, E_FAIL, HcsimFaultSync));
    CHECK_HR(E_INVALIDARG, HcsimFailNext("HcsStartComputeSystem", 1, S_OK, HcsimFaultSync));
    /* hidden exports */
    CHECK(HcsimIsExportAvailable("HcsWaitForComputeSystemExit"));
    CHECK(!HcsimIsExportAvailable("HcsNoSuchFunction"));
    CHECK_HR(S_OK, HcsimSetExportHidden("HcsWaitForComputeSystemExit", TRUE));
    CHECK(!HcsimIsExportAvailable("HcsWaitForComputeSystemExit"));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND), HcsWaitForComputeSystemExit(s, 0, NULL));
    CHECK_HR(S_OK, HcsimSetExportHidden("HcsWaitForComputeSystemExit", FALSE));
    CHECK_HR(HCS_E_OPERATION_TIMEOUT, HcsWaitForComputeSystemExit(s, 0, NULL));
    CHECK_HR(E_INVALIDARG, HcsimSetExportHidden("NotAnExport", TRUE));
    /* sync delay sleeps in the caller */
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 100));
    uint64_t t0 = tc_now_ms();
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(s, op, NULL));
    CHECK(tc_now_ms() - t0 >= 95);
    CHECK_HR(S_OK, tc_wait(op, NULL));
    HcsCloseOperation(op);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(HcsimIsExportAvailable("HcsWaitForComputeSystemExit"));
    CHECK(tc_counts_zero());
}

static atomic_int disconnects;
static void disc_cb(HCS_EVENT *ev, void *ctx) {
    (void)ctx;
    if (ev->Type == HcsEventServiceDisconnect) atomic_fetch_add(&disconnects, 1);
}

TEST(core_service_disconnect_and_reset) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-disc", CFG_VM, 1, &s) == S_OK);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(tc_spawn(s, "{\"CommandArgs\":[" TP_ARGS_SLEEP_PATH("30") "]}", &p, &pi) == S_OK);
    atomic_store(&disconnects, 0);
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(s, HcsEventOptionNone, NULL, disc_cb));
    CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, NULL, disc_cb));
    CHECK_HR(S_OK, HcsimSetDelay("HcsPauseComputeSystem", 5000, 0));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsPauseComputeSystem(s, op, NULL));
    CHECK_HR(S_OK, HcsimDisconnectService());
    hj_value *doc = NULL;
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, tc_wait(op, &doc));
    int64_t e = 0;
    CHECK(hj_int64(hj_get(doc, "Error"), &e) && e == (int32_t)HCS_E_SERVICE_DISCONNECT);
    hj_free(doc);
    uint64_t t0 = tc_now_ms();
    while (atomic_load(&disconnects) < 2 && tc_now_ms() - t0 < 5000) tc_sleep_ms(1);
    CHECK(atomic_load(&disconnects) == 2);
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsGetComputeSystemProperties(s, op, NULL));
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsWaitForProcessExit(p, 0, NULL));
    PWSTR r = NULL;
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsGetServiceProperties(NULL, &r));
    CHECK(r == NULL);
    /* reset: systems end, processes die and are reaped; held handles stay closable */
    CHECK_HR(S_OK, HcsimReset());
    HCSIM_COUNTS k;
    HcsimGetCounts(&k);
    CHECK(k.Systems == 0 && k.Processes == 0 && k.PendingOperations == 0);
    CHECK(k.SystemHandles == 1 && k.ProcessHandles == 1 && k.Operations == 1);
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(s, op, NULL)); /* reconnected */
    CHECK_HR(S_OK, tc_wait(op, &doc));
    CHECK(hj_str(hj_get(doc, "State"), NULL) &&
          !strcmp(hj_str(hj_get(doc, "State"), NULL), "Stopped"));
    hj_free(doc);
    CHECK_HR(S_OK, HcsWaitForProcessExit(p, 1000, NULL));
    HcsCloseOperation(op);
    tc_close_pi(&pi);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    CHECK(tc_counts_zero());
}

/* ---- save / restore / templates ----------------------------------------------------------------- */
TEST(core_save_restore_and_processor_compat) {
    HcsimReset();
    char dir[] = "/tmp/hcsim-core-XXXXXX";
    REQUIRE(tp_mkdtemp(dir) != NULL);
    char path[128], opts[256], cfg[512];
    snprintf(path, sizeof path, "%s/saved.vmrs", dir);
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-save", CFG_VM, 1, &s) == S_OK);
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, s, NULL, NULL));
    snprintf(opts, sizeof opts, "{\"SaveType\":\"ToFile\",\"SaveStateFilePath\":\"%s\"}", path);
    CHECK_HR(S_OK, tc_call(HcsSaveComputeSystem, s, opts, NULL));
    hj_value *doc = NULL;
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, s, NULL, &doc));
    CHECK(!strcmp(hj_str(hj_get(doc, "State"), NULL), "Paused"));
    hj_free(doc);
    char16_t *wpath = tc_w(path);
    PCWSTR feat = NULL;
    CHECK_HR(S_OK, HcsGetProcessorCompatibilityFromSavedState(wpath, &feat));
    REQUIRE(feat != NULL);
    hj_value *f = hj_parse_utf16(feat);
    CHECK(hj_get(f, "ProcessorFeatures") != NULL);
    hj_free(f);
    LocalFree((HLOCAL)feat);
    CHECK_HR(S_OK, HcsGetProcessorCompatibilityFromSavedState(wpath, NULL));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    HcsCloseComputeSystem(s);
    /* restore into a new system: the save file must be granted to the new VM first */
    CHECK_HR(S_OK, HcsGrantVmAccess(u"core-restored", wpath));
    snprintf(cfg, sizeof cfg,
             "{\"VirtualMachine\":{\"RestoreState\":{\"SaveStateFilePath\":\"%s\"}}}", path);
    HCS_SYSTEM r;
    REQUIRE(tc_create("core-restored", cfg, 1, &r) == S_OK);
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, r, NULL, &doc));
    CHECK(!strcmp(hj_str(hj_get(doc, "State"), NULL), "Running"));
    hj_free(doc);
    HcsCloseComputeSystem(r);
    /* a corrupt file fails the start; the system stays Created */
    snprintf(path, sizeof path, "%s/bad.vmrs", dir);
    char16_t *wbad = tc_w(path);
    CHECK_HR(S_OK, HcsCreateEmptyRuntimeStateFile(wbad));
    CHECK_HR(HRESULT_FROM_WIN32(80u), HcsCreateEmptyRuntimeStateFile(wbad));
    CHECK_HR(HRESULT_FROM_WIN32(13u), HcsGetProcessorCompatibilityFromSavedState(wbad, &feat));
    snprintf(cfg, sizeof cfg,
             "{\"VirtualMachine\":{\"RestoreState\":{\"SaveStateFilePath\":\"%s\"}}}", path);
    HCS_SYSTEM bad;
    CHECK_HR(S_OK, HcsGrantVmAccess(u"core-bad", wbad));
    CHECK_HR(HRESULT_FROM_WIN32(13u), tc_create("core-bad", cfg, 1, &bad));
    HcsCloseComputeSystem(bad);
    /* templates */
    HCS_SYSTEM t, clone;
    REQUIRE(tc_create("core-template", CFG_VM, 1, &t) == S_OK);
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, t, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsSaveComputeSystem, t, "{\"SaveType\":\"AsTemplate\"}", NULL));
    CHECK_HR(HCS_E_INVALID_STATE, tc_call(HcsResumeComputeSystem, t, NULL, NULL));
    REQUIRE(tc_create(
                "core-clone",
                "{\"VirtualMachine\":{\"RestoreState\":{\"TemplateSystemId\":\"core-template\"}}}",
                1, &clone) == S_OK);
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, clone, NULL, &doc));
    CHECK(!strcmp(hj_str(hj_get(doc, "RuntimeTemplateId"), NULL), "core-template"));
    hj_free(doc);
    HcsCloseComputeSystem(clone);
    HcsCloseComputeSystem(t);
    free(wpath);
    free(wbad);
    HcsimReset();
    CHECK(tc_counts_zero());
    tp_rmtree(dir);
}

/* ---- cost of a round trip --------------------------------------------------------------------- */
TEST(core_properties_round_trip_cost) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-bench", CFG_VM, 1, &s) == S_OK);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    uint64_t t0 = tc_now_ms();
    int n = 2000;
    for (int i = 0; i < n; i++) {
        CHECK_HR(S_OK, HcsGetComputeSystemProperties(s, op, NULL));
        PWSTR d = NULL;
        CHECK_HR(S_OK, HcsWaitForOperationResult(op, 10000, &d));
        LocalFree(d);
    }
    uint64_t ms = tc_now_ms() - t0;
    fprintf(stderr, "    (GetProperties round trip: %.1f us)\n", (double)ms * 1000.0 / n);
    CHECK(ms < 10000);
    HcsCloseOperation(op);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* ---- creations that never happen --------------------------------------------------------- */
TEST(core_abandoned_creations_fail_cleanly) {
    HcsimReset();
    /* an injected async failure of create: the handle answers "not found" at once */
    CHECK_HR(S_OK, HcsimFailNext("HcsCreateComputeSystem", 1, HCS_E_HYPERV_NOT_INSTALLED,
                                 HcsimFaultAsync));
    HCS_SYSTEM s;
    CHECK_HR(HCS_E_HYPERV_NOT_INSTALLED, tc_create("core-abandon", CFG_VM, 0, &s));
    REQUIRE(s != NULL);
    uint64_t t0 = tc_now_ms();
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, HcsWaitForComputeSystemExit(s, 5000, NULL));
    CHECK(tc_now_ms() - t0 < 1000);
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, tc_call(HcsGetComputeSystemProperties, s, NULL, NULL));
    HcsCloseComputeSystem(s);
    /* a CreateProcess still queued when its system exits */
    REQUIRE(tc_create("core-abandon2", CFG_VM, 1, &s) == S_OK);
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateProcess", 300, 0));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_PROCESS p = NULL;
    char16_t *prm = tc_w("{\"CommandArgs\":[" TP_ARGS_SLEEP_PATH("30") "]}");
    CHECK_HR(S_OK, HcsCreateProcess(s, prm, op, NULL, &p));
    free(prm);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK_HR(HCS_E_SYSTEM_ALREADY_STOPPED, tc_wait(op, NULL));
    t0 = tc_now_ms();
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), HcsWaitForProcessExit(p, 5000, NULL));
    CHECK(tc_now_ms() - t0 < 1000);
    HcsCloseOperation(op);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

static atomic_int raw_events;
static void raw_cb(HCS_EVENT *ev, void *ctx) {
    (void)ctx;
    if (ev->Type == HcsEventOperationCallback && ev->Operation == NULL)
        atomic_fetch_add(&raw_events, 1);
}

TEST(core_raised_operation_event_without_operation) {
    HcsimReset();
    HCS_SYSTEM a, b;
    REQUIRE(tc_create("core-raw", CFG_VM, 1, &a) == S_OK);
    char16_t *id = tc_w("core-raw");
    CHECK_HR(S_OK, HcsOpenComputeSystem(id, GENERIC_ALL, &b));
    atomic_store(&raw_events, 0);
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(a, HcsEventOptionNone, NULL, raw_cb));
    CHECK_HR(S_OK,
             HcsSetComputeSystemCallback(b, HcsEventOptionEnableOperationCallbacks, NULL, raw_cb));
    CHECK_HR(S_OK, HcsimRaiseSystemEvent(NULL, id, HcsEventOperationCallback, NULL));
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, HcsimRaiseSystemEvent(NULL, u"no-such-system", 6, NULL));
    tc_sleep_ms(100);
    CHECK(atomic_load(&raw_events) == 1); /* only the handle with the option */
    free(id);
    HcsCloseComputeSystem(a);
    HcsCloseComputeSystem(b);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* WorkerExit.ExitCode is a uint32 in the schema (SystemExitStatus.Status an int32). */
TEST(core_worker_exit_code_is_uint32) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-worker-exit", CFG_VM, 1, &s) == S_OK);
    CHECK_HR(S_OK, HcsimCrashSystem(NULL, u"core-worker-exit"));
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(s, 10000, &doc));
    REQUIRE(doc != NULL);
    char *text = hj_utf16_to_utf8((const char16_t *)doc, NULL);
    hj_value *st = hj_parse_utf16((const char16_t *)doc);
    LocalFree(doc);
    REQUIRE(text && st);
    const hj_value *we = hj_get(hj_at(hj_get(st, "Attribution"), 0), "WorkerExit");
    uint64_t code = 0;
    CHECK(hj_uint64(hj_get(we, "ExitCode"), &code) && code == 0x80370106u);
    CHECK(strstr(text, "\"ExitCode\":2151088390") != NULL);
    CHECK(!strcmp(hj_str(hj_get(we, "Type"), NULL), "UnexpectedStop"));
    CHECK(!strcmp(hj_str(hj_get(we, "Initiator"), NULL), "Internal"));
    int64_t status = 0;
    CHECK(hj_int64(hj_get(st, "Status"), &status) && status == (int32_t)HCS_E_UNEXPECTED_EXIT);
    free(text);
    hj_free(st);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* ---- errno and path arguments ------------------------------------------------------------ */
TEST(core_errno_to_hresult_and_path_arguments) {
    CHECK(hc_hr_from_errno(0) == S_OK);
    CHECK(hc_hr_from_errno(ENOENT) == HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND));
#ifdef _WIN32
    CHECK(hc_hr_from_errno(ENOSYS) == E_NOTIMPL);
#else
    CHECK(hc_hr_from_errno(ENOSYS) == E_FAIL); /* as before the Windows port */
#endif
    char *s = NULL;
    CHECK(hc_path_arg(u"/a/b//", 1, &s) == S_OK && !strcmp(s, "/a/b"));
    free(s);
    CHECK(hc_path_arg(u"/", 1, &s) == S_OK && !strcmp(s, "/"));
    free(s);
    CHECK(hc_path_arg(u"/a/", 0, &s) == S_OK && !strcmp(s, "/a/"));
    free(s);
    CHECK(hc_path_arg(u"", 1, &s) == E_INVALIDARG && s == NULL);
#ifdef _WIN32
    CHECK(hc_path_arg(u"C:\\", 1, &s) == S_OK && !strcmp(s, "C:\\")); /* the root stays */
    free(s);
    CHECK(hc_path_arg(u"C:/", 1, &s) == S_OK && !strcmp(s, "C:/"));
    free(s);
    CHECK(hc_path_arg(u"C:\\x\\/", 1, &s) == S_OK && !strcmp(s, "C:\\x"));
    free(s);
#endif
}
