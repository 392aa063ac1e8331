/* hcsim live migration between two compute systems of the emulated host, in the sequence
 * microsoft/hcsshim's computecore client uses (README: "Live migration"):
 *   source:      Initialize -> StartOnSource (socket resource) -> Transfer -> Finalize(Stop)
 *   destination: Create (same configuration) -> Start with DestinationMigrationOptions
 *                (socket resource) -> Transfer -> Finalize(Resume)
 * The source's state crosses the socket pair (a header, the state document, a memory
 * image; the destination checks it and acknowledges, the source commits). Cancel works
 * at any step. Events:
 * HcsEventGroupLiveMigration with OperationSystemMigrationNotificationInfo payloads. */
#include "hcsim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_CANCELLED_HR HRESULT_FROM_WIN32(1223u) /* ERROR_CANCELLED */
#define MIG_MAGIC          "HCSIMLM1"
#define MIG_HEADER         20u      /* magic, session, document length, image length */
#define MIG_MAX_DOC        1048576u /* limits a destination accepts */
#define MIG_MAX_IMAGE      4194304u
#define MIG_IDLE_MS        30000u /* no byte moved for this long: the connection timed out */
#define MIG_SLICE_MS       10u    /* how often a transfer looks for a cancel */

typedef enum { MR_SOURCE = 1, MR_DESTINATION = 2 } mig_role;
typedef enum { MP_INITIALIZED = 1, MP_STARTED = 2, MP_TRANSFERRED = 4 } mig_phase;

struct hc_mig {
    mig_role role;
    mig_phase phase;
    plat_fd sock;
    uint32_t session;
    int transferring; /* a Transfer runs: it ends the migration if it is cancelled/aborted */
    int cancelled;    /* HcsCancelLiveMigration asked */
    int committed;    /* past this side's point of no return: a cancel is refused */
    int aborted;      /* the system stopped */
    uint64_t blackout_ms;
    /* progress of a transfer, in bytes */
    uint64_t moved, total;
    uint32_t reported; /* last PercentComplete reported */
};

static const char *role_name(mig_role r) { return r == MR_SOURCE ? "Source" : "Destination"; }

static void mig_free(hc_mig *m) {
    if (!m) return;
    plat_sock_shutdown(m->sock); /* the other side sees the end, whoever else holds it */
    plat_sock_close(m->sock);
    free(m);
}

/* Under lock: HcsEventGroupLiveMigration to the system's handles (result/details optional). */
static void mig_event(hc_system *s, mig_role role, const char *event, const char *result,
                      hj_value *details) {
    hj_value *d = hj_new_object();
    hj_set(d, "Origin", hj_new_string(role_name(role)));
    hj_set(d, "Event", hj_new_string(event));
    if (result) hj_set(d, "Result", hj_new_string(result));
    if (details) hj_set(d, "AdditionalDetails", details);
    hc_event_list_json(s->handles, HcsEventGroupLiveMigration, d);
    hj_free(d);
}

/* Under lock: ends s's migration that did not complete (event MigrationFailed with result):
 * a source runs on (resumed if the blackout had paused it), a destination is torn down. */
static void mig_abandon(hc_system *s, hc_op *except, const char *result) {
    hc_mig *m = s->mig;
    s->mig = NULL;
    mig_event(s, m->role, "MigrationFailed", result, NULL);
    if (m->role == MR_SOURCE && s->state == SS_PAUSED) {
        hc_sys_set_state(s, SS_RUNNING);
        hc_proc_kill_all(s, PLAT_SIGCONT);
    } else if (m->role == MR_DESTINATION) {
        hc_sys_exit(s, except, "ForcedExit", S_OK, "Terminate", "Internal", 0);
    }
    mig_free(m);
}

void hc_mig_end(hc_system *s) {
    hc_mig *m = s->mig;
    if (!m) return;
    m->aborted = 1;
    if (m->transferring) return; /* the transfer sees it and frees the state */
    s->mig = NULL;
    mig_free(m);
}

/* ---- options and gates -------------------------------------------------------------- */
/* The options document (NULL when none) as an object, or HCS_E_INVALID_JSON. */
static HRESULT mig_options(hc_work *w) {
    if (!w->raw) return S_OK;
    w->args = hj_parse_utf16(w->raw);
    return w->args && hj_typeof(w->args) == HJ_OBJECT ? S_OK : HCS_E_INVALID_JSON;
}

/* A member that, when present, must be a string among values (E_INVALIDARG otherwise);
 * *index is its position, or -1 when absent. */
static HRESULT member_choice(const hj_value *o, const char *key, const char *const *values,
                             int *index) {
    *index = -1;
    const hj_value *v = hj_get(o, key);
    if (!v) return S_OK;
    const char *s = hj_str(v, NULL);
    for (int i = 0; s && values[i]; i++)
        if (!strcmp(s, values[i])) {
            *index = i;
            return S_OK;
        }
    return E_INVALIDARG;
}

static HRESULT origin_of(const hj_value *o, int *origin) {
    static const char *const origins[] = {"Source", "Destination", NULL};
    int i;
    HRESULT hr = member_choice(o, "Origin", origins, &i);
    *origin = i < 0 ? 0 : i + 1;
    return hr;
}

/* Under lock: s is a live VM whose migration plays `role` (0: any) in one of the phases
 * (0: no migration may exist), and origin (0: not given) names that role. */
static HRESULT mig_gate(hc_system *s, int role, unsigned phases, int origin) {
    if (s->state == SS_FAILED || s->state == SS_CREATING) return HCS_E_SYSTEM_NOT_FOUND;
    if (s->state == SS_STOPPED) return HCS_E_SYSTEM_ALREADY_STOPPED;
    if (!s->is_vm) return HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION;
    if (!phases) return s->mig ? HCS_E_INVALID_STATE : S_OK;
    hc_mig *m = s->mig;
    if (!m || (role && (int)m->role != role) || !(phases & m->phase)) return HCS_E_INVALID_STATE;
    if (origin && origin != (int)m->role) return HCS_E_INVALID_STATE;
    return S_OK;
}

/* Under lock: a new migration of s with the (connected) socket resource of w's operation. */
static HRESULT mig_begin(hc_work *w, mig_role role, uint32_t session) {
    plat_fd sock = hc_op_socket(w->op, HC_MIGRATION_SOCKET_URI);
    if (sock == PLAT_NO_FD) return E_INVALIDARG;
    /* a listening or unconnected socket is refused at the step that takes it, rather
     * than the transfer waiting MIG_IDLE_MS for a peer */
    if (!plat_sock_connected(sock)) {
        plat_sock_close(sock);
        return E_INVALIDARG;
    }
    hc_mig *m = calloc(1, sizeof *m);
    if (!m) {
        plat_sock_close(sock);
        return E_OUTOFMEMORY;
    }
    m->role = role;
    m->phase = MP_STARTED;
    m->sock = sock;
    m->session = session;
    w->sys->mig = m;
    mig_event(w->sys, role, "SetupDone", NULL, NULL);
    return S_OK;
}

static hj_value *no_socket_error(HRESULT hr) {
    if (hr != E_INVALIDARG) return NULL;
    return hc_result_error(
        hr, "The operation has no connected socket resource '" HC_MIGRATION_SOCKET_URI
            "' (HcsAddResourceToOperation).");
}

/* MigrationStartOptions.NetworkSettings.SessionId (0 when absent), or E_INVALIDARG. */
static HRESULT session_of(const hj_value *start_options, uint32_t *session) {
    *session = 0;
    const hj_value *id = hj_get(hj_get(start_options, "NetworkSettings"), "SessionId");
    uint64_t v = 0;
    if (!id) return S_OK;
    if (!hj_uint64(id, &v) || v > UINT32_MAX) return E_INVALIDARG;
    *session = (uint32_t)v;
    return S_OK;
}

/* ---- source: Initialize and Start ---------------------------------------------------- */
static hj_value *work_initialize(hc_work *w, HRESULT *hr) {
    static const char *const transports[] = {"TCP", NULL};
    int origin = 0, transport;
    HRESULT r = mig_options(w);
    if (r == S_OK) r = origin_of(w->args, &origin);
    if (r == S_OK) r = member_choice(w->args, "MemoryTransport", transports, &transport);
    hc_lock();
    hc_system *s = w->sys;
    if (r == S_OK) r = mig_gate(s, 0, 0, 0);
    if (r == S_OK && origin == MR_DESTINATION) r = HCS_E_INVALID_STATE;
    if (r == S_OK && s->state != SS_RUNNING) r = HCS_E_INVALID_STATE;
    if (r == S_OK && !(s->mig = calloc(1, sizeof *s->mig))) r = E_OUTOFMEMORY;
    if (r == S_OK) {
        s->mig->role = MR_SOURCE;
        s->mig->phase = MP_INITIALIZED;
        s->mig->sock = PLAT_NO_FD;
    }
    hc_unlock();
    *hr = r;
    return NULL;
}

static hj_value *work_start_source(hc_work *w, HRESULT *hr) {
    uint32_t session = 0;
    HRESULT r = mig_options(w);
    if (r == S_OK) r = session_of(w->args, &session);
    hc_lock();
    if (r == S_OK) r = mig_gate(w->sys, MR_SOURCE, MP_INITIALIZED, 0);
    if (r == S_OK) {
        hc_mig *m = w->sys->mig; /* replaced by the started one */
        w->sys->mig = NULL;
        r = mig_begin(w, MR_SOURCE, session);
        if (r == S_OK)
            mig_free(m);
        else
            w->sys->mig = m;
    }
    hc_unlock();
    *hr = r;
    return no_socket_error(r);
}

hj_value *hc_mig_start_destination(hc_work *w, const hj_value *options, HRESULT *hr) {
    uint32_t session = 0;
    const hj_value *dmo = hj_get(options, "DestinationMigrationOptions");
    HRESULT r = hj_typeof(dmo) == HJ_OBJECT ? session_of(dmo, &session) : E_INVALIDARG;
    hc_lock();
    hc_system *s = w->sys;
    if (r == S_OK) r = mig_gate(s, 0, 0, 0);
    if (r == S_OK && s->state != SS_CREATED) r = HCS_E_INVALID_STATE;
    if (r == S_OK) r = mig_begin(w, MR_DESTINATION, session);
    hc_unlock();
    *hr = r;
    return no_socket_error(r);
}

/* ---- transfer ------------------------------------------------------------------------ */
/* Under lock: why the transfer of m must stop now, or S_OK. */
static HRESULT transfer_stop_reason(const hc_mig *m) {
    if (m->cancelled) return ERROR_CANCELLED_HR;
    if (G.disconnected) return HCS_E_SERVICE_DISCONNECT;
    if (m->aborted || G.drain) return HCS_E_SYSTEM_ALREADY_STOPPED;
    return S_OK;
}

/* The side's point of no return (README "Live migration", the commit): a cancel that came
 * before it wins (and the side fails as cancelled); after it a cancel is refused and the
 * migration decides. The source passes it once the destination acknowledged, just before it
 * sends its commit; the destination just before it acknowledges: it then waits for the
 * source's commit or the end of the connection, whatever its own client asks. */
static HRESULT commit_point(hc_mig *m) {
    hc_lock();
    HRESULT hr = transfer_stop_reason(m);
    if (hr == S_OK) m->committed = 1;
    hc_unlock();
    return hr;
}

/* Moves len bytes over m's socket (outside the lock), reporting progress of w's operation
 * at each quarter of the whole transfer. */
static HRESULT transfer_bytes(hc_work *w, hc_mig *m, void *buf, size_t len, int sending) {
    size_t done = 0;
    uint64_t idle_since = plat_now_ms();
    while (done < len) {
        hc_lock();
        HRESULT stop = transfer_stop_reason(m);
        hc_unlock();
        if (stop != S_OK) return stop;
        long n = plat_sock_io(m->sock, (char *)buf + done, len - done, sending, MIG_SLICE_MS);
        if (n == -1) return HCS_E_CONNECTION_CLOSED;
        if (n < 0) return HCS_E_PROTOCOL_ERROR;
        if (n == 0) {
            if (plat_now_ms() - idle_since > MIG_IDLE_MS) return HCS_E_CONNECTION_TIMEOUT;
            continue;
        }
        idle_since = plat_now_ms();
        done += (size_t)n;
        hc_lock();
        m->moved += (uint64_t)n;
        uint32_t pct = m->total ? (uint32_t)(m->moved * 100 / m->total) : 0;
        for (uint32_t q = m->reported / 25 + 1; q <= 4 && q * 25 <= pct; q++) {
            hc_opn_progress(w->op, w->gen, q * 25);
            m->reported = q * 25;
        }
        hc_unlock();
    }
    return S_OK;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The memory image a source sends: a pattern the destination checks byte for byte. */
static unsigned char image_byte(size_t i, uint32_t session) {
    return (unsigned char)((i * 31u + session) & 0xFFu);
}

/* Under lock: what crosses the socket about s. */
static hj_value *state_document(hc_system *s) {
    hj_value *d = hj_new_object();
    hj_set(d, "SourceId", hj_new_string(s->id));
    hj_set(d, "RuntimeOsType", hj_new_string(s->is_linux ? "Linux" : "Windows"));
    hj_set(d, "MemorySizeInMB", hj_new_uint(s->mem_mb));
    hj_set(d, "ProcessorCount", hj_new_uint(s->cpu_count));
    hj_set(d, "GuestConnection", hj_new_bool(s->has_guest));
    return d;
}

/* The source side: header, state document, image; blackout for the last quarter of the
 * image; then the destination's acknowledgement. */
static HRESULT send_state(hc_work *w, hc_mig *m) {
    hc_lock();
    hj_value *d = state_document(w->sys);
    uint32_t image_len =
        (uint32_t)(w->sys->mem_mb * 64u > MIG_MAX_IMAGE ? MIG_MAX_IMAGE : w->sys->mem_mb * 64u);
    hc_unlock();
    size_t doc_len = 0;
    char *doc = hj_serialize(d, &doc_len);
    hj_free(d);
    unsigned char *image = malloc(image_len ? image_len : 1);
    if (!doc || !image) {
        free(doc);
        free(image);
        return E_OUTOFMEMORY;
    }
    for (uint32_t i = 0; i < image_len; i++) image[i] = image_byte(i, m->session);
    unsigned char head[MIG_HEADER], ack = 0;
    memcpy(head, MIG_MAGIC, 8);
    put_u32(head + 8, m->session);
    put_u32(head + 12, (uint32_t)doc_len);
    put_u32(head + 16, image_len);
    hc_lock();
    m->total = MIG_HEADER + doc_len + image_len + 2; /* and the acknowledgement, the commit */
    hc_unlock();
    uint32_t live = image_len - image_len / 4; /* brownout; the rest in the blackout */
    HRESULT hr = transfer_bytes(w, m, head, MIG_HEADER, 1);
    if (hr == S_OK) hr = transfer_bytes(w, m, doc, doc_len, 1);
    if (hr == S_OK) hr = transfer_bytes(w, m, image, live, 1);
    if (hr == S_OK) {
        hc_lock();
        hc_system *s = w->sys;
        mig_event(s, MR_SOURCE, "BlackoutStarted", NULL, NULL);
        m->blackout_ms = plat_now_ms();
        if (s->state == SS_RUNNING) {
            hc_sys_set_state(s, SS_PAUSED);
            hc_proc_kill_all(s, PLAT_SIGSTOP);
        }
        hc_unlock();
        hr = transfer_bytes(w, m, image + live, image_len - live, 1);
    }
    if (hr == S_OK) hr = transfer_bytes(w, m, &ack, 1, 0);
    if (hr == S_OK && ack != 'K') hr = HCS_E_PROTOCOL_ERROR;
    if (hr == S_OK) hr = commit_point(m);
    if (hr == S_OK) { /* the commit: the destination's transfer completes on it */
        unsigned char commit = 'F';
        hr = transfer_bytes(w, m, &commit, 1, 1);
    }
    free(doc);
    free(image);
    return hr;
}

/* The destination side: receives and checks everything, applies the state, acknowledges. */
static HRESULT receive_state(hc_work *w, hc_mig *m) {
    unsigned char head[MIG_HEADER];
    hc_lock();
    m->total = MIG_HEADER + 2; /* until the header tells the rest */
    hc_unlock();
    HRESULT hr = transfer_bytes(w, m, head, MIG_HEADER, 0);
    if (hr != S_OK) return hr;
    uint32_t doc_len = get_u32(head + 12), image_len = get_u32(head + 16);
    if (memcmp(head, MIG_MAGIC, 8) || get_u32(head + 8) != m->session || doc_len > MIG_MAX_DOC ||
        image_len > MIG_MAX_IMAGE)
        return HCS_E_PROTOCOL_ERROR;
    hc_lock();
    m->total += (uint64_t)doc_len + image_len;
    hc_unlock();
    char *doc = malloc(doc_len + 1u);
    unsigned char *image = malloc(image_len ? image_len : 1);
    if (!doc || !image) hr = E_OUTOFMEMORY;
    if (hr == S_OK) hr = transfer_bytes(w, m, doc, doc_len, 0);
    if (hr == S_OK) hr = transfer_bytes(w, m, image, image_len, 0);
    for (uint32_t i = 0; hr == S_OK && i < image_len; i++)
        if (image[i] != image_byte(i, m->session)) hr = HCS_E_PROTOCOL_ERROR;
    hj_value *d = hr == S_OK ? hj_parse(doc, doc_len) : NULL;
    uint64_t mem = 0, cpus = 0;
    int guest = 0;
    if (hr == S_OK && (!hj_uint64(hj_get(d, "MemorySizeInMB"), &mem) ||
                       !hj_uint64(hj_get(d, "ProcessorCount"), &cpus) ||
                       !hj_bool(hj_get(d, "GuestConnection"), &guest) ||
                       !hj_str(hj_get(d, "RuntimeOsType"), NULL)))
        hr = HCS_E_PROTOCOL_ERROR;
    unsigned char ack = 'K', commit = 0;
    if (hr == S_OK) hr = commit_point(m);
    if (hr == S_OK) hr = transfer_bytes(w, m, &ack, 1, 1);
    /* the source's commit: without it (a cancel, a failure there) nothing is applied */
    if (hr == S_OK) hr = transfer_bytes(w, m, &commit, 1, 0);
    if (hr == S_OK && commit != 'F') hr = HCS_E_PROTOCOL_ERROR;
    if (hr == S_OK) {
        hc_lock();
        hc_system *s = w->sys;
        s->mem_mb = mem;
        s->cpu_count = (uint32_t)cpus;
        s->has_guest = guest;
        s->is_linux = !strcmp(hj_str(hj_get(d, "RuntimeOsType"), NULL), "Linux");
        hc_unlock();
    }
    hj_free(d);
    free(doc);
    free(image);
    return hr;
}

static hj_value *work_transfer(hc_work *w, HRESULT *hr) {
    int origin = 0;
    HRESULT r = mig_options(w);
    if (r == S_OK) r = origin_of(w->args, &origin);
    hc_lock();
    hc_system *s = w->sys;
    if (r == S_OK) r = mig_gate(s, 0, MP_STARTED, origin);
    hc_mig *m = r == S_OK ? s->mig : NULL;
    if (m) {
        m->transferring = 1;
        m->moved = m->total = 0;
        m->reported = 0;
        mig_event(s, m->role, "TransferInProgress", NULL, NULL);
    }
    hc_unlock();
    if (!m) {
        *hr = r;
        return NULL;
    }
    r = m->role == MR_SOURCE ? send_state(w, m) : receive_state(w, m);
    hc_lock();
    m->transferring = 0;
    /* (A transfer that completed passed its commit point: no cancel was taken after it.) */
    if (r == S_OK && !m->aborted) {
        m->phase = MP_TRANSFERRED;
        if (m->role == MR_DESTINATION) m->blackout_ms = plat_now_ms(); /* until it resumes */
        if (m->role == MR_SOURCE)
            mig_event(s, MR_SOURCE, "OfflineDone", NULL, NULL);
        else
            hc_sys_set_state(s, SS_PAUSED); /* the state is here; it runs after Finalize */
    } else if (m->aborted) {                /* the system stopped meanwhile */
        s->mig = NULL;
        mig_free(m);
        if (r == S_OK) r = HCS_E_SYSTEM_ALREADY_STOPPED;
    } else {
        const char *why = r == ERROR_CANCELLED_HR ? "MigrationCancelled"
                          : m->role == MR_SOURCE  ? "DestinationMigrationFailed"
                                                  : "SourceMigrationFailed";
        mig_abandon(s, w->op, why);
    }
    hc_unlock();
    *hr = r;
    return FAILED(r) ? hc_result_error(r, "The live migration transfer did not complete.") : NULL;
}

/* ---- finalize and cancel --------------------------------------------------------------- */
static hj_value *work_finalize(hc_work *w, HRESULT *hr) {
    static const char *const finals[] = {"Resume", "Stop", NULL};
    int origin = 0, final = -1;
    HRESULT r = mig_options(w);
    if (r == S_OK) r = origin_of(w->args, &origin);
    if (r == S_OK) r = member_choice(w->args, "FinalizedOperation", finals, &final);
    if (r == S_OK && final < 0) r = E_INVALIDARG; /* what to do must be said */
    hc_lock();
    hc_system *s = w->sys;
    if (r == S_OK) r = mig_gate(s, 0, MP_TRANSFERRED, origin);
    if (r == S_OK) {
        hc_mig *m = s->mig;
        s->mig = NULL;
        int resume = final == 0;
        if (m->role == MR_SOURCE && !resume) { /* the VM runs on at the destination */
            mig_event(s, MR_SOURCE, "MigrationDone", "Success", NULL);
            hc_sys_exit(s, w->op, "ForcedExit", S_OK, "Terminate", "Client", 0);
        } else if (m->role == MR_SOURCE) { /* the source takes over again */
            hc_sys_set_state(s, SS_RUNNING);
            hc_proc_kill_all(s, PLAT_SIGCONT);
            mig_event(s, MR_SOURCE, "MigrationRecoveryDone", "Success", NULL);
        } else if (resume) {
            hj_value *details = hj_new_object();
            uint64_t now = plat_now_ms();
            hj_set(details, "BlackoutDurationMilliseconds",
                   hj_new_uint(m->blackout_ms ? now - m->blackout_ms : 0));
            char stamp[40];
            hc_wall_time(stamp);
            hj_set(details, "BlackoutStopTimestamp", hj_new_string(stamp));
            hc_sys_set_state(s, SS_RUNNING);
            s->start_ms = now;
            hc_wall_time(s->start_time);
            mig_event(s, MR_DESTINATION, "BlackoutExited", NULL, details);
            mig_event(s, MR_DESTINATION, "MigrationDone", "Success", NULL);
        } else {
            mig_event(s, MR_DESTINATION, "MigrationFailed", "MigrationCancelled", NULL);
            hc_sys_exit(s, w->op, "ForcedExit", S_OK, "Terminate", "Client", 0);
        }
        mig_free(m);
    }
    hc_unlock();
    *hr = r;
    return NULL;
}

/* Runs outside the system's strand, so that it reaches a transfer in progress. */
static hj_value *work_cancel(hc_work *w, HRESULT *hr) {
    int origin = 0;
    HRESULT r = mig_options(w);
    if (r == S_OK) r = origin_of(w->args, &origin);
    hc_lock();
    hc_system *s = w->sh->sys;
    if (r == S_OK) r = mig_gate(s, 0, MP_INITIALIZED | MP_STARTED | MP_TRANSFERRED, origin);
    if (r == S_OK && s->mig->cancelled) r = HCS_E_OPERATION_ALREADY_CANCELLED;
    if (r == S_OK && s->mig->committed) r = HCS_E_INVALID_STATE; /* too late: see the commit */
    if (r == S_OK) {
        s->mig->cancelled = 1;
        if (!s->mig->transferring) mig_abandon(s, w->op, "MigrationCancelled");
    }
    hc_unlock();
    *hr = r;
    return NULL;
}

/* ---- the exports --------------------------------------------------------------------- */
#define MIGRATION_CALL(name, work, flags)                                                         \
    HRESULT WINAPI name(HCS_SYSTEM handle, HCS_OPERATION operation, PCWSTR options) {             \
        return hc_op_call(FN_##name, HcsOperationTypeLiveMigration, work, K_SYSH | flags, handle, \
                          operation, options);                                                    \
    }

MIGRATION_CALL(HcsInitializeLiveMigrationOnSource, work_initialize, 0)
MIGRATION_CALL(HcsStartLiveMigrationOnSource, work_start_source, 0)
MIGRATION_CALL(HcsStartLiveMigrationTransfer, work_transfer, 0)
MIGRATION_CALL(HcsFinalizeLiveMigration, work_finalize, 0)
MIGRATION_CALL(HcsCancelLiveMigration, work_cancel, HC_CALL_DIRECT)
