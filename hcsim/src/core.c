/* hcsim core: the global emulator state, lazy initialisation, the registry of live
 * handles, reference-counted objects and the entry protocol shared by every export. */
#include "hcsim_internal.h"
#include "network.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hc_global G;

const char *const hc_fn_names[FN_COUNT] = {
#define HCSIM_FN_NAME(name, flags) #name,
    HCSIM_FUNCTIONS(HCSIM_FN_NAME)
#undef HCSIM_FN_NAME
};

const unsigned hc_fn_flags[FN_COUNT] = {
#define HCSIM_FN_FLAGS(name, flags) (flags),
    HCSIM_FUNCTIONS(HCSIM_FN_FLAGS)
#undef HCSIM_FN_FLAGS
};

int hc_fn_lookup(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < FN_COUNT; i++)
        if (!strcmp(hc_fn_names[i], name)) return i;
    return -1;
}

/* ---- lazy initialisation (no constructors, no threads until first use) ---------- */
static atomic_int init_state;     /* 0 = not yet, 1 = in progress, 2 = done */
static atomic_int control_active; /* 0: no fault/delay/hidden/disconnect can be set */

static void init_globals(uintptr_t next_token, uint64_t next_op_id) {
    plat_mutex_init(&G.lock);
    plat_cond_init(&G.work_cond);
    plat_cond_init(&G.op_cond);
    plat_cond_init(&G.cb_cond);
    plat_cond_init(&G.exit_cond);
    plat_cond_init(&G.idle_cond);
    G.next_op_id = next_op_id;
    G.next_token = next_token;
    G.opt_workers = 4;
    G.opt_reject_second_cb = 1;
    G.opt_schema_minor = 6;
    G.opt_lp_count = 4;
    hc_latency_from_env();
}

/* fork() in the host (e.g. os.fork): the child has none of the workers, and G.lock may
 * have been held by one of them. The child starts with a fresh, empty emulator: G is
 * cleared without freeing or closing anything (the parent's objects, their memory and
 * descriptors leak in the child; the parent's host processes stay the parent's). Handle tokens and
 * operation ids continue from the parent's, so a handle inherited from the parent is
 * never mistaken for one the child creates: it is simply unknown (E_HANDLE). */
static void after_fork_in_child(void) {
    int state = atomic_load_explicit(&init_state, memory_order_acquire);
    if (state == 1)
        atomic_store_explicit(&init_state, 0, memory_order_release); /* its thread is gone */
    if (state != 2) return;
    uintptr_t next_token = G.next_token;
    uint64_t next_op_id = G.next_op_id;
    memset(&G, 0, sizeof G);
    init_globals(next_token, next_op_id);
    atomic_store_explicit(&control_active, 0, memory_order_release);
}

void hc_init(void) {
    if (atomic_load_explicit(&init_state, memory_order_acquire) == 2) return;
    int expected = 0;
    if (atomic_compare_exchange_strong(&init_state, &expected, 1)) {
        /* handle tokens: above any file descriptor and 16-aligned */
        init_globals(sizeof(void *) >= 8 ? ((uintptr_t)1 << 32) + 0x10000u : 0x40000000u, 1);
        plat_atfork_child(after_fork_in_child); /* once: the child inherits it */
        atomic_store_explicit(&init_state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&init_state, memory_order_acquire) != 2) plat_sleep_ms(1);
}

void hc_lock(void) { plat_mutex_lock(&G.lock); }
void hc_unlock(void) { plat_mutex_unlock(&G.lock); }

/* ---- registries ------------------------------------------------------------------ */
#define TOMB ((uintptr_t)1)

static size_t tab_hash(uintptr_t k, size_t cap) {
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static int tab_grow(hc_table *t) {
    size_t ncap = t->cap ? t->cap : 256;
    if ((t->used + 1) * 2 > ncap) ncap *= 2;
    uintptr_t *nk = calloc(ncap, sizeof *nk);
    void **nv = calloc(ncap, sizeof *nv);
    uint8_t *nd = calloc(ncap, 1);
    if (!nk || !nv || !nd) {
        free(nk);
        free(nv);
        free(nd);
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++) {
        uintptr_t k = t->keys[i];
        if (!k || k == TOMB) continue;
        size_t j = tab_hash(k, ncap);
        while (nk[j]) j = (j + 1) & (ncap - 1);
        nk[j] = k;
        nv[j] = t->vals[i];
        nd[j] = t->kinds[i];
    }
    free(t->keys);
    free(t->vals);
    free(t->kinds);
    t->keys = nk;
    t->vals = nv;
    t->kinds = nd;
    t->cap = ncap;
    t->tomb = 0;
    return 0;
}

static int tab_put(hc_table *t, uintptr_t k, void *v, int kind) {
    if ((t->used + t->tomb + 1) * 2 > t->cap && tab_grow(t) != 0) return -1;
    size_t j = tab_hash(k, t->cap);
    while (t->keys[j] && t->keys[j] != TOMB) j = (j + 1) & (t->cap - 1);
    if (t->keys[j] == TOMB) t->tomb--;
    t->keys[j] = k;
    t->vals[j] = v;
    t->kinds[j] = (uint8_t)kind;
    t->used++;
    return 0;
}

static size_t tab_find(const hc_table *t, uintptr_t k) {
    if (!t->cap || !k || k == TOMB) return (size_t)-1;
    size_t j = tab_hash(k, t->cap);
    for (size_t n = 0; n < t->cap; n++) {
        uintptr_t c = t->keys[j];
        if (!c) return (size_t)-1;
        if (c == k) return j;
        j = (j + 1) & (t->cap - 1);
    }
    return (size_t)-1;
}

static int tab_del(hc_table *t, uintptr_t k) {
    size_t j = tab_find(t, k);
    if (j == (size_t)-1) return 0;
    t->keys[j] = TOMB;
    t->vals[j] = NULL;
    t->kinds[j] = 0;
    t->used--;
    t->tomb++;
    return 1;
}

int hc_reg_add(void *obj, int kind) {
    hc_obj *o = obj;
    uintptr_t tok = G.next_token;
    G.next_token += 16;
    if (tab_put(&G.handles, tok, obj, kind) != 0) return -1;
    o->token = tok;
    return 0;
}

void *hc_reg_get(const void *handle, int kind) {
    size_t j = tab_find(&G.handles, (uintptr_t)handle);
    if (j == (size_t)-1 || G.handles.kinds[j] != (uint8_t)kind) return NULL;
    return G.handles.vals[j];
}

int hc_reg_known(const void *handle) {
    return tab_find(&G.handles, (uintptr_t)handle) != (size_t)-1;
}

void hc_reg_del(void *obj) { tab_del(&G.handles, ((hc_obj *)obj)->token); }

void hc_reg_each(int kind, void (*fn)(void *obj)) {
    for (size_t i = 0; i < G.handles.cap; i++) {
        uintptr_t k = G.handles.keys[i];
        if (k && k != TOMB && G.handles.kinds[i] == (uint8_t)kind) fn(G.handles.vals[i]);
    }
}

int hc_doc_add(void *doc) { return tab_put(&G.docs, (uintptr_t)doc, doc, K_DOC); }
int hc_doc_del(void *doc) {
    size_t j = tab_find(&G.docs, (uintptr_t)doc);
    if (j == (size_t)-1 || G.docs.kinds[j] != K_DOC) return 0;
    return tab_del(&G.docs, (uintptr_t)doc);
}
int hc_doc_add_kind(void *doc, int kind) { return tab_put(&G.docs, (uintptr_t)doc, doc, kind); }
int hc_doc_kind(const void *doc) {
    size_t j = tab_find(&G.docs, (uintptr_t)doc);
    return j == (size_t)-1 ? 0 : G.docs.kinds[j];
}
int hc_doc_del_kind(void *doc, int kind) {
    return hc_doc_kind(doc) == kind && tab_del(&G.docs, (uintptr_t)doc);
}

/* ---- objects -------------------------------------------------------------------- */
void *hc_obj_new(size_t size, int kind) {
    hc_obj *o = calloc(1, size);
    if (!o) return NULL;
    o->magic = HC_MAGIC;
    o->kind = (uint32_t)kind;
    o->refs = 1;
    return o;
}

void hc_ref(void *o) {
    if (o) ((hc_obj *)o)->refs++;
}

void hc_unref(void *o) {
    hc_obj *h = o;
    if (!h || --h->refs > 0) return;
    switch (h->kind) {
    case K_OP: hc_op_free(o); break;
    case K_SYSH: hc_sysh_free(o); break;
    case K_PROCH: hc_proch_free(o); break;
    case K_PIPE: hc_pipe_free(o); break;
    case K_SYSTEM: hc_sys_free(o); break;
    case K_PROC: hc_proc_free(o); break;
    case K_HCN:
    case K_HCNCB: hn_free_kind(o); break;
    default: break;
    }
}

/* ---- small utilities -------------------------------------------------------------- */
char *hc_u8(PCWSTR s) {
    if (!s) return NULL;
    return hj_utf16_to_utf8((const char16_t *)s, NULL);
}

char *hc_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static _Thread_local int tl_in_worker;
int hc_in_worker(void) { return tl_in_worker; }
void hc_mark_worker(void) { tl_in_worker = 1; }

void hc_wall_time(char out[40]) {
    struct tm tm;
    uint32_t ticks;
    plat_utc_now(&tm, &ticks);
    snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u.%07luZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned long)ticks % 10000000ul);
}

HRESULT hc_hr_from_errno(int err) {
    switch (err) {
    case 0: return S_OK;
    case ENOENT: return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
    case ENOTDIR: return HRESULT_FROM_WIN32(3u); /* ERROR_PATH_NOT_FOUND */
    case EACCES:
    case EPERM: return HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED);
    case EEXIST: return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
    case ENOMEM: return E_OUTOFMEMORY;
    case EMFILE:
    case ENFILE: return HRESULT_FROM_WIN32(4u); /* ERROR_TOO_MANY_OPEN_FILES */
    case EINVAL: return E_INVALIDARG;
    case ENOSPC: return HRESULT_FROM_WIN32(112u);       /* ERROR_DISK_FULL */
    case EFBIG: return HRESULT_FROM_WIN32(223u);        /* ERROR_FILE_TOO_LARGE */
    case ENAMETOOLONG: return HRESULT_FROM_WIN32(206u); /* ERROR_FILENAME_EXCED_RANGE */
    case ENOTEMPTY: return HRESULT_FROM_WIN32(145u);    /* ERROR_DIR_NOT_EMPTY */
    case EISDIR: return HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED);
#ifdef _WIN32
    case ENOSYS: return E_NOTIMPL; /* a Win32 call not implemented (e.g. by Wine) */
#endif
    default: return E_FAIL;
    }
}

/* 1 when the n bytes of s are a drive's root ("C:\\", Windows only): its separator stays. */
static int drive_root(const char *s, size_t n) {
#ifdef _WIN32
    return n == 3 && s[1] == ':';
#else
    (void)s;
    (void)n;
    return 0;
#endif
}

int hc_is_absolute_path(const char *p) {
#if PLAT_HOST_RELEASES
    return p[0] == '\\' || p[0] == '/' || (p[0] && p[1] == ':' && (p[2] == '\\' || p[2] == '/'));
#else
    return p[0] == '/';
#endif
}

HRESULT hc_path_arg(PCWSTR p, int strip_slash, char **out) {
    *out = NULL;
    char *s = hc_u8(p);
    if (!s || !*s) {
        free(s);
        return E_INVALIDARG;
    }
    size_t n = strlen(s);
    while (strip_slash && n > 1 && strchr(PLAT_DIR_SEPS, s[n - 1]) && !drive_root(s, n)) s[--n] = 0;
    *out = s;
    return S_OK;
}

int hc_wait_until(plat_cond *c, uint64_t deadline_ms, int infinite) {
    if (infinite) {
        plat_cond_wait(c, &G.lock);
        return 1;
    }
    uint64_t now = plat_now_ms();
    if (now >= deadline_ms) return 0;
    plat_cond_timedwait(c, &G.lock, (uint32_t)(deadline_ms - now));
    return 1;
}

/* ---- the entry protocol ------------------------------------------------------------ */
void hc_control_touched(int on) {
    atomic_store_explicit(&control_active, on, memory_order_release);
}

HRESULT hc_enter_sync(fn_id fn) {
    hc_call call;
    return hc_enter(fn, &call);
}

HRESULT hc_enter(fn_id fn, hc_call *call) {
    hc_init();
    call->fn = fn;
    call->async_fault = S_OK;
    call->completion_ms = 0;
    call->profiled = 0;
    if (!atomic_load_explicit(&control_active, memory_order_acquire)) { /* hot path */
        call->completion_ms = hc_latency_pick(fn);
        call->profiled = call->completion_ms != 0;
        return S_OK;
    }
    unsigned flags = hc_fn_flags[fn];
    uint32_t sync_ms = 0;
    HRESULT hr = S_OK;
    hc_lock();
    if (G.hidden[fn]) {
        hc_unlock();
        return HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND);
    }
    if (G.disconnected && (flags & FN_SVC)) {
        hc_unlock();
        return HCS_E_SERVICE_DISCONNECT;
    }
    if (!(flags & FN_NOHR)) {
        hc_fault *f = NULL;
        if (G.faults[fn].count)
            f = &G.faults[fn];
        else if ((flags & (FN_SVC | FN_STO | FN_HCN)) && G.fault_any.count)
            f = &G.fault_any;
        if (f) {
            f->count--;
            if (f->mode == HcsimFaultAsync && (flags & FN_OP))
                call->async_fault = f->hr;
            else
                hr = f->hr;
        }
    }
    hc_delay *d = NULL;
    if (G.delays[fn].set)
        d = &G.delays[fn];
    else if ((flags & (FN_SVC | FN_STO | FN_HCN)) && G.delay_any.set)
        d = &G.delay_any;
    if (d) {
        call->completion_ms = d->completion_ms;
        sync_ms = d->sync_ms;
    }
    hc_unlock();
    if (!d && hr == S_OK) { /* no explicit delay: the latency profile's */
        call->completion_ms = hc_latency_pick(fn);
        call->profiled = call->completion_ms != 0;
    }
    if (sync_ms) plat_sleep_ms(sync_ms);
    return hr;
}
