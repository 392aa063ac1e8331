/* Helpers for the black-box acceptance tests of HCS contract §13 (test_checklist_*.c).
 *
 * Every checklist test follows the same shape:
 *     TEST(c13_NN_name) {
 *         cu_begin();                 // HcsimReset() + free the previous test's scratch
 *         ... exercise the public API only (computecore.h, computestorage.h, hcsim.h) ...
 *         ... close every handle / operation / pipe, LocalFree every document ...
 *         CU_END();                   // all HCSIM_COUNTS fields must drop to zero
 *     }
 *
 * Memory handed out by the helpers (wide strings, parsed documents, event queues,
 * completion recorders, temporary directories) lives in a per-test arena that cu_begin
 * releases, so tests never free it themselves. Callback contexts are validated against
 * the set of live recorders before being dereferenced; an unknown context is counted
 * and reported by CU_END. */
#ifndef HCSIM_CHECKLIST_UTIL_H
#define HCSIM_CHECKLIST_UTIL_H

#include "harness.h"
#include "hcsim.h"
#include "json.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Generous bounds: the suite must not be flaky on a loaded 2-core machine under TSan. */
#define CU_OP_TIMEOUT_MS    10000u /* an operation that must complete */
#define CU_EVENT_TIMEOUT_MS 5000u  /* an event that must arrive */
#define CU_QUIET_MS         300u   /* how long to watch for something that must NOT happen */

/* Minimal configurations. */
#define CU_CFG_CONTAINER \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"Container\":{}}"
#define CU_CFG_VM                                                                         \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"VirtualMachine\":" \
    "{\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}},"  \
    "\"GuestConnection\":{}}}"
#define CU_CFG_LINUX_VM                                                                   \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"VirtualMachine\":" \
    "{\"Chipset\":{\"LinuxKernelDirect\":{\"KernelFilePath\":\"/hcsim/vmlinuz\","         \
    "\"InitRdPath\":\"/hcsim/initrd.img\",\"KernelCmdLine\":\"console=ttyS0\"}},"         \
    "\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}},"   \
    "\"GuestConnection\":{}}}"

/* ---- test frame -------------------------------------------------------------------- */
void cu_begin(void);
/* cu_begin, then a system created from cfg (and started when running); NULL on failure. */
HCS_SYSTEM cu_begin_system(PCWSTR id, const char *cfg_utf8, int running);
void cu_end_check(const char *file, int line);
#define CU_END() cu_end_check(__FILE__, __LINE__)
/* Polls HcsimGetCounts until every field is zero or timeout_ms passed; 1 if all zero. */
int cu_wait_counts_zero(unsigned timeout_ms, HCSIM_COUNTS *last);
HCSIM_COUNTS cu_counts(void);

/* ---- misc -------------------------------------------------------------------------- */
uint64_t cu_now_ms(void);
void cu_sleep_ms(unsigned ms);
/* printf-style UTF-8 -> UTF-16 (arena). */
PCWSTR cu_w(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* printf-style UTF-8 (arena). */
const char *cu_s(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A fresh temporary directory (arena; removed recursively by the next cu_begin). */
const char *cu_tmpdir(void);
/* Records an HRESULT in a check failure message when it differs. */
#define CHECK_FAILED(hr) CHECK(FAILED(hr))

/* ---- JSON -------------------------------------------------------------------------- */
/* Parses a returned document and LocalFree()s it. NULL if doc is NULL or malformed.
 * The parsed value lives in the arena. */
hj_value *cu_doc(PWSTR doc);
/* Parses a borrowed UTF-16 string (not freed). Arena. */
hj_value *cu_parse16(PCWSTR s);
hj_value *cu_parse8(const char *s);
/* Dotted path lookup: "Attribution.0.SystemExit.Detail" (numbers index arrays). */
const hj_value *cu_jget(const hj_value *v, const char *path);
const char *cu_jstr(const hj_value *v, const char *path); /* NULL if absent */
int cu_jstr_is(const hj_value *v, const char *path, const char *expected);
int cu_jint(const hj_value *v, const char *path, int64_t *out); /* 1 if an integer */
int cu_jbool(const hj_value *v, const char *path);              /* 0/1, -1 if not a bool */
int cu_has_key(const hj_value *obj, const char *key);
/* Checks that a failure document is a ResultError whose Error equals hr (as int32). */
int cu_is_result_error(const hj_value *doc, HRESULT hr);

/* ---- operations ---------------------------------------------------------------------- */
/* Waits CU_OP_TIMEOUT_MS; when doc is non-NULL the result document is parsed into it. */
HRESULT cu_wait_op(HCS_OPERATION op, hj_value **doc);
typedef HRESULT (*cu_sys_fn)(HCS_SYSTEM, HCS_OPERATION, PCWSTR);
/* New operation, call, wait; returns the sync failure or the operation's result. */
HRESULT cu_sys_call(cu_sys_fn fn, HCS_SYSTEM sys, PCWSTR options, hj_value **doc);
HRESULT cu_modify(HCS_SYSTEM sys, PCWSTR settings, hj_value **doc);
/* Creates a system and waits for the create. On any failure *out is NULL (a handle
 * produced by an asynchronously failing create is closed). */
HRESULT cu_create(PCWSTR id, const char *cfg_utf8, HCS_SYSTEM *out);
HRESULT cu_create_ns(PCWSTR ns, PCWSTR id, const char *cfg_utf8, HCS_SYSTEM *out);
/* cu_create + Start. On failure *out is NULL and the system is terminated. */
HRESULT cu_create_running(PCWSTR id, const char *cfg_utf8, HCS_SYSTEM *out);
/* HcsGetComputeSystemProperties with query (may be NULL); NULL on failure. */
hj_value *cu_props(HCS_SYSTEM sys, PCWSTR query);
/* Properties.State, or "" (arena). */
const char *cu_state(HCS_SYSTEM sys);
/* Terminate (result ignored) and close. NULL-safe. */
void cu_kill_close(HCS_SYSTEM sys);
/* Enumerate (query may be NULL); returns the parsed array or NULL. */
hj_value *cu_enum(PCWSTR ns, PCWSTR query, HRESULT *hr);
/* Sets a completion delay of delay_ms on fn_name, then starts fn(sys, op, options) on a
 * new operation, which must be accepted and pending; the operation, or NULL. The delay
 * stays set (clear it with HcsimSetDelay(fn_name, 0, 0) or the next cu_begin). */
HCS_OPERATION cu_start_delayed(const char *fn_name, cu_sys_fn fn, HCS_SYSTEM sys, PCWSTR options,
                               unsigned delay_ms);
#define CU_START_DELAYED(fn, sys, options, delay_ms) \
    cu_start_delayed(#fn, fn, sys, options, delay_ms)
/* The items sorted and comma-joined (arena). */
const char *cu_sorted_join(const char **items, size_t n);

/* ---- processes ------------------------------------------------------------------------ */
typedef HRESULT (*cu_proc_fn)(HCS_PROCESS, HCS_OPERATION, PCWSTR);
HRESULT cu_proc_call(cu_proc_fn fn, HCS_PROCESS p, PCWSTR options, hj_value **doc);
HRESULT cu_proc_info(HCS_PROCESS p, HCS_PROCESS_INFORMATION *pi);
/* HcsCreateProcess + WaitForOperationResultAndProcessInfo. On failure *p is NULL. */
HRESULT cu_spawn(HCS_SYSTEM sys, const char *params_utf8, HCS_PROCESS *p,
                 HCS_PROCESS_INFORMATION *pi);
int cu_present(HANDLE h); /* neither NULL nor INVALID_HANDLE_VALUE */
void cu_close_pi(HCS_PROCESS_INFORMATION *pi);
/* Writes all of s to the pipe handle; 0 on success. */
int cu_write(HANDLE h, const char *s);
/* Reads until needle appears (needle NULL: until EOF) or timeout; NUL-terminates buf.
 * Returns the byte count, or -1 on a bad handle. *eof set when EOF was seen. */
ssize_t cu_read(HANDLE h, char *buf, size_t cap, const char *needle, unsigned timeout_ms, int *eof);
/* GetProcessProperties (NULL query); NULL on failure. */
hj_value *cu_pstatus(HCS_PROCESS p);
/* Polls GetProcessProperties until Exited is true; returns that status or NULL. */
hj_value *cu_wait_pexit(HCS_PROCESS p, unsigned timeout_ms);
/* 1 when a ProcessStatus document has Exited == exited, ProcessId == pid (unless pid is
 * 0), ExitCode == exit_code (unless exit_code < 0) and LastWaitResult 0 (when exited);
 * each mismatch is printed. */
int cu_pstatus_is(const hj_value *st, int exited, int64_t exit_code, DWORD pid);
/* Polls until no host process of hcsim is left (HCSIM_COUNTS.Processes == 0). */
int cu_wait_no_processes(unsigned timeout_ms);

/* ---- event queues (HCS_EVENT_CALLBACK recorders) -------------------------------------- */
typedef struct cu_event {
    uint32_t type;
    char16_t *data; /* copy of EventData, NULL if none */
    HCS_OPERATION op;
    pthread_t thread;
    HRESULT op_hr; /* HcsGetOperationResult(op) inside the callback, if op */
} cu_event;

typedef struct cu_evq {
    uint32_t magic;
    pthread_mutex_t m;
    pthread_cond_t c;
    cu_event *ev;
    size_t n, cap;
    unsigned sleep_ms; /* each callback sleeps this long (after recording) */
    int closed;        /* set by the test once the handle's Close returned */
    int late;          /* callbacks that started after closed was set */
    int running;       /* callbacks currently executing */
    int finished;      /* callbacks that returned */
    /* Set before the queue is registered: runs inside each callback, after the event is
     * copied and before it is recorded (so a waiter sees its effects), e.g. a client that
     * closes event->Operation there. */
    void (*hook)(HCS_EVENT *event, void *arg);
    void *hook_arg;
} cu_evq;

cu_evq *cu_evq_new(void);
void CALLBACK cu_evq_cb(HCS_EVENT *event, void *context);
/* A new queue installed as the event callback of a system or a process handle (the
 * HcsSet*Callback call is checked). */
cu_evq *cu_watch_system(HCS_SYSTEM sys, HCS_EVENT_OPTIONS options);
cu_evq *cu_watch_process(HCS_PROCESS p, HCS_EVENT_OPTIONS options);
/* The parsed EventData of the nth event of type, waiting CU_EVENT_TIMEOUT_MS; NULL when
 * it did not arrive or carries no data. */
hj_value *cu_evq_wait_json(cu_evq *q, uint32_t type, size_t nth);
/* Index of the nth (0-based) event of type, waiting up to timeout_ms; -1 if none. */
int cu_evq_wait(cu_evq *q, uint32_t type, size_t nth, unsigned timeout_ms);
size_t cu_evq_count(cu_evq *q, uint32_t type);
size_t cu_evq_total(cu_evq *q);
cu_event cu_evq_at(cu_evq *q, size_t i);    /* copy; data pointer stays owned by q */
hj_value *cu_evq_json(cu_evq *q, size_t i); /* parsed EventData (arena), NULL if none */
void cu_evq_mark_closed(cu_evq *q);
int cu_evq_late(cu_evq *q);
/* Waits until at least one callback is executing (for close-waits-for-callback tests). */
int cu_evq_wait_running(cu_evq *q, unsigned timeout_ms);
int cu_evq_finished(cu_evq *q);

/* ---- operation completion recorders (HCS_OPERATION_COMPLETION) ------------------------ */
typedef struct cu_opcb {
    uint32_t magic;
    pthread_mutex_t m;
    pthread_cond_t c;
    int calls;
    pthread_t thread;
    HCS_OPERATION op;        /* operation passed to the last call */
    HCS_OPERATION_TYPE type; /* HcsGetOperationType inside the callback */
    HRESULT hr;              /* HcsGetOperationResult inside the callback */
    int doc_is_null;
    int close_in_cb; /* call HcsCloseOperation inside the callback */
} cu_opcb;

cu_opcb *cu_opcb_new(int close_in_cb);
void CALLBACK cu_opcb_fn(HCS_OPERATION op, void *context);
int cu_opcb_wait(cu_opcb *r, int calls, unsigned timeout_ms); /* 1 if calls reached */
int cu_opcb_calls(cu_opcb *r);

#endif
