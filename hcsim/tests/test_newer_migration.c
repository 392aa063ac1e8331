/* Live migration between two systems of the emulated host (the sequence hcsshim uses), its
 * events and the VM-lifecycle events. The socket pair: socketpair(2) on POSIX, a loopback
 * TCP connection on Windows (plat_sock_pair). */
#include "plat.h"
#include "test_newer_util.h"
#include "test_port.h"

#define MIG_VM       "{\"Owner\":\"newer\",\"VirtualMachine\":{\"GuestConnection\":{}}}"
#define MIG_CT       "{\"Owner\":\"newer\",\"Container\":{}}"
#define SOCKURI      u"hcs:/VirtualMachine/LiveMigrationSocket"
#define HR_CANCELLED HRESULT_FROM_WIN32(1223u)

/* The caller's ends of a migration socket pair. */
static int socket_pair(plat_fd sv[2]) { return plat_sock_pair(sv) == 0; }
static void close_pair(plat_fd sv[2]) {
    plat_sock_close(sv[0]);
    plat_sock_close(sv[1]);
}

typedef HRESULT (*sys_call)(HCS_SYSTEM, HCS_OPERATION, PCWSTR);

/* Starts fn on a new operation (with notifications to rec when rec is given; the socket
 * fd as its socket resource when fd >= 0); *hr is the call's HRESULT. */
static HCS_OPERATION begin(sys_call fn, HCS_SYSTEM s, const char *opts, plat_fd fd, tn_rec *rec,
                           HRESULT *hr) {
    HCS_OPERATION op =
        rec ? HcsCreateOperationWithNotifications(HcsOperationOptionProgressUpdate, rec, tn_cb)
            : HcsCreateOperation(NULL, NULL);
    if (fd >= 0) {
        HRESULT r =
            HcsAddResourceToOperation(op, HcsResourceTypeSocket, SOCKURI, (HANDLE)(intptr_t)fd);
        CHECK_HR(S_OK, r);
    }
    char16_t *w = opts ? tc_w(opts) : NULL;
    *hr = fn(s, op, w);
    free(w);
    return op;
}

/* begin, wait, close: the operation's result. */
static HRESULT run(sys_call fn, HCS_SYSTEM s, const char *opts, plat_fd fd) {
    HRESULT hr;
    HCS_OPERATION op = begin(fn, s, opts, fd, NULL, &hr);
    if (hr == S_OK) hr = tc_wait(op, NULL);
    HcsCloseOperation(op);
    return hr;
}

static HRESULT start_destination(HCS_SYSTEM d, uint32_t session, plat_fd fd) {
    char opts[160];
    snprintf(opts, sizeof opts,
             "{\"DestinationMigrationOptions\":{\"NetworkSettings\":{\"SessionId\":%u}}}",
             (unsigned)session);
    return run(HcsStartComputeSystem, d, opts, fd);
}

static HRESULT start_source(HCS_SYSTEM s, uint32_t session, plat_fd fd) {
    char opts[96];
    snprintf(opts, sizeof opts, "{\"NetworkSettings\":{\"SessionId\":%u}}", (unsigned)session);
    return run(HcsStartLiveMigrationOnSource, s, opts, fd);
}

/* The State property of s. */
static int state_is(HCS_SYSTEM s, const char *state) {
    hj_value *doc = NULL;
    HRESULT hr = tc_call(HcsGetComputeSystemProperties, s, NULL, &doc);
    int same = hr == S_OK && !strcmp(tn_str(doc, "State"), state);
    if (!same) fprintf(stderr, "  state: %s (hr 0x%08x)\n", tn_str(doc, "State"), (unsigned)hr);
    hj_free(doc);
    return same;
}

/* The Event members of the migration events rec has seen, joined with ','. */
static void migration_events(tn_rec *r, char *out, size_t size) {
    out[0] = 0;
    pthread_mutex_lock(&r->m);
    for (int i = 0; i < r->n; i++) {
        if (r->ev[i].type != HcsEventGroupLiveMigration) continue;
        const char *e = tn_str(r->ev[i].data, "Event"), *res = tn_str(r->ev[i].data, "Result");
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s%s%s", len ? "," : "", e, *res ? ":" : "", res);
    }
    pthread_mutex_unlock(&r->m);
}

/* Waits (up to 10 s) for a migration event named event; 1 when it came. */
static int wait_migration_event(tn_rec *r, const char *event) {
    char seen[512];
    for (int i = 0; i < 1000; i++) {
        migration_events(r, seen, sizeof seen);
        if (strstr(seen, event)) return 1;
        tc_sleep_ms(10);
    }
    return 0;
}

/* A source running and a destination created, both with callbacks (migration and
 * lifecycle events), migration started on both over a fresh socket pair. */
typedef struct pair {
    HCS_SYSTEM src, dst;
    tn_rec src_ev, dst_ev;
} pair;

static int pair_open(pair *p, const char *name, int start_both) {
    memset(p, 0, sizeof *p);
    tn_init(&p->src_ev);
    tn_init(&p->dst_ev);
    char src_id[64], dst_id[64];
    snprintf(src_id, sizeof src_id, "%s-src", name);
    snprintf(dst_id, sizeof dst_id, "%s-dst", name);
    if (tc_create(src_id, MIG_VM, 1, &p->src) != S_OK) return 0;
    if (tc_create(dst_id, MIG_VM, 0, &p->dst) != S_OK) return 0;
    HCS_EVENT_OPTIONS opts =
        HcsEventOptionEnableLiveMigrationEvents | HcsEventOptionEnableVmLifecycle;
    if (HcsSetComputeSystemCallback(p->src, opts, &p->src_ev, tn_cb) != S_OK) return 0;
    if (HcsSetComputeSystemCallback(p->dst, opts, &p->dst_ev, tn_cb) != S_OK) return 0;
    if (!start_both) return 1;
    plat_fd sv[2];
    if (!socket_pair(sv)) return 0;
    HRESULT a = run(HcsInitializeLiveMigrationOnSource, p->src,
                    "{\"Origin\":\"Source\",\"MemoryTransport\":\"TCP\"}", -1);
    HRESULT b = a == S_OK ? start_source(p->src, 7, sv[0]) : a;
    HRESULT c = b == S_OK ? start_destination(p->dst, 7, sv[1]) : b;
    close_pair(sv); /* hcsim holds its own copies */
    CHECK_HR(S_OK, c);
    return c == S_OK;
}

static void pair_close(pair *p) {
    HcsCloseComputeSystem(p->src);
    HcsCloseComputeSystem(p->dst);
    HcsimReset();
    CHECK(tc_counts_zero());
    tn_free(&p->src_ev);
    tn_free(&p->dst_ev);
}

/* Transfers on both sides at once; the two results. */
static void transfer_both(pair *p, tn_rec *src_op, tn_rec *dst_op, HRESULT *src_hr,
                          HRESULT *dst_hr) {
    HRESULT a, b;
    HCS_OPERATION x =
        begin(HcsStartLiveMigrationTransfer, p->src, "{\"Origin\":\"Source\"}", -1, src_op, &a);
    HCS_OPERATION y = begin(HcsStartLiveMigrationTransfer, p->dst, "{\"Origin\":\"Destination\"}",
                            -1, dst_op, &b);
    *src_hr = a == S_OK ? tc_wait(x, NULL) : a;
    *dst_hr = b == S_OK ? tc_wait(y, NULL) : b;
    CHECK(HcsGetOperationType(x) == HcsOperationTypeLiveMigration);
    /* events not yet delivered when an operation is closed are dropped: wait for them */
    if (src_op) CHECK(tn_wait(src_op, HcsEventOperationCallback, 1));
    if (dst_op) CHECK(tn_wait(dst_op, HcsEventOperationCallback, 1));
    HcsCloseOperation(x);
    HcsCloseOperation(y);
}

TEST(newer_migration_end_to_end) {
    HcsimReset();
    pair p;
    REQUIRE(pair_open(&p, "lm-e2e", 1));
    tn_rec src_op, dst_op;
    tn_init(&src_op);
    tn_init(&dst_op);
    HRESULT a, b;
    transfer_both(&p, &src_op, &dst_op, &a, &b);
    CHECK_HR(S_OK, a);
    CHECK_HR(S_OK, b);
    /* progress of each transfer: 25, 50, 75, 100 %, then the completion */
    CHECK(tn_wait(&src_op, HcsEventOperationCallback, 1));
    CHECK(tn_wait(&dst_op, HcsEventOperationCallback, 1));
    CHECK(tn_count(&src_op, HcsEventGroupOperationInfo) == 4);
    CHECK(tn_count(&dst_op, HcsEventGroupOperationInfo) == 4);
    int last = tn_find(&src_op, HcsEventGroupOperationInfo, 3);
    REQUIRE(last >= 0);
    uint64_t pct = 0;
    CHECK(hj_uint64(hj_get(hj_get(src_op.ev[last].data, "Progress"), "PercentComplete"), &pct));
    CHECK(pct == 100);
    CHECK(state_is(p.src, "Paused") && state_is(p.dst, "Paused"));
    /* the destination resumes, the source stops */
    CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.dst,
                       "{\"Origin\":\"Destination\",\"FinalizedOperation\":\"Resume\"}", -1));
    CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.src,
                       "{\"Origin\":\"Source\",\"FinalizedOperation\":\"Stop\"}", -1));
    CHECK(state_is(p.dst, "Running"));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.src, 10000, NULL));
    CHECK(tn_wait(&p.src_ev, HcsEventSystemExited, 1));
    tc_sleep_ms(20);
    char ev[512];
    migration_events(&p.src_ev, ev, sizeof ev);
    CHECK(!strcmp(ev, "SetupDone,TransferInProgress,BlackoutStarted,OfflineDone,"
                      "MigrationDone:Success"));
    if (strcmp(ev, "SetupDone,TransferInProgress,BlackoutStarted,OfflineDone,"
                   "MigrationDone:Success"))
        fprintf(stderr, "  source events: %s\n", ev);
    CHECK(wait_migration_event(&p.dst_ev, "MigrationDone"));
    migration_events(&p.dst_ev, ev, sizeof ev);
    CHECK(!strcmp(ev, "SetupDone,TransferInProgress,BlackoutExited,MigrationDone:Success"));
    int bx = -1;
    for (int i = 0; i < p.dst_ev.n && bx < 0; i++)
        if (!strcmp(tn_str(p.dst_ev.ev[i].data, "Event"), "BlackoutExited")) bx = i;
    REQUIRE(bx >= 0);
    const hj_value *details = hj_get(p.dst_ev.ev[bx].data, "AdditionalDetails");
    CHECK(hj_get(details, "BlackoutDurationMilliseconds") &&
          hj_get(details, "BlackoutStopTimestamp"));
    CHECK(!strcmp(tn_str(p.dst_ev.ev[bx].data, "Origin"), "Destination"));
    /* lifecycle: the source paused for the blackout, then stopped; the destination paused
     * with the state received, then ran */
    int paused = 0, stopped = 0;
    for (int i = 0; i < p.src_ev.n; i++)
        if (p.src_ev.ev[i].type == HcsEventGroupVmLifecycle) {
            paused += !strcmp(tn_str(p.src_ev.ev[i].data, "State"), "Paused");
            stopped += !strcmp(tn_str(p.src_ev.ev[i].data, "State"), "Stopped");
        }
    CHECK(paused == 1 && stopped == 1);
    /* the destination runs processes like any system */
    HCS_PROCESS proc;
    HCS_PROCESS_INFORMATION pi;
    CHECK_HR(S_OK, tc_spawn(p.dst, "{\"CommandArgs\":[" TP_ARGS_TRUE "]}", &proc, &pi));
    tc_close_pi(&pi);
    HcsCloseProcess(proc);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, p.dst, NULL, NULL));
    tn_free(&src_op);
    tn_free(&dst_op);
    pair_close(&p);
}

TEST(newer_migration_wrong_order_and_arguments) {
    HcsimReset();
    pair p;
    REQUIRE(pair_open(&p, "lm-order", 0));
    plat_fd sv[2];
    REQUIRE(socket_pair(sv));
    /* nothing started yet */
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsStartLiveMigrationOnSource, p.src, NULL, sv[0]));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsStartLiveMigrationTransfer, p.src, NULL, -1));
    CHECK_HR(HCS_E_INVALID_STATE,
             run(HcsFinalizeLiveMigration, p.src, "{\"FinalizedOperation\":\"Stop\"}", -1));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsCancelLiveMigration, p.src, NULL, -1));
    /* arguments */
    CHECK_HR(HCS_E_INVALID_JSON, run(HcsInitializeLiveMigrationOnSource, p.src, "{", -1));
    CHECK_HR(E_INVALIDARG,
             run(HcsInitializeLiveMigrationOnSource, p.src, "{\"Origin\":\"Sideways\"}", -1));
    CHECK_HR(E_INVALIDARG,
             run(HcsInitializeLiveMigrationOnSource, p.src, "{\"MemoryTransport\":\"RDMA\"}", -1));
    CHECK_HR(HCS_E_INVALID_STATE, /* the source side of a migration is initialized */
             run(HcsInitializeLiveMigrationOnSource, p.src, "{\"Origin\":\"Destination\"}", -1));
    CHECK_HR(HCS_E_INVALID_STATE, /* only a running VM */
             run(HcsInitializeLiveMigrationOnSource, p.dst, NULL, -1));
    HCS_SYSTEM ct;
    REQUIRE(tc_create("lm-order-ct", MIG_CT, 1, &ct) == S_OK);
    CHECK_HR(HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION,
             run(HcsInitializeLiveMigrationOnSource, ct, NULL, -1));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, ct, NULL, NULL));
    CHECK_HR(HCS_E_SYSTEM_ALREADY_STOPPED, run(HcsInitializeLiveMigrationOnSource, ct, NULL, -1));
    HcsCloseComputeSystem(ct);
    /* the source side, step by step, with the wrong steps in between */
    CHECK_HR(S_OK, run(HcsInitializeLiveMigrationOnSource, p.src, "", -1));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsInitializeLiveMigrationOnSource, p.src, NULL, -1));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsStartLiveMigrationTransfer, p.src, NULL, -1));
    CHECK_HR(E_INVALIDARG, run(HcsStartLiveMigrationOnSource, p.src, NULL, -1)); /* no socket */
    CHECK_HR(E_INVALIDARG, run(HcsStartLiveMigrationOnSource, p.src,
                               "{\"NetworkSettings\":{\"SessionId\":-1}}", sv[0]));
    CHECK_HR(S_OK, start_source(p.src, 9, sv[0]));
    CHECK_HR(HCS_E_INVALID_STATE, start_source(p.src, 9, sv[0]));
    CHECK_HR(HCS_E_INVALID_STATE, /* not transferred yet */
             run(HcsFinalizeLiveMigration, p.src, "{\"FinalizedOperation\":\"Stop\"}", -1));
    CHECK_HR(HCS_E_INVALID_STATE, /* wrong origin */
             run(HcsStartLiveMigrationTransfer, p.src, "{\"Origin\":\"Destination\"}", -1));
    /* the destination: a socket is needed; a plain Start is refused once it migrates */
    CHECK_HR(E_INVALIDARG, start_destination(p.dst, 9, -1));
    CHECK_HR(S_OK, start_destination(p.dst, 9, sv[1]));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsStartComputeSystem, p.dst, NULL, -1));
    CHECK_HR(HCS_E_INVALID_STATE,
             run(HcsStartLiveMigrationTransfer, p.dst, "{\"Origin\":\"Source\"}", -1));
    close_pair(sv);
    HRESULT a, b;
    transfer_both(&p, NULL, NULL, &a, &b);
    CHECK_HR(S_OK, a);
    CHECK_HR(S_OK, b);
    CHECK_HR(E_INVALIDARG, run(HcsFinalizeLiveMigration, p.src, NULL, -1)); /* says nothing */
    CHECK_HR(E_INVALIDARG,
             run(HcsFinalizeLiveMigration, p.src, "{\"FinalizedOperation\":\"Pause\"}", -1));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsFinalizeLiveMigration, p.src,
                                      "{\"Origin\":\"Destination\",\"FinalizedOperation\":"
                                      "\"Stop\"}",
                                      -1));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsStartLiveMigrationTransfer, p.src, NULL, -1)); /* twice */
    /* the source resumes instead (the migration is given up on that side) */
    CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.src, "{\"FinalizedOperation\":\"Resume\"}", -1));
    CHECK(state_is(p.src, "Running"));
    CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.dst, "{\"FinalizedOperation\":\"Stop\"}", -1));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.dst, 10000, NULL));
    pair_close(&p);
}

TEST(newer_migration_cancel_before_transfer) {
    HcsimReset();
    pair p;
    REQUIRE(pair_open(&p, "lm-cancel-early", 0));
    /* after Initialize: the source runs on */
    CHECK_HR(S_OK, run(HcsInitializeLiveMigrationOnSource, p.src, NULL, -1));
    CHECK_HR(S_OK, run(HcsCancelLiveMigration, p.src, "{\"Origin\":\"Source\"}", -1));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsCancelLiveMigration, p.src, NULL, -1)); /* over */
    CHECK(state_is(p.src, "Running"));
    /* after Start on both sides: the source runs on, the destination is torn down */
    plat_fd sv[2];
    REQUIRE(socket_pair(sv));
    CHECK_HR(S_OK, run(HcsInitializeLiveMigrationOnSource, p.src, NULL, -1));
    CHECK_HR(S_OK, start_source(p.src, 1, sv[0]));
    CHECK_HR(S_OK, start_destination(p.dst, 1, sv[1]));
    close_pair(sv);
    CHECK_HR(HCS_E_INVALID_STATE, /* wrong origin */
             run(HcsCancelLiveMigration, p.dst, "{\"Origin\":\"Source\"}", -1));
    CHECK_HR(S_OK, run(HcsCancelLiveMigration, p.dst, "{\"Origin\":\"Destination\"}", -1));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.dst, 10000, NULL));
    /* the source's transfer finds the other side gone */
    CHECK_HR(HCS_E_CONNECTION_CLOSED, run(HcsStartLiveMigrationTransfer, p.src, NULL, -1));
    CHECK(state_is(p.src, "Running"));
    char ev[512];
    CHECK(wait_migration_event(&p.src_ev, "DestinationMigrationFailed"));
    migration_events(&p.src_ev, ev, sizeof ev);
    CHECK(!strcmp(ev, "MigrationFailed:MigrationCancelled,SetupDone,TransferInProgress,"
                      "MigrationFailed:DestinationMigrationFailed"));
    if (strcmp(ev, "MigrationFailed:MigrationCancelled,SetupDone,TransferInProgress,"
                   "MigrationFailed:DestinationMigrationFailed"))
        fprintf(stderr, "  source events: %s\n", ev);
    pair_close(&p);
}

TEST(newer_migration_cancel_during_and_after_transfer) {
    HcsimReset();
    pair p;
    REQUIRE(pair_open(&p, "lm-cancel-late", 1));
    /* the source transfers alone: it waits for the destination's acknowledgement */
    HRESULT hr;
    HCS_OPERATION x = begin(HcsStartLiveMigrationTransfer, p.src, NULL, -1, NULL, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(wait_migration_event(&p.src_ev, "TransferInProgress")); /* it runs */
    tc_sleep_ms(20);
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(x, NULL));
    CHECK_HR(S_OK, run(HcsCancelLiveMigration, p.src, NULL, -1)); /* reaches it */
    CHECK_HR(HR_CANCELLED, tc_wait(x, NULL));
    HcsCloseOperation(x);
    CHECK(state_is(p.src, "Running")); /* resumed after the blackout */
    /* the destination got part of the state, then the end of the connection */
    CHECK_HR(HCS_E_CONNECTION_CLOSED, run(HcsStartLiveMigrationTransfer, p.dst, NULL, -1));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.dst, 10000, NULL));
    HcsCloseComputeSystem(p.dst);
    /* after a complete transfer both sides passed their commit: a cancel is refused on
     * either side; Finalize decides */
    CHECK_HR(S_OK, tc_create("lm-cancel-late-dst2", MIG_VM, 0, &p.dst));
    plat_fd sv[2];
    REQUIRE(socket_pair(sv));
    CHECK_HR(S_OK, run(HcsInitializeLiveMigrationOnSource, p.src, NULL, -1));
    CHECK_HR(S_OK, start_source(p.src, 3, sv[0]));
    CHECK_HR(S_OK, start_destination(p.dst, 3, sv[1]));
    close_pair(sv);
    HRESULT a, b;
    transfer_both(&p, NULL, NULL, &a, &b);
    CHECK_HR(S_OK, a);
    CHECK_HR(S_OK, b);
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsCancelLiveMigration, p.src, NULL, -1));
    CHECK_HR(HCS_E_INVALID_STATE, run(HcsCancelLiveMigration, p.dst, NULL, -1));
    CHECK(state_is(p.src, "Paused"));
    CHECK(state_is(p.dst, "Paused"));
    CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.src, "{\"FinalizedOperation\":\"Resume\"}", -1));
    CHECK(state_is(p.src, "Running"));
    CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.dst, "{\"FinalizedOperation\":\"Stop\"}", -1));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.dst, 10000, NULL));
    pair_close(&p);
}

TEST(newer_migration_session_mismatch_and_system_exit) {
    HcsimReset();
    pair p;
    REQUIRE(pair_open(&p, "lm-mismatch", 0));
    plat_fd sv[2];
    REQUIRE(socket_pair(sv));
    CHECK_HR(S_OK, run(HcsInitializeLiveMigrationOnSource, p.src, NULL, -1));
    CHECK_HR(S_OK, start_source(p.src, 5, sv[0]));
    CHECK_HR(S_OK, start_destination(p.dst, 6, sv[1])); /* another session */
    close_pair(sv);
    HRESULT a, b;
    transfer_both(&p, NULL, NULL, &a, &b);
    CHECK_HR(HCS_E_CONNECTION_CLOSED, a);
    CHECK_HR(HCS_E_PROTOCOL_ERROR, b);
    CHECK(state_is(p.src, "Running"));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.dst, 10000, NULL));
    /* a source that stops ends its migration: a transfer in progress fails */
    REQUIRE(socket_pair(sv));
    CHECK_HR(S_OK, run(HcsInitializeLiveMigrationOnSource, p.src, NULL, -1));
    CHECK_HR(S_OK, start_source(p.src, 5, sv[0]));
    HRESULT hr;
    HCS_OPERATION x = begin(HcsStartLiveMigrationTransfer, p.src, NULL, -1, NULL, &hr);
    tc_sleep_ms(30);
    char16_t *id = tc_w("lm-mismatch-src");
    CHECK_HR(S_OK, HcsimCrashSystem(NULL, id));
    free(id);
    CHECK_HR(HCS_E_SYSTEM_ALREADY_STOPPED, tc_wait(x, NULL));
    HcsCloseOperation(x);
    close_pair(sv);
    pair_close(&p);
}

TEST(newer_events_need_their_options) {
    HcsimReset();
    HCS_SYSTEM vm, ct;
    REQUIRE(tc_create("ev-vm", MIG_VM, 0, &vm) == S_OK);
    REQUIRE(tc_create("ev-ct", MIG_CT, 0, &ct) == S_OK);
    tn_rec lifecycle, plain, cts;
    tn_init(&lifecycle);
    tn_init(&plain);
    tn_init(&cts);
    HCS_SYSTEM vm2;
    char16_t *id = tc_w("ev-vm");
    REQUIRE(HcsOpenComputeSystem(id, GENERIC_ALL, &vm2) == S_OK);
    free(id);
    CHECK_HR(S_OK,
             HcsSetComputeSystemCallback(vm, HcsEventOptionEnableVmLifecycle, &lifecycle, tn_cb));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(vm2, HcsEventOptionEnableLiveMigrationEvents, &plain,
                                               tn_cb));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(ct, HcsEventOptionEnableVmLifecycle, &cts, tn_cb));
    CHECK_HR(S_OK, tc_call(HcsStartComputeSystem, vm, "", NULL));
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, vm, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsResumeComputeSystem, vm, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, vm, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsStartComputeSystem, ct, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, ct, NULL, NULL));
    CHECK(tn_wait(&lifecycle, HcsEventSystemExited, 1));
    CHECK(tn_wait(&plain, HcsEventSystemExited, 1));
    CHECK(tn_wait(&cts, HcsEventSystemExited, 1));
    const char *want[] = {"Running", "Paused", "Running", "Stopped"};
    REQUIRE(tn_count(&lifecycle, HcsEventGroupVmLifecycle) == 4);
    for (int k = 0; k < 4; k++) {
        int i = tn_find(&lifecycle, HcsEventGroupVmLifecycle, k);
        CHECK(!strcmp(tn_str(lifecycle.ev[i].data, "State"), want[k]));
        CHECK(lifecycle.ev[i].op == NULL);
    }
    /* the lifecycle event of the exit comes before SystemExited */
    CHECK(tn_find(&lifecycle, HcsEventGroupVmLifecycle, 3) <
          tn_find(&lifecycle, HcsEventSystemExited, 0));
    CHECK(tn_count(&plain, HcsEventGroupVmLifecycle) == 0); /* not asked for */
    CHECK(tn_count(&cts, HcsEventGroupVmLifecycle) == 0);   /* containers have none */
    HcsCloseComputeSystem(vm);
    HcsCloseComputeSystem(vm2);
    HcsCloseComputeSystem(ct);
    CHECK(tc_counts_zero());
    tn_free(&lifecycle);
    tn_free(&plain);
    tn_free(&cts);
}

/* On the default (realistic) latency profile the migration steps take their figures
 * (README "Latency profiles"), so an operation made with progress updates gets its
 * quarters (25, 50, 75 %) before it completes; the transfer reports its bytes. */
static void step_with_progress(sys_call fn, HCS_SYSTEM s, const char *opts, plat_fd fd,
                               unsigned min_ms) {
    tn_rec rec;
    tn_init(&rec);
    HRESULT hr;
    uint64_t t0 = tc_now_ms();
    HCS_OPERATION op = begin(fn, s, opts, fd, &rec, &hr);
    CHECK_HR(S_OK, hr);
    CHECK_HR(S_OK, tc_wait(op, NULL));
    CHECK(tc_now_ms() - t0 >= min_ms);
    CHECK(tn_wait(&rec, HcsEventOperationCallback, 1));
    CHECK(tn_count(&rec, HcsEventGroupOperationInfo) >= 3);
    uint64_t last = 0;
    for (int k = 0; k < tn_count(&rec, HcsEventGroupOperationInfo); k++) {
        int i = tn_find(&rec, HcsEventGroupOperationInfo, k);
        uint64_t pct = 0;
        CHECK(hj_uint64(hj_get(hj_get(rec.ev[i].data, "Progress"), "PercentComplete"), &pct));
        CHECK(pct > last); /* in order, never twice */
        last = pct;
    }
    HcsCloseOperation(op);
    tn_free(&rec);
}

TEST(newer_migration_steps_take_realistic_time) {
    HcsimReset();
    CHECK_HR(S_OK, HcsimSetOption("LatencyProfile", 1)); /* realistic, until the reset */
    pair p;
    REQUIRE(pair_open(&p, "lm-latency", 0));
    plat_fd sv[2];
    REQUIRE(socket_pair(sv));
    step_with_progress(HcsInitializeLiveMigrationOnSource, p.src, NULL, -1, 20);
    step_with_progress(HcsStartLiveMigrationOnSource, p.src, NULL, sv[0], 50);
    CHECK_HR(S_OK, start_destination(p.dst, 0, sv[1]));
    close_pair(sv);
    tn_rec src_op, dst_op;
    tn_init(&src_op);
    tn_init(&dst_op);
    HRESULT a, b;
    transfer_both(&p, &src_op, &dst_op, &a, &b);
    CHECK_HR(S_OK, a);
    CHECK_HR(S_OK, b);
    CHECK(tn_count(&src_op, HcsEventGroupOperationInfo) == 4); /* its bytes: 25..100 % */
    tn_free(&src_op);
    tn_free(&dst_op);
    step_with_progress(HcsFinalizeLiveMigration, p.src, "{\"FinalizedOperation\":\"Resume\"}", -1,
                       20);
    CHECK(state_is(p.src, "Running"));
    step_with_progress(HcsFinalizeLiveMigration, p.dst, "{\"FinalizedOperation\":\"Stop\"}", -1,
                       20);
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.dst, 10000, NULL));
    pair_close(&p);
}

/* ---- a cancel that races the end of a transfer ------------------------------------- */
/* Moves len bytes over the test's own end of a migration socket; 1 when all moved. */
static int peer_io(plat_fd fd, void *buf, size_t len, int sending) {
    size_t done = 0;
    uint64_t until = tc_now_ms() + 10000;
    while (done < len && tc_now_ms() < until) {
        long n = plat_sock_io(fd, (char *)buf + done, len - done, sending, 10);
        if (n < 0) return 0;
        done += (size_t)n;
    }
    return done == len;
}

/* Reads what a source sends up to its wait for the acknowledgement: the header (magic,
 * session, document length, image length: 8 + 4 x 3 bytes, little-endian), the document
 * and the image. 1 when it all came. */
static int peer_take_state(plat_fd fd) {
    unsigned char head[20];
    if (!peer_io(fd, head, sizeof head, 0)) return 0;
    size_t rest = 0;
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 4; b++) rest += (size_t)head[12 + 4 * k + b] << (8 * b);
    char *buf = malloc(rest ? rest : 1);
    int ok = buf && peer_io(fd, buf, rest, 0);
    free(buf);
    return ok;
}

/* Sends what a source sends before it waits for the acknowledgement (hcsim's format, as
 * migration.c writes it): the header, a state document and an image of image_len bytes in
 * the pattern the destination checks. 1 when it all went. */
static int peer_send_state(plat_fd fd, uint32_t session, uint32_t image_len) {
    static const char doc[] = "{\"RuntimeOsType\":\"Linux\",\"MemorySizeInMB\":1,"
                              "\"ProcessorCount\":1,\"GuestConnection\":true}";
    unsigned char head[20];
    uint32_t fields[3] = {session, (uint32_t)(sizeof doc - 1), image_len};
    memcpy(head, "HCSIMLM1", 8);
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 4; b++) head[8 + 4 * k + b] = (unsigned char)(fields[k] >> (8 * b));
    unsigned char *image = malloc(image_len ? image_len : 1);
    if (!image) return 0;
    for (uint32_t i = 0; i < image_len; i++)
        image[i] = (unsigned char)((i * 31u + session) & 0xFFu);
    int ok = peer_io(fd, head, sizeof head, 1) && peer_io(fd, (void *)doc, sizeof doc - 1, 1) &&
             peer_io(fd, image, image_len, 1);
    free(image);
    return ok;
}

static void spin_us(unsigned us) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((uint64_t)(b.tv_sec - a.tv_sec) * 1000000u + (uint64_t)(b.tv_nsec - a.tv_nsec) / 1000u <
           us);
}

/* The source's cancel comes as its transfer ends: the test plays the destination,
 * acknowledges, and cancels a few microseconds later, so the cancel lands before or after
 * the source's commit point (several of each over the runs). Before it, the cancel wins:
 * S_OK, the transfer fails as cancelled, no commit crosses, the source runs. After it, the
 * cancel is refused (HCS_E_INVALID_STATE), the commit crosses and the transfer completes;
 * Finalize decides. Never a cancel that returned S_OK with a commit sent (the destination
 * would run the VM too), never a paused source without a migration to finalize. */
TEST(newer_migration_cancel_races_the_commit) {
    HcsimReset();
    HCS_SYSTEM src;
    REQUIRE(tc_create("lm-commit-race", MIG_VM, 1, &src) == S_OK);
    int runs = 150, won = 0, refused = 0;
    for (int i = 0; i < runs; i++) {
        plat_fd sv[2];
        REQUIRE(socket_pair(sv));
        REQUIRE(run(HcsInitializeLiveMigrationOnSource, src, NULL, -1) == S_OK);
        REQUIRE(start_source(src, 11, sv[0]) == S_OK);
        plat_sock_close(sv[0]);
        HRESULT hr;
        HCS_OPERATION x = begin(HcsStartLiveMigrationTransfer, src, NULL, -1, NULL, &hr);
        REQUIRE(hr == S_OK);
        REQUIRE(peer_take_state(sv[1]));
        unsigned char ack = 'K', commit = 0;
        REQUIRE(peer_io(sv[1], &ack, 1, 1));
        spin_us((unsigned)(i % 30));
        HRESULT cancel = run(HcsCancelLiveMigration, src, NULL, -1);
        HRESULT transfer = tc_wait(x, NULL);
        HcsCloseOperation(x);
        int committed = peer_io(sv[1], &commit, 1, 0) && commit == 'F';
        plat_sock_close(sv[1]);
        if (cancel == S_OK) {
            won++;
            CHECK_HR(HR_CANCELLED, transfer);
            CHECK(!committed);
            CHECK(state_is(src, "Running"));
            CHECK_HR(HCS_E_INVALID_STATE, run(HcsCancelLiveMigration, src, NULL, -1));
        } else {
            refused++;
            CHECK_HR(HCS_E_INVALID_STATE, cancel);
            CHECK_HR(S_OK, transfer);
            CHECK(committed);
            CHECK_HR(S_OK,
                     run(HcsFinalizeLiveMigration, src, "{\"FinalizedOperation\":\"Resume\"}", -1));
        }
        if (harness_failed_current()) {
            fprintf(stderr, "  run %d: cancel 0x%08x, transfer 0x%08x, commit %d\n", i,
                    (unsigned)cancel, (unsigned)transfer, committed);
            break;
        }
    }
    printf("  %d runs: the cancel stopped the transfer %d times, was refused (too late) %d\n", runs,
           won, refused);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, src, NULL, NULL));
    HcsCloseComputeSystem(src);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* The destination's cancel comes as it is about to acknowledge: the test plays the source,
 * sends the whole state, cancels the destination a few microseconds later and then reads.
 * The destination's commit point is its acknowledgement: a cancel before it wins (no
 * acknowledgement ever comes, the destination is torn down); after it the cancel is refused
 * and the destination waits for the source's word: the commit (its transfer completes, it
 * holds the state) or the end of the connection (it is torn down). */
TEST(newer_migration_destination_cancel_races_its_acknowledgement) {
    HcsimReset();
    int runs = 120, won = 0, refused = 0;
    for (int i = 0; i < runs; i++) {
        HCS_SYSTEM dst;
        char name[40];
        snprintf(name, sizeof name, "lm-ack-race-%d", i);
        REQUIRE(tc_create(name, MIG_VM, 0, &dst) == S_OK);
        plat_fd sv[2];
        REQUIRE(socket_pair(sv));
        REQUIRE(start_destination(dst, 5, sv[1]) == S_OK);
        plat_sock_close(sv[1]);
        HRESULT hr;
        HCS_OPERATION y = begin(HcsStartLiveMigrationTransfer, dst, NULL, -1, NULL, &hr);
        REQUIRE(hr == S_OK);
        REQUIRE(peer_send_state(sv[0], 5, 64));
        spin_us((unsigned)(i % 40) * 5);
        HRESULT cancel = run(HcsCancelLiveMigration, dst, NULL, -1);
        unsigned char ack = 0, commit = 'F';
        int acked = peer_io(sv[0], &ack, 1, 0) && ack == 'K';
        int send_commit = i % 3 != 0; /* else the "source" gives up after the acknowledgement */
        if (acked && send_commit) REQUIRE(peer_io(sv[0], &commit, 1, 1));
        plat_sock_shutdown(sv[0]);
        HRESULT transfer = tc_wait(y, NULL);
        HcsCloseOperation(y);
        if (cancel == S_OK) {
            won++;
            CHECK(!acked);
            /* (stopped while it ran; or the cancel came before the transfer's work began,
             * which then found the destination gone) */
            CHECK(transfer == HR_CANCELLED || transfer == HCS_E_SYSTEM_ALREADY_STOPPED ||
                  transfer == HCS_E_INVALID_STATE);
        } else {
            refused++;
            CHECK_HR(HCS_E_INVALID_STATE, cancel);
            CHECK(acked);
            CHECK_HR(send_commit ? S_OK : HCS_E_CONNECTION_CLOSED, transfer);
        }
        if (transfer == S_OK) {
            CHECK(state_is(dst, "Paused")); /* it holds the state until Finalize */
            CHECK_HR(S_OK,
                     run(HcsFinalizeLiveMigration, dst, "{\"FinalizedOperation\":\"Stop\"}", -1));
        }
        CHECK_HR(S_OK, HcsWaitForComputeSystemExit(dst, 10000, NULL));
        HcsCloseComputeSystem(dst);
        plat_sock_close(sv[0]);
        if (harness_failed_current()) {
            fprintf(stderr, "  run %d: cancel 0x%08x, acked %d, transfer 0x%08x\n", i,
                    (unsigned)cancel, acked, (unsigned)transfer);
            break;
        }
    }
    printf("  %d runs: the cancel stopped the destination %d times, was refused (too late) %d\n",
           runs, won, refused);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* Both sides transfer; the source is cancelled at a random moment 0-5 ms after its
 * transfer started (before it, during it, after it). HCSIM_MIGRATION_STRESS=n runs it n
 * times (default 25); the outcomes are counted. Whatever the moment: a cancel that
 * returned S_OK left the source running without a migration, or (refused) the transfer
 * completed and Finalize(Resume) runs the source again; the destination either has the
 * state (its transfer completed: Finalize(Stop) tears it down) or was torn down. */
TEST(newer_migration_cancel_stress) {
    const char *env = getenv("HCSIM_MIGRATION_STRESS");
    int runs = env && atoi(env) > 0 ? atoi(env) : 25;
    int cancel_ok = 0, cancel_refused = 0, before = 0, stopped = 0, completed = 0, dst_kept = 0;
    uint64_t rng = 0x5eed;
    for (int i = 0; i < runs; i++) {
        HcsimReset();
        pair p;
        char name[32];
        snprintf(name, sizeof name, "lm-stress-%d", i);
        REQUIRE(pair_open(&p, name, 1));
        HRESULT a, b;
        HCS_OPERATION x =
            begin(HcsStartLiveMigrationTransfer, p.src, "{\"Origin\":\"Source\"}", -1, NULL, &a);
        HCS_OPERATION y = begin(HcsStartLiveMigrationTransfer, p.dst,
                                "{\"Origin\":\"Destination\"}", -1, NULL, &b);
        REQUIRE(a == S_OK && b == S_OK);
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned us = (unsigned)((rng >> 33) % 5001u);
        spin_us(us);
        HRESULT c = run(HcsCancelLiveMigration, p.src, "{\"Origin\":\"Source\"}", -1);
        a = tc_wait(x, NULL);
        b = tc_wait(y, NULL);
        HcsCloseOperation(x);
        HcsCloseOperation(y);
        /* the VM on exactly one side: the destination has the state iff the source
         * committed */
        CHECK((a == S_OK) == (b == S_OK));
        if (c == S_OK) {
            cancel_ok++;
            /* (INVALID_STATE: it came before the transfer began, which then found no
             * migration) */
            CHECK(a == HCS_E_INVALID_STATE || a == HR_CANCELLED);
            before += a == HCS_E_INVALID_STATE;
            stopped += a == HR_CANCELLED;
            CHECK_HR(HCS_E_INVALID_STATE,
                     run(HcsCancelLiveMigration, p.src, "{\"Origin\":\"Source\"}", -1));
        } else {
            cancel_refused++;
            CHECK_HR(S_OK, a);
            completed++;
            CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.src,
                               "{\"Origin\":\"Source\",\"FinalizedOperation\":\"Resume\"}", -1));
        }
        CHECK(state_is(p.src, "Running"));
        if (b == S_OK) { /* the destination got the state: it waits for its Finalize */
            dst_kept++;
            CHECK(state_is(p.dst, "Paused"));
            CHECK_HR(S_OK, run(HcsFinalizeLiveMigration, p.dst,
                               "{\"Origin\":\"Destination\",\"FinalizedOperation\":\"Stop\"}", -1));
        }
        CHECK_HR(S_OK, HcsWaitForComputeSystemExit(p.dst, 10000, NULL));
        if (harness_failed_current())
            fprintf(stderr, "  run %d (%u us): cancel 0x%08x, transfers 0x%08x 0x%08x\n", i, us,
                    (unsigned)c, (unsigned)a, (unsigned)b);
        pair_close(&p);
        if (harness_failed_current()) break;
    }
    printf("  %d runs: cancel S_OK %d (before the transfer %d, transfer stopped %d), refused "
           "%d (transfers completed %d); destination kept the state %d\n",
           runs, cancel_ok, before, stopped, cancel_refused, completed, dst_kept);
}
