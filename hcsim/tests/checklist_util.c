/* Helpers for the §13 checklist tests; see checklist_util.h. */
#include "checklist_util.h"
#include "test_port.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef _WIN32
#include <poll.h>
#include <unistd.h>
#endif

#define EVQ_MAGIC  0x45565131u
#define OPCB_MAGIC 0x4f504342u

/* ---- arena ---------------------------------------------------------------------------- */
enum { A_FREE, A_JSON, A_DIR, A_EVQ, A_OPCB };
typedef struct arena_item {
    void *p;
    int kind;
} arena_item;
static arena_item *arena;
static size_t arena_n, arena_cap;

/* Live callback recorders, checked before any context is dereferenced. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static void *live_ctx[256];
static size_t live_n;
static int bad_ctx;

static void *keep(void *p, int kind) {
    if (!p) return NULL;
    if (arena_n == arena_cap) {
        size_t cap = arena_cap ? arena_cap * 2 : 64;
        arena_item *a = realloc(arena, cap * sizeof *a);
        if (!a) {
            fprintf(stderr, "checklist_util: out of memory\n");
            abort();
        }
        arena = a;
        arena_cap = cap;
    }
    arena[arena_n].p = p;
    arena[arena_n].kind = kind;
    arena_n++;
    return p;
}

static int ctx_live(void *p) {
    pthread_mutex_lock(&reg_lock);
    int found = 0;
    for (size_t i = 0; i < live_n; i++)
        if (live_ctx[i] == p) {
            found = 1;
            break;
        }
    if (!found) bad_ctx++;
    pthread_mutex_unlock(&reg_lock);
    return found;
}

static void ctx_add(void *p) {
    pthread_mutex_lock(&reg_lock);
    if (live_n < sizeof live_ctx / sizeof live_ctx[0]) live_ctx[live_n++] = p;
    pthread_mutex_unlock(&reg_lock);
}

static void arena_release(void) {
    pthread_mutex_lock(&reg_lock);
    live_n = 0;
    pthread_mutex_unlock(&reg_lock);
    for (size_t i = arena_n; i-- > 0;) {
        void *p = arena[i].p;
        switch (arena[i].kind) {
        case A_JSON: hj_free(p); break;
        case A_DIR:
            tp_rmtree(p);
            free(p);
            break;
        case A_EVQ: {
            cu_evq *q = p;
            for (size_t j = 0; j < q->n; j++) free(q->ev[j].data);
            free(q->ev);
            pthread_mutex_destroy(&q->m);
            pthread_cond_destroy(&q->c);
            free(q);
            break;
        }
        case A_OPCB: {
            cu_opcb *r = p;
            pthread_mutex_destroy(&r->m);
            pthread_cond_destroy(&r->c);
            free(r);
            break;
        }
        default: free(p); break;
        }
    }
    arena_n = 0;
}

/* ---- frame ------------------------------------------------------------------------------ */
void cu_begin(void) {
    HcsimReset(); /* quiesces the emulator: no callback can still reach old recorders */
    arena_release();
    pthread_mutex_lock(&reg_lock);
    bad_ctx = 0;
    pthread_mutex_unlock(&reg_lock);
}

HCSIM_COUNTS cu_counts(void) {
    HCSIM_COUNTS c;
    memset(&c, 0xff, sizeof c);
    HcsimGetCounts(&c);
    return c;
}

static int counts_zero(const HCSIM_COUNTS *c) {
    return c->Operations == 0 && c->PendingOperations == 0 && c->Systems == 0 &&
           c->SystemHandles == 0 && c->ProcessHandles == 0 && c->Processes == 0 &&
           c->PipeHandles == 0 && c->Documents == 0;
}

int cu_wait_counts_zero(unsigned timeout_ms, HCSIM_COUNTS *last) {
    uint64_t end = cu_now_ms() + timeout_ms;
    HCSIM_COUNTS c;
    for (;;) {
        c = cu_counts();
        if (counts_zero(&c) || cu_now_ms() >= end) break;
        cu_sleep_ms(10);
    }
    if (last) *last = c;
    return counts_zero(&c);
}

void cu_end_check(const char *file, int line) {
    HCSIM_COUNTS c;
    if (!cu_wait_counts_zero(5000, &c)) {
        char m[256];
        snprintf(m, sizeof m,
                 "leak at end of test: Operations=%u PendingOperations=%u Systems=%u "
                 "SystemHandles=%u ProcessHandles=%u Processes=%u PipeHandles=%u Documents=%u",
                 c.Operations, c.PendingOperations, c.Systems, c.SystemHandles, c.ProcessHandles,
                 c.Processes, c.PipeHandles, c.Documents);
        harness_fail(file, line, m);
    }
    pthread_mutex_lock(&reg_lock);
    int bad = bad_ctx;
    pthread_mutex_unlock(&reg_lock);
    if (bad) harness_fail(file, line, "a callback received an unknown context pointer");
}

/* ---- misc ----------------------------------------------------------------------------------- */
uint64_t cu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cu_sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

static char *vfmt(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) abort();
    char *s = malloc((size_t)n + 1);
    if (!s) abort();
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

PCWSTR cu_w(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    char16_t *w = hj_utf8_to_utf16(s, strlen(s));
    free(s);
    if (!w) abort();
    return keep(w, A_FREE);
}

const char *cu_s(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    return keep(s, A_FREE);
}

const char *cu_tmpdir(void) {
    char *t = strdup("/tmp/hcsim_c13_XXXXXX");
    if (!t || !tp_mkdtemp(t)) abort();
    return keep(t, A_DIR);
}

/* ---- JSON ----------------------------------------------------------------------------------- */
hj_value *cu_doc(PWSTR doc) {
    if (!doc) return NULL;
    hj_value *v = hj_parse_utf16(doc);
    LocalFree(doc);
    return keep(v, A_JSON);
}

hj_value *cu_parse16(PCWSTR s) { return s ? keep(hj_parse_utf16(s), A_JSON) : NULL; }
hj_value *cu_parse8(const char *s) { return s ? keep(hj_parse(s, strlen(s)), A_JSON) : NULL; }

const hj_value *cu_jget(const hj_value *v, const char *path) {
    char seg[128];
    const char *p = path;
    while (v && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof seg) return NULL;
        memcpy(seg, p, n);
        seg[n] = 0;
        p += n;
        if (*p == '.') p++;
        if (hj_typeof(v) == HJ_ARRAY) {
            char *end;
            long idx = strtol(seg, &end, 10);
            if (*end || idx < 0 || (size_t)idx >= hj_count(v)) return NULL;
            v = hj_at(v, (size_t)idx);
        } else {
            v = hj_get(v, seg);
        }
    }
    return v;
}

const char *cu_jstr(const hj_value *v, const char *path) { return hj_str(cu_jget(v, path), NULL); }

int cu_jstr_is(const hj_value *v, const char *path, const char *expected) {
    const char *s = cu_jstr(v, path);
    return s && strcmp(s, expected) == 0;
}

int cu_jint(const hj_value *v, const char *path, int64_t *out) {
    int64_t x = 0;
    int ok = hj_int64(cu_jget(v, path), &x);
    if (out) *out = ok ? x : 0;
    return ok;
}

int cu_jbool(const hj_value *v, const char *path) {
    int b = 0;
    return hj_bool(cu_jget(v, path), &b) ? (b != 0) : -1;
}

int cu_has_key(const hj_value *obj, const char *key) { return hj_get(obj, key) != NULL; }

int cu_is_result_error(const hj_value *doc, HRESULT hr) {
    int64_t e;
    return doc && hj_typeof(doc) == HJ_OBJECT && cu_jint(doc, "Error", &e) &&
           e == (int64_t)(int32_t)hr;
}

/* ---- operations ------------------------------------------------------------------------------ */
HRESULT cu_wait_op(HCS_OPERATION op, hj_value **doc) {
    PWSTR d = NULL;
    HRESULT hr = HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, doc ? &d : NULL);
    if (doc)
        *doc = cu_doc(d);
    else if (d)
        LocalFree(d);
    return hr;
}

HRESULT cu_sys_call(cu_sys_fn fn, HCS_SYSTEM sys, PCWSTR options, hj_value **doc) {
    if (doc) *doc = NULL;
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (!op) return E_OUTOFMEMORY;
    HRESULT hr = fn(sys, op, options);
    if (SUCCEEDED(hr)) hr = cu_wait_op(op, doc);
    HcsCloseOperation(op);
    return hr;
}

HRESULT cu_modify(HCS_SYSTEM sys, PCWSTR settings, hj_value **doc) {
    if (doc) *doc = NULL;
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (!op) return E_OUTOFMEMORY;
    HRESULT hr = HcsModifyComputeSystem(sys, op, settings, NULL);
    if (SUCCEEDED(hr)) hr = cu_wait_op(op, doc);
    HcsCloseOperation(op);
    return hr;
}

HRESULT cu_create_ns(PCWSTR ns, PCWSTR id, const char *cfg_utf8, HCS_SYSTEM *out) {
    *out = NULL;
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (!op) return E_OUTOFMEMORY;
    char16_t *cfg = hj_utf8_to_utf16(cfg_utf8, strlen(cfg_utf8));
    HCS_SYSTEM s = NULL;
    HRESULT hr = ns ? HcsCreateComputeSystemInNamespace(ns, id, cfg, op, NULL, &s)
                    : HcsCreateComputeSystem(id, cfg, op, NULL, &s);
    free(cfg);
    if (SUCCEEDED(hr)) hr = cu_wait_op(op, NULL);
    HcsCloseOperation(op);
    if (FAILED(hr)) {
        if (s) HcsCloseComputeSystem(s);
        s = NULL;
    }
    *out = s;
    return hr;
}

HRESULT cu_create(PCWSTR id, const char *cfg_utf8, HCS_SYSTEM *out) {
    return cu_create_ns(NULL, id, cfg_utf8, out);
}

HRESULT cu_create_running(PCWSTR id, const char *cfg_utf8, HCS_SYSTEM *out) {
    HRESULT hr = cu_create(id, cfg_utf8, out);
    if (FAILED(hr)) return hr;
    hr = cu_sys_call(HcsStartComputeSystem, *out, NULL, NULL);
    if (FAILED(hr)) {
        cu_kill_close(*out);
        *out = NULL;
    }
    return hr;
}

hj_value *cu_props(HCS_SYSTEM sys, PCWSTR query) {
    hj_value *doc = NULL;
    HRESULT hr = cu_sys_call(HcsGetComputeSystemProperties, sys, query, &doc);
    return SUCCEEDED(hr) ? doc : NULL;
}

const char *cu_state(HCS_SYSTEM sys) {
    const char *s = cu_jstr(cu_props(sys, NULL), "State");
    return s ? s : "";
}

void cu_kill_close(HCS_SYSTEM sys) {
    if (!sys) return;
    cu_sys_call(HcsTerminateComputeSystem, sys, NULL, NULL);
    HcsCloseComputeSystem(sys);
}

hj_value *cu_enum(PCWSTR ns, PCWSTR query, HRESULT *hr_out) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    hj_value *doc = NULL;
    HRESULT hr = ns ? HcsEnumerateComputeSystemsInNamespace(ns, query, op)
                    : HcsEnumerateComputeSystems(query, op);
    if (SUCCEEDED(hr)) hr = cu_wait_op(op, &doc);
    HcsCloseOperation(op);
    if (hr_out) *hr_out = hr;
    return SUCCEEDED(hr) ? doc : NULL;
}

/* ---- processes ------------------------------------------------------------------------------- */
HRESULT cu_proc_call(cu_proc_fn fn, HCS_PROCESS p, PCWSTR options, hj_value **doc) {
    if (doc) *doc = NULL;
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (!op) return E_OUTOFMEMORY;
    HRESULT hr = fn(p, op, options);
    if (SUCCEEDED(hr)) hr = cu_wait_op(op, doc);
    HcsCloseOperation(op);
    return hr;
}

HRESULT cu_proc_info(HCS_PROCESS p, HCS_PROCESS_INFORMATION *pi) {
    memset(pi, 0, sizeof *pi);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (!op) return E_OUTOFMEMORY;
    HRESULT hr = HcsGetProcessInfo(p, op);
    if (SUCCEEDED(hr)) hr = HcsWaitForOperationResultAndProcessInfo(op, CU_OP_TIMEOUT_MS, pi, NULL);
    HcsCloseOperation(op);
    return hr;
}

HRESULT cu_spawn(HCS_SYSTEM sys, const char *params_utf8, HCS_PROCESS *p,
                 HCS_PROCESS_INFORMATION *pi) {
    *p = NULL;
    memset(pi, 0, sizeof *pi);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (!op) return E_OUTOFMEMORY;
    char16_t *params = hj_utf8_to_utf16(params_utf8, strlen(params_utf8));
    HCS_PROCESS proc = NULL;
    HRESULT hr = HcsCreateProcess(sys, params, op, NULL, &proc);
    free(params);
    if (SUCCEEDED(hr)) {
        PWSTR doc = NULL;
        hr = HcsWaitForOperationResultAndProcessInfo(op, CU_OP_TIMEOUT_MS, pi, &doc);
        if (doc) LocalFree(doc);
    }
    HcsCloseOperation(op);
    if (FAILED(hr)) {
        if (proc) HcsCloseProcess(proc);
        proc = NULL;
        memset(pi, 0, sizeof *pi);
    }
    *p = proc;
    return hr;
}

int cu_present(HANDLE h) { return h != NULL && h != INVALID_HANDLE_VALUE; }

void cu_close_pi(HCS_PROCESS_INFORMATION *pi) {
    if (cu_present(pi->StdInput)) CloseHandle(pi->StdInput);
    if (cu_present(pi->StdOutput)) CloseHandle(pi->StdOutput);
    if (cu_present(pi->StdError)) CloseHandle(pi->StdError);
    pi->StdInput = pi->StdOutput = pi->StdError = NULL;
}

#ifdef _WIN32
/* Win32: HcsimHandleToFd gives the pipe HANDLE's value. */
int cu_write(HANDLE h, const char *s) {
    int fd = HcsimHandleToFd(h);
    return fd < 0 ? -1 : tp_pipe_write(fd, s, strlen(s));
}

ssize_t cu_read(HANDLE h, char *buf, size_t cap, const char *needle, unsigned timeout_ms,
                int *eof) {
    int dummy, fd = HcsimHandleToFd(h);
    if (!eof) eof = &dummy;
    *eof = 0;
    if (fd < 0 || cap == 0) return -1;
    size_t len = 0;
    buf[0] = 0;
    uint64_t end = cu_now_ms() + timeout_ms;
    while (len + 1 < cap && !(needle && strstr(buf, needle))) {
        uint64_t now = cu_now_ms();
        if (now >= end) break;
        long n = tp_pipe_read(fd, buf + len, cap - 1 - len, (unsigned)(end - now), eof);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = 0;
    }
    return (ssize_t)len;
}
#else
int cu_write(HANDLE h, const char *s) {
    int fd = HcsimHandleToFd(h);
    if (fd < 0) return -1;
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(fd, s + off, len - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {fd, POLLOUT, 0};
                poll(&pf, 1, 100);
                continue;
            }
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}

ssize_t cu_read(HANDLE h, char *buf, size_t cap, const char *needle, unsigned timeout_ms,
                int *eof) {
    if (eof) *eof = 0;
    int fd = HcsimHandleToFd(h);
    if (fd < 0 || cap == 0) return -1;
    size_t len = 0;
    buf[0] = 0;
    uint64_t end = cu_now_ms() + timeout_ms;
    while (len + 1 < cap) {
        if (needle && strstr(buf, needle)) break;
        uint64_t now = cu_now_ms();
        if (now >= end) break;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, (int)(end - now));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == EIO) {
                if (eof) *eof = 1;
                break;
            } /* pty master after the child left */
            break;
        }
        if (n == 0) {
            if (eof) *eof = 1;
            break;
        }
        len += (size_t)n;
        buf[len] = 0;
    }
    return (ssize_t)len;
}
#endif

hj_value *cu_pstatus(HCS_PROCESS p) {
    hj_value *doc = NULL;
    HRESULT hr = cu_proc_call(HcsGetProcessProperties, p, NULL, &doc);
    return SUCCEEDED(hr) ? doc : NULL;
}

hj_value *cu_wait_pexit(HCS_PROCESS p, unsigned timeout_ms) {
    uint64_t end = cu_now_ms() + timeout_ms;
    for (;;) {
        hj_value *st = cu_pstatus(p);
        if (st && cu_jbool(st, "Exited") == 1) return st;
        if (cu_now_ms() >= end) return NULL;
        cu_sleep_ms(20);
    }
}

/* ---- event queues -------------------------------------------------------------------------- */
static void cond_init_mono(pthread_cond_t *c) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CU_COND_CLOCK);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

static int timed_wait(pthread_cond_t *c, pthread_mutex_t *m, uint64_t end_ms) {
    uint64_t now = cu_now_ms();
    if (now >= end_ms) return ETIMEDOUT;
    struct timespec ts;
    clock_gettime(CU_COND_CLOCK, &ts);
    uint64_t left = end_ms - now;
    ts.tv_sec += (time_t)(left / 1000u);
    ts.tv_nsec += (long)(left % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(c, m, &ts);
}

cu_evq *cu_evq_new(void) {
    cu_evq *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->magic = EVQ_MAGIC;
    pthread_mutex_init(&q->m, NULL);
    cond_init_mono(&q->c);
    keep(q, A_EVQ);
    ctx_add(q);
    return q;
}

static char16_t *u16dup(PCWSTR s) { return s ? aiohcs_utf16_dup(s, NULL) : NULL; }

void CALLBACK cu_evq_cb(HCS_EVENT *event, void *context) {
    if (!ctx_live(context)) return;
    cu_evq *q = context;
    if (q->magic != EVQ_MAGIC) return;
    cu_event e;
    memset(&e, 0, sizeof e);
    e.type = (uint32_t)event->Type;
    e.data = u16dup(event->EventData);
    e.op = event->Operation;
    e.thread = pthread_self();
    e.op_hr = S_OK;
    if (e.op) e.op_hr = HcsGetOperationResult(e.op, NULL);
    if (q->hook) q->hook(event, q->hook_arg);
    pthread_mutex_lock(&q->m);
    if (q->closed) q->late++;
    q->running++;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        cu_event *nv = realloc(q->ev, cap * sizeof *nv);
        if (!nv) abort();
        q->ev = nv;
        q->cap = cap;
    }
    q->ev[q->n++] = e;
    unsigned sleep_ms = q->sleep_ms;
    pthread_cond_broadcast(&q->c);
    pthread_mutex_unlock(&q->m);
    if (sleep_ms) cu_sleep_ms(sleep_ms);
    pthread_mutex_lock(&q->m);
    q->running--;
    q->finished++;
    pthread_cond_broadcast(&q->c);
    pthread_mutex_unlock(&q->m);
}

static int find_nth(cu_evq *q, uint32_t type, size_t nth) {
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++)
        if (q->ev[i].type == type && k++ == nth) return (int)i;
    return -1;
}

int cu_evq_wait(cu_evq *q, uint32_t type, size_t nth, unsigned timeout_ms) {
    uint64_t end = cu_now_ms() + timeout_ms;
    pthread_mutex_lock(&q->m);
    int idx;
    while ((idx = find_nth(q, type, nth)) < 0) {
        if (timed_wait(&q->c, &q->m, end) == ETIMEDOUT && (idx = find_nth(q, type, nth)) < 0) break;
    }
    pthread_mutex_unlock(&q->m);
    return idx;
}

size_t cu_evq_count(cu_evq *q, uint32_t type) {
    pthread_mutex_lock(&q->m);
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++)
        if (q->ev[i].type == type) k++;
    pthread_mutex_unlock(&q->m);
    return k;
}

/* Reads a counter of q under its lock. */
static size_t evq_read(cu_evq *q, const void *field, int is_size) {
    pthread_mutex_lock(&q->m);
    size_t v = is_size ? *(const size_t *)field : (size_t)*(const int *)field;
    pthread_mutex_unlock(&q->m);
    return v;
}

size_t cu_evq_total(cu_evq *q) { return evq_read(q, &q->n, 1); }

cu_event cu_evq_at(cu_evq *q, size_t i) {
    cu_event e;
    memset(&e, 0, sizeof e);
    pthread_mutex_lock(&q->m);
    if (i < q->n) e = q->ev[i];
    pthread_mutex_unlock(&q->m);
    return e;
}

hj_value *cu_evq_json(cu_evq *q, size_t i) {
    cu_event e = cu_evq_at(q, i);
    return cu_parse16(e.data);
}

void cu_evq_mark_closed(cu_evq *q) {
    pthread_mutex_lock(&q->m);
    q->closed = 1;
    pthread_mutex_unlock(&q->m);
}

int cu_evq_late(cu_evq *q) { return (int)evq_read(q, &q->late, 0); }

int cu_evq_wait_running(cu_evq *q, unsigned timeout_ms) {
    uint64_t end = cu_now_ms() + timeout_ms;
    pthread_mutex_lock(&q->m);
    while (q->running == 0)
        if (timed_wait(&q->c, &q->m, end) == ETIMEDOUT) break;
    int r = q->running > 0;
    pthread_mutex_unlock(&q->m);
    return r;
}

int cu_evq_finished(cu_evq *q) { return (int)evq_read(q, &q->finished, 0); }

/* ---- operation completion recorders ------------------------------------------------------------ */
cu_opcb *cu_opcb_new(int close_in_cb) {
    cu_opcb *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->magic = OPCB_MAGIC;
    r->close_in_cb = close_in_cb;
    pthread_mutex_init(&r->m, NULL);
    cond_init_mono(&r->c);
    keep(r, A_OPCB);
    ctx_add(r);
    return r;
}

void CALLBACK cu_opcb_fn(HCS_OPERATION op, void *context) {
    if (!ctx_live(context)) return;
    cu_opcb *r = context;
    if (r->magic != OPCB_MAGIC) return;
    PWSTR doc = NULL;
    HRESULT hr = HcsGetOperationResult(op, &doc);
    HCS_OPERATION_TYPE type = HcsGetOperationType(op);
    int doc_null = doc == NULL;
    if (doc) LocalFree(doc);
    pthread_mutex_lock(&r->m);
    int close_it = r->close_in_cb;
    pthread_mutex_unlock(&r->m);
    if (close_it) HcsCloseOperation(op);
    pthread_mutex_lock(&r->m);
    r->calls++;
    r->thread = pthread_self();
    r->op = op;
    r->type = type;
    r->hr = hr;
    r->doc_is_null = doc_null;
    pthread_cond_broadcast(&r->c);
    pthread_mutex_unlock(&r->m);
}

int cu_opcb_wait(cu_opcb *r, int calls, unsigned timeout_ms) {
    uint64_t end = cu_now_ms() + timeout_ms;
    pthread_mutex_lock(&r->m);
    while (r->calls < calls)
        if (timed_wait(&r->c, &r->m, end) == ETIMEDOUT) break;
    int ok = r->calls >= calls;
    pthread_mutex_unlock(&r->m);
    return ok;
}

int cu_opcb_calls(cu_opcb *r) {
    pthread_mutex_lock(&r->m);
    int n = r->calls;
    pthread_mutex_unlock(&r->m);
    return n;
}

/* ---- shared shapes of the checklist tests ---------------------------------------------- */
HCS_OPERATION cu_start_delayed(const char *fn_name, cu_sys_fn fn, HCS_SYSTEM sys, PCWSTR options,
                               unsigned delay_ms) {
    CHECK_HR(S_OK, HcsimSetDelay(fn_name, delay_ms, 0));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (!op) return NULL;
    HRESULT hr = fn(sys, op, options);
    CHECK_HR(S_OK, hr);
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    if (FAILED(hr)) {
        HcsCloseOperation(op);
        return NULL;
    }
    return op;
}

static int by_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *cu_sorted_join(const char **items, size_t n) {
    qsort(items, n, sizeof *items, by_str);
    char buf[2048] = "";
    for (size_t i = 0; i < n; i++) {
        if (i) strncat(buf, ",", sizeof buf - strlen(buf) - 1);
        strncat(buf, items[i], sizeof buf - strlen(buf) - 1);
    }
    return cu_s("%s", buf);
}

int cu_pstatus_is(const hj_value *st, int exited, int64_t exit_code, DWORD pid) {
    int ok = 1;
    int64_t v = 0;
    if (!st) {
        fprintf(stderr, "    no ProcessStatus document\n");
        return 0;
    }
    if (cu_jbool(st, "Exited") != exited) {
        fprintf(stderr, "    Exited is not %d\n", exited);
        ok = 0;
    }
    if (pid && !(cu_jint(st, "ProcessId", &v) && v == (int64_t)pid)) {
        fprintf(stderr, "    ProcessId is not %u\n", (unsigned)pid);
        ok = 0;
    }
    if (exit_code >= 0 && !(cu_jint(st, "ExitCode", &v) && v == exit_code)) {
        fprintf(stderr, "    ExitCode is not %lld\n", (long long)exit_code);
        ok = 0;
    }
    if (exited && !(cu_jint(st, "LastWaitResult", &v) && v == 0)) {
        fprintf(stderr, "    LastWaitResult is not 0\n");
        ok = 0;
    }
    return ok;
}

int cu_wait_no_processes(unsigned timeout_ms) {
    uint64_t end = cu_now_ms() + timeout_ms;
    while (cu_counts().Processes != 0) {
        if (cu_now_ms() >= end) return 0;
        cu_sleep_ms(10);
    }
    return 1;
}

cu_evq *cu_watch_system(HCS_SYSTEM sys, HCS_EVENT_OPTIONS options) {
    cu_evq *q = cu_evq_new();
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(sys, options, q, cu_evq_cb));
    return q;
}

cu_evq *cu_watch_process(HCS_PROCESS p, HCS_EVENT_OPTIONS options) {
    cu_evq *q = cu_evq_new();
    CHECK_HR(S_OK, HcsSetProcessCallback(p, options, q, cu_evq_cb));
    return q;
}

hj_value *cu_evq_wait_json(cu_evq *q, uint32_t type, size_t nth) {
    int i = cu_evq_wait(q, type, nth, CU_EVENT_TIMEOUT_MS);
    return i >= 0 ? cu_evq_json(q, (size_t)i) : NULL;
}

HCS_SYSTEM cu_begin_system(PCWSTR id, const char *cfg_utf8, int running) {
    cu_begin();
    HCS_SYSTEM sys = NULL;
    HRESULT hr = running ? cu_create_running(id, cfg_utf8, &sys) : cu_create(id, cfg_utf8, &sys);
    return SUCCEEDED(hr) ? sys : NULL;
}
