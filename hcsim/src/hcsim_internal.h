/* hcsim internals shared by the emulator's source files.
 *
 * Concurrency model (see README.md "Design"):
 *  - one global emulator lock (G.lock) protects every object below; it is never held
 *    while a caller's callback runs, while sleeping, or while spawning a process;
 *  - a fixed pool of worker threads executes tasks from a timed queue (a min-heap by
 *    due time), so a delayed completion occupies no thread;
 *  - strands are per-object serial queues executed by the pool: every handle has one
 *    (its events and completions are delivered in order, never concurrently) and every
 *    compute system has one (its operations' work runs in issue order). */
#ifndef HCSIM_INTERNAL_H
#define HCSIM_INTERNAL_H

#include "hcsim.h"
#include "json.h"
#include "plat.h"

#include <stdint.h>
#include <stddef.h>

/* ---- the exported functions, for faults, delays, hidden exports ---------------- */
/* Flags: SVC = talks to the compute service (fails after a service disconnect, matched
 * by "*" in HcsimFailNext/HcsimSetDelay); OP = takes an HCS_OPERATION (async faults);
 * STO = computestorage (matched by "*", unaffected by a service disconnect). */
#define FN_SVC  1u
#define FN_OP   2u
#define FN_STO  4u
#define FN_NOHR 8u  /* does not return an HRESULT (no faults) */
#define FN_HCN  16u /* computenetwork (matched by "*"; sync faults only) */

/* Every export, grouped by its flags: X(name, flags). */
/* The table keeps its own layout. */
/* clang-format off */
#define HCSIM_FUNCTIONS(X)                                                                         \
    /* service calls that take an operation (async faults, completion delays) */                   \
    X(HcsEnumerateComputeSystems, FN_SVC | FN_OP)                                                  \
    X(HcsEnumerateComputeSystemsInNamespace, FN_SVC | FN_OP)                                       \
    X(HcsCreateComputeSystem, FN_SVC | FN_OP) X(HcsCreateComputeSystemInNamespace, FN_SVC | FN_OP) \
    X(HcsStartComputeSystem, FN_SVC | FN_OP) X(HcsShutDownComputeSystem, FN_SVC | FN_OP)           \
    X(HcsTerminateComputeSystem, FN_SVC | FN_OP) X(HcsCrashComputeSystem, FN_SVC | FN_OP)          \
    X(HcsPauseComputeSystem, FN_SVC | FN_OP) X(HcsResumeComputeSystem, FN_SVC | FN_OP)             \
    X(HcsSaveComputeSystem, FN_SVC | FN_OP) X(HcsGetComputeSystemProperties, FN_SVC | FN_OP)       \
    X(HcsModifyComputeSystem, FN_SVC | FN_OP) X(HcsCreateProcess, FN_SVC | FN_OP)                  \
    X(HcsTerminateProcess, FN_SVC | FN_OP) X(HcsSignalProcess, FN_SVC | FN_OP)                     \
    X(HcsGetProcessInfo, FN_SVC | FN_OP) X(HcsGetProcessProperties, FN_SVC | FN_OP)                \
    X(HcsModifyProcess, FN_SVC | FN_OP)                                                            \
    X(HcsInitializeLiveMigrationOnSource, FN_SVC | FN_OP)                                          \
    X(HcsStartLiveMigrationOnSource, FN_SVC | FN_OP)                                               \
    X(HcsStartLiveMigrationTransfer, FN_SVC | FN_OP)                                               \
    X(HcsFinalizeLiveMigration, FN_SVC | FN_OP) X(HcsCancelLiveMigration, FN_SVC | FN_OP)          \
    /* service calls without an operation */                                                       \
    X(HcsGetProcessorCompatibilityFromSavedState, FN_SVC) X(HcsOpenComputeSystem, FN_SVC)          \
    X(HcsOpenComputeSystemInNamespace, FN_SVC) X(HcsWaitForComputeSystemExit, FN_SVC)              \
    X(HcsSetComputeSystemCallback, FN_SVC) X(HcsOpenProcess, FN_SVC)                               \
    X(HcsSetProcessCallback, FN_SVC) X(HcsWaitForProcessExit, FN_SVC)                              \
    X(HcsGetServiceProperties, FN_SVC) X(HcsModifyServiceSettings, FN_SVC)                         \
    X(HcsSubmitWerReport, FN_SVC) X(HcsCreateEmptyGuestStateFile, FN_SVC)                          \
    X(HcsCreateEmptyRuntimeStateFile, FN_SVC) X(HcsGrantVmAccess, FN_SVC)                          \
    X(HcsRevokeVmAccess, FN_SVC) X(HcsGrantVmGroupAccess, FN_SVC)                                  \
    X(HcsRevokeVmGroupAccess, FN_SVC)                                                              \
    /* local operation functions that return an HRESULT */                                         \
    X(HcsSetOperationContext, 0) X(HcsGetOperationResult, 0)                                       \
    X(HcsGetOperationResultAndProcessInfo, 0) X(HcsWaitForOperationResult, 0)                      \
    X(HcsWaitForOperationResultAndProcessInfo, 0) X(HcsSetOperationCallback, 0)                    \
    X(HcsCancelOperation, 0) X(HcsAddResourceToOperation, 0) X(HcsGetOperationProperties, 0)       \
    /* local functions without an HRESULT (never faulted) */                                       \
    X(HcsCreateOperation, FN_NOHR) X(HcsCreateOperationWithNotifications, FN_NOHR)                 \
    X(HcsCloseOperation, FN_NOHR)                                                                  \
    X(HcsGetOperationContext, FN_NOHR) X(HcsGetComputeSystemFromOperation, FN_NOHR)                \
    X(HcsGetProcessFromOperation, FN_NOHR) X(HcsGetOperationType, FN_NOHR)                         \
    X(HcsGetOperationId, FN_NOHR) X(HcsCloseComputeSystem, FN_NOHR) X(HcsCloseProcess, FN_NOHR)    \
    /* computestorage */                                                                           \
    X(HcsImportLayer, FN_STO) X(HcsExportLayer, FN_STO) X(HcsExportLegacyWritableLayer, FN_STO)    \
    X(HcsDestroyLayer, FN_STO) X(HcsSetupBaseOSLayer, FN_STO)                                      \
    X(HcsInitializeWritableLayer, FN_STO) X(HcsInitializeLegacyWritableLayer, FN_STO)              \
    X(HcsAttachLayerStorageFilter, FN_STO) X(HcsDetachLayerStorageFilter, FN_STO)                  \
    X(HcsFormatWritableLayerVhd, FN_STO) X(HcsGetLayerVhdMountPath, FN_STO)                        \
    X(HcsSetupBaseOSVolume, FN_STO)                                                                \
    X(HcsAttachOverlayFilter, FN_STO) X(HcsDetachOverlayFilter, FN_STO)                            \
    /* virtdisk (local to the caller: never forwarded to the service; faults as Win32 codes) */    \
    X(CreateVirtualDisk, FN_STO) X(OpenVirtualDisk, FN_STO) X(AttachVirtualDisk, FN_STO)           \
    X(DetachVirtualDisk, FN_STO) X(GetVirtualDiskPhysicalPath, FN_STO)                             \
    X(GetVirtualDiskInformation, FN_STO)                                                           \
    /* computenetwork (network.c; README "Host Compute Network") */                               \
    X(HcnEnumerateNetworks, FN_HCN) X(HcnCreateNetwork, FN_HCN) X(HcnOpenNetwork, FN_HCN)          \
    X(HcnModifyNetwork, FN_HCN) X(HcnQueryNetworkProperties, FN_HCN) X(HcnDeleteNetwork, FN_HCN)   \
    X(HcnCloseNetwork, FN_HCN)                                                                     \
    X(HcnEnumerateNamespaces, FN_HCN) X(HcnCreateNamespace, FN_HCN) X(HcnOpenNamespace, FN_HCN)    \
    X(HcnModifyNamespace, FN_HCN) X(HcnQueryNamespaceProperties, FN_HCN)                           \
    X(HcnDeleteNamespace, FN_HCN) X(HcnCloseNamespace, FN_HCN)                                     \
    X(HcnEnumerateEndpoints, FN_HCN) X(HcnCreateEndpoint, FN_HCN) X(HcnOpenEndpoint, FN_HCN)       \
    X(HcnModifyEndpoint, FN_HCN) X(HcnQueryEndpointProperties, FN_HCN)                             \
    X(HcnQueryEndpointStats, FN_HCN) X(HcnQueryEndpointAddresses, FN_HCN)                          \
    X(HcnDeleteEndpoint, FN_HCN) X(HcnCloseEndpoint, FN_HCN)                                       \
    X(HcnEnumerateLoadBalancers, FN_HCN) X(HcnCreateLoadBalancer, FN_HCN)                          \
    X(HcnOpenLoadBalancer, FN_HCN) X(HcnModifyLoadBalancer, FN_HCN)                                \
    X(HcnQueryLoadBalancerProperties, FN_HCN) X(HcnDeleteLoadBalancer, FN_HCN)                     \
    X(HcnCloseLoadBalancer, FN_HCN)                                                                \
    X(HcnRegisterServiceCallback, FN_HCN) X(HcnUnregisterServiceCallback, FN_HCN)                  \
    X(HcnRegisterGuestNetworkServiceCallback, FN_HCN)                                              \
    X(HcnUnregisterGuestNetworkServiceCallback, FN_HCN)                                            \
    X(HcnCreateGuestNetworkService, FN_HCN) X(HcnCloseGuestNetworkService, FN_HCN)                 \
    X(HcnModifyGuestNetworkService, FN_HCN) X(HcnDeleteGuestNetworkService, FN_HCN)                \
    X(HcnReserveGuestNetworkServicePort, FN_HCN)                                                   \
    X(HcnReserveGuestNetworkServicePortRange, FN_HCN)                                              \
    X(HcnReleaseGuestNetworkServicePortReservationHandle, FN_HCN)                                  \
    X(HcnEnumerateGuestNetworkPortReservations, FN_HCN)                                            \
    X(HcnFreeGuestNetworkPortReservations, FN_HCN | FN_NOHR)
/* clang-format on */

typedef enum fn_id {
#define HCSIM_FN_ENUM(name, flags) FN_##name,
    HCSIM_FUNCTIONS(HCSIM_FN_ENUM)
#undef HCSIM_FN_ENUM
        FN_COUNT
} fn_id;

extern const char *const hc_fn_names[FN_COUNT];
extern const unsigned hc_fn_flags[FN_COUNT];
int hc_fn_lookup(const char *name); /* index, or -1 */

/* ---- the newest SDK's event options ------------------------------------------------- */
#define HC_EVENT_OPTIONS_DEFINED                        \
    ((uint32_t)HcsEventOptionEnableOperationCallbacks | \
     (uint32_t)HcsEventOptionEnableVmLifecycle |        \
     (uint32_t)HcsEventOptionEnableLiveMigrationEvents)

/* Exit codes a Windows guest reports for a process ended from outside: terminated
 * (ERROR_PROCESS_ABORTED) or ended by a console control event it did not handle
 * (STATUS_CONTROL_C_EXIT). */
#define HC_EXIT_PROCESS_ABORTED 1067u
#define HC_EXIT_CONTROL_C       0xC000013Au

/* HRESULT_FROM_WIN32 of ERROR_PATH_NOT_FOUND (3) and ERROR_NOT_SUPPORTED (50), which
 * hcsim_win32.h does not name. */
#define HC_E_PATH_NOT_FOUND ((HRESULT)0x80070003u)
#define HC_E_NOT_SUPPORTED  ((HRESULT)0x80070032u)
/* Service mode: the socket path exists and is not a socket, ERROR_FILE_EXISTS (80), for the
 * service and its clients alike (README "Service mode"). */
#define HC_E_NOT_A_SOCKET ((HRESULT)0x80070050u)

/* ---- objects ---------------------------------------------------------------------- */
enum {
    K_OP = 1, /* HCS_OPERATION */
    K_SYSH,   /* HCS_SYSTEM */
    K_PROCH,  /* HCS_PROCESS */
    K_PIPE,   /* pipe HANDLE */
    K_DOC,    /* returned document (registry only) */
    K_SYSTEM, /* compute system (internal) */
    K_PROC,   /* host process (internal) */
    K_VHD,    /* virtual disk handle (virtdisk.c) */
    K_HCNDOC, /* a computenetwork string (registry of documents only; CoTaskMemFree) */
    K_HCN,    /* an HCN_* handle (network.c) */
    K_HCNCB,  /* an HCN_CALLBACK (network.c) */
    K_HCNPORT /* a port reservation HANDLE (network.c) */
};

#define HC_MAGIC 0x48435349u /* "HCSI" */

typedef struct hc_obj {
    uint32_t magic;
    uint32_t kind;
    int refs;
    uintptr_t token; /* the handle value given to the caller (never reused) */
} hc_obj;

/* Hash table keyed by pointer-sized values (open addressing, linear probing). */
typedef struct hc_table {
    uintptr_t *keys;
    void **vals;
    uint8_t *kinds;
    size_t cap, used, tomb;
} hc_table;

typedef struct hc_item hc_item;
struct hc_item {
    hc_item *next;
    void (*run)(hc_item *it); /* called without the lock; frees the item */
};

typedef struct hc_strand {
    hc_item *head, *tail;
    hc_obj *owner; /* kept alive (one ref) while scheduled */
    int scheduled;
    int in_cb;            /* an event callback of the owner handle is running */
    uint64_t running_tid; /* worker thread running the strand, 0 if none */
} hc_strand;

/* Intrusive doubly linked lists through the members prev/next; head is an lvalue. */
#define HC_LIST_PUSH(head, x)         \
    do {                              \
        (x)->prev = NULL;             \
        (x)->next = (head);           \
        if (head) (head)->prev = (x); \
        (head) = (x);                 \
    } while (0)
#define HC_LIST_UNLINK(head, x)                     \
    do {                                            \
        if ((x)->prev)                              \
            (x)->prev->next = (x)->next;            \
        else                                        \
            (head) = (x)->next;                     \
        if ((x)->next) (x)->next->prev = (x)->prev; \
        (x)->prev = (x)->next = NULL;               \
    } while (0)

/* What HCS_SYSTEM and HCS_PROCESS handles share: the event callback slot, the strand
 * their events and completions are delivered on, and the owner's list of open handles. */
typedef struct hc_evh hc_evh;
struct hc_evh {
    hc_obj hdr;
    hc_strand st;
    HCS_EVENT_CALLBACK cb;
    void *ctx;
    uint32_t opts;
    int cb_set, closed;
    int term_sent;       /* the terminal event (SystemExited/ProcessExited) was posted */
    hc_evh *prev, *next; /* in *list */
    hc_evh **list;       /* the owner's list of open handles */
    uint32_t *count;     /* the HCSIM_COUNTS member counting them */
    uint64_t rid;        /* remote.c: the service's handle id of a client-mode shadow, else 0 */
};

typedef struct hc_system hc_system;
typedef struct hc_mig hc_mig;
typedef struct hc_sysh hc_sysh;
typedef struct hc_proc hc_proc;
typedef struct hc_proch hc_proch;
typedef struct hc_op hc_op;

typedef enum { OP_NOT_STARTED, OP_PENDING, OP_COMPLETED } op_state;

struct hc_op {
    hc_obj hdr;
    const void *ctx;
    HCS_OPERATION_COMPLETION cb;
    op_state state;
    HCS_OPERATION_TYPE type;
    HRESULT hr;
    char16_t *result; /* private copy of the result document */
    uint64_t id;
    uint32_t gen; /* incremented by every call that starts the operation */
    int closed;
    int in_cb;           /* its completion callback is running ... */
    uint64_t cb_tid;     /* ... on this thread */
    hc_sysh *sh;         /* handle the tracked call used (ref) */
    hc_proch *ph;        /* process handle the tracked call used (ref) */
    hc_proc *pinfo;      /* process whose info the result carries (ref) */
    hc_system *pend_sys; /* system the pending work belongs to (compare only) */
    hc_op *prev, *next;  /* in G.pending while pending */
    int in_pending;
    /* opnotify.c: HcsCreateOperationWithNotifications, resources, properties */
    HCS_EVENT_CALLBACK ecb; /* its events (completion, progress) go here, on est */
    uint32_t eopts;         /* HCS_OPERATION_OPTIONS */
    hc_strand est;
    struct hc_opres *res; /* HcsAddResourceToOperation, newest first */
    char start_time[40], end_time[40];
};

typedef enum {
    SS_CREATING,
    SS_FAILED,
    SS_CREATED,
    SS_RUNNING,
    SS_PAUSED,
    SS_TEMPLATE,
    SS_STOPPED
} sys_state;

/* A session plat_spawn started for a process of a system (sid = the leader's pid). It is
 * tracked (and registered with the platform guard) from the spawn until the system's exit
 * kills its tree, or until its leader has exited and its process group is empty. */
typedef struct hc_session {
    int64_t sid;
    int leader_exited;
} hc_session;

struct hc_system {
    hc_obj hdr;
    hc_strand work; /* operations' work, in issue order */
    char *ns, *id;
    hj_value *config;
    sys_state state;
    int in_table;
    hc_system *tnext;
    int is_vm, is_linux, terminate_on_close;
    int has_guest; /* a container or hosted system, or a VM with a GuestConnection */
    char *owner, *hosting_id, *template_id, *restore_path;
    char runtime_id[37];
    char system_guid[37]; /* the SystemGUID property */
    uint64_t mem_mb;
    uint32_t cpu_count;
    uint64_t start_ms;     /* monotonic ms at start */
    char start_time[40];   /* wall-clock date-time at start */
    const char *exit_type; /* after exit */
    hj_value *exit_status; /* SystemExitStatus after exit */
    hc_evh *handles;       /* open HCS_SYSTEM handles */
    hc_proc *procs;        /* processes started in it */
    hc_mig *mig;           /* its live migration (migration.c), NULL when none */
    hc_session *sess;      /* sessions of its processes that may still have members */
    size_t nsess, capsess;
    int prune_posted;   /* a task checks its sessions whose leaders have exited */
    size_t prune_floor; /* such sessions the last check found still occupied */

    /* latency.c: its profiled operations waiting for their due time (NULL: none) */
    struct hc_latency_queue *latency;
};

struct hc_sysh {
    hc_evh ev;
    hc_system *sys; /* ref */
};

typedef enum { PS_CREATING, PS_FAILED, PS_RUNNING, PS_EXITED } proc_state;

struct hc_proc {
    hc_obj hdr;
    hc_system *sys; /* ref */
    proc_state state;
    int64_t pid;
    int exit_code;
    plat_fd fd[3]; /* emulator's copies of the parent ends; -1 when closed */
    int is_pty;
    plat_fd pty_fd;
    int caller_handles[3]; /* live caller pipe handles per stream */
    uint16_t rows, cols;
    char *image;
    char create_time[40];
    hc_evh *handles;       /* open HCS_PROCESS handles */
    struct hc_pipe *pipes; /* caller pipe handles still open */
    hc_proc *prev, *next;  /* in sys->procs */
    int in_list;
    hj_value *params; /* until started */
    int sent_sig;     /* the signal hcsim sent to end it (terminate, signal, system exit) */
};

struct hc_proch {
    hc_evh ev;
    hc_proc *p; /* ref */
};

typedef struct hc_pipe {
    hc_obj hdr;
    plat_fd fd;
    hc_proc *p; /* ref, may be NULL */
    int stream;
    struct hc_pipe *prev, *next; /* in p->pipes */
} hc_pipe;

/* ---- global state ----------------------------------------------------------------- */
typedef struct hc_task {
    uint64_t due_ns, seq;
    void (*fn)(void *arg);
    void *arg;
} hc_task;

typedef struct hc_fault {
    uint32_t count;
    HRESULT hr;
    int mode;
} hc_fault;

typedef struct hc_delay {
    uint32_t completion_ms, sync_ms;
    int set;
} hc_delay;

typedef struct hc_global {
    plat_mutex lock;
    plat_cond work_cond; /* workers wait here */
    plat_cond op_cond;   /* an operation completed */
    plat_cond cb_cond;   /* an event callback returned */
    plat_cond exit_cond; /* a system or process exited */
    plat_cond idle_cond; /* the pool went idle */
    /* pool */
    plat_thread *threads;
    int nthreads, pool_running, pool_stop, busy;
    hc_task *heap;
    size_t heap_len, heap_cap;
    uint64_t task_seq;
    int drain; /* run every task now regardless of its due time */
    /* registries: handle token -> object, and the set of returned documents */
    hc_table handles, docs;
    uintptr_t next_token;
    /* systems */
    hc_system *table;
    hc_op *pending; /* every pending operation */
    uint64_t next_op_id;
    /* control */
    hc_fault faults[FN_COUNT];
    hc_fault fault_any;
    hc_delay delays[FN_COUNT];
    hc_delay delay_any;
    uint8_t hidden[FN_COUNT];
    int disconnected;
    int opt_workers, opt_reject_second_cb, opt_schema_minor, opt_lp_count;
    /* service state */
    hj_value *cpu_groups; /* array of CpuGroup objects */
    hj_value *ccg;        /* array of credential guard instances */
    uint32_t wer_reports;
    struct hc_grant *grants; /* the access list of HcsGrantVmAccess & co. (service.c) */
    size_t ngrants, capgrants;
    HCSIM_COUNTS counts;
    struct hn_state *hcn; /* computenetwork's objects (network.c), NULL until first used */
    /* sessions waiting for their tree kill (process.c), batched into one pool task; in G
     * so that a fork() child, whose G is cleared, never inherits a task it does not have */
    int64_t *sweep;
    size_t nsweep, capsweep;
    int sweep_posted;
    unsigned sweep_attempt; /* failed tree kills of the current batch (retried later) */
#if PLAT_HOST_RELEASES
    /* what the caller releases with the host's LocalFree / CloseHandle (docs.c) */
    struct hc_handout *handouts;
    size_t nhandouts, caphandouts;
    uint64_t next_tag;
    int stream_watch_posted; /* process.c: the task noticing closed caller handles */
#endif
} hc_global;

extern hc_global G;

/* core.c */
void hc_init(void); /* lazy, idempotent */
void hc_lock(void);
void hc_unlock(void);
/* Handles are opaque tokens (never reused), mapped to objects under the lock, so a stale
 * or foreign handle value is always detected. */
int hc_reg_add(void *obj, int kind);            /* assigns obj's token; 0 or -1 */
void *hc_reg_get(const void *handle, int kind); /* object or NULL */
int hc_reg_known(const void *handle);           /* any live handle */
void hc_reg_del(void *obj);
void hc_reg_each(int kind, void (*fn)(void *obj));
#define HC_HANDLE(obj) ((void *)((hc_obj *)(obj))->token)
int hc_doc_add(void *doc); /* 0 or -1 */
int hc_doc_del(void *doc); /* 1 if it was ours (an HCS document, kind K_DOC) */
/* Documents of another kind (K_HCNDOC: what CoTaskMemFree releases): add, kind (0: none),
 * delete when of that kind (1 if it was). */
int hc_doc_add_kind(void *doc, int kind);
int hc_doc_kind(const void *doc);
int hc_doc_del_kind(void *doc, int kind);
void *hc_obj_new(size_t size, int kind);
void hc_ref(void *o);
void hc_unref(void *o); /* under lock; frees at zero */
char *hc_u8(PCWSTR s);  /* UTF-16 -> malloc'd UTF-8, NULL on NULL/invalid */
char *hc_strdup(const char *s);
int hc_in_worker(void); /* the calling thread is a pool worker */
void hc_mark_worker(void);
void hc_wall_time(char out[40]); /* current UTC date-time, RFC 3339 */
HRESULT hc_hr_from_errno(int err);
/* A path argument: non-empty UTF-16 converted to malloc'd UTF-8 (trailing '/' removed
 * when strip_slash); E_INVALIDARG otherwise. */
HRESULT hc_path_arg(PCWSTR p, int strip_slash, char **out);
/* Whether path is absolute: on Windows a drive (C:\ or C:/) or rooted (\\server\share,
 * \x or /x: hcsim's own tests name /tmp files), elsewhere one starting with '/'. HCS
 * resolves paths in the compute service, not in the caller's directory, so a relative one
 * names no file of the caller's. */
int hc_is_absolute_path(const char *p);
/* Under lock: one wait on c, at most until deadline_ms (plat_now_ms), forever when
 * infinite. Returns 0 without waiting once the deadline has passed, else 1. */
int hc_wait_until(plat_cond *c, uint64_t deadline_ms, int infinite);

/* Entry protocol of every export: lazy init, hidden export, disconnect, sync fault,
 * sync delay. Returns S_OK to proceed or the HRESULT the export must return. */
typedef struct hc_call {
    fn_id fn;
    HRESULT async_fault; /* S_OK or the HRESULT the operation must complete with */
    uint32_t completion_ms;
    int profiled; /* completion_ms is the latency profile's (kept in issue order) */
} hc_call;
HRESULT hc_enter(fn_id fn, hc_call *call);
HRESULT hc_enter_sync(fn_id fn); /* the same for a function without an operation */
/* Marks that control state (faults, delays, hidden exports, disconnect) may be set, so
 * hc_enter must consult it; cleared by HcsimReset. */
void hc_control_touched(int on);

/* latency.c: the latency profiles (README "Latency profiles") */
enum { HC_LATENCY_INSTANT = 0, HC_LATENCY_REALISTIC = 1 };
void hc_latency_from_env(void); /* profile and seed from the environment (defaults) */
int hc_latency_profile_named(const char *name); /* HC_LATENCY_*, or -1 */
void hc_latency_set_profile(int profile);
int hc_latency_profile(void);
void hc_latency_set_seed(uint64_t seed);
uint64_t hc_latency_seed(void);
/* The completion latency of one call of fn under the current profile (its figure plus
 * the seeded jitter); 0 when the profile or fn has none. */
uint32_t hc_latency_pick(fn_id fn);
uint32_t hc_latency_figure(fn_id fn); /* the realistic profile's figure of fn, in ms */
/* Under lock: runs fn(arg) (on a pool thread, without the lock) once the call's
 * completion latency has passed. The profiled calls of one system run in issue order
 * (sys may be NULL: no order to keep). */
typedef struct hc_latency_queue hc_latency_queue;
void hc_latency_post(hc_system *sys, const hc_call *call, void (*fn)(void *), void *arg);

/* pool.c */
void hc_pool_post(uint64_t delay_ns, void (*fn)(void *), void *arg); /* under lock */
/* Under lock: the same, due at due_ns (plat_now_ns). */
void hc_pool_post_at(uint64_t due_ns, void (*fn)(void *), void *arg);
void hc_strand_init(hc_strand *s, hc_obj *owner);
void hc_strand_post(hc_strand *s, hc_item *it); /* under lock */
void hc_pool_quiesce(void); /* under lock: run everything now, wait until idle */
void hc_pool_stop(void);    /* under lock: join workers (drops the lock meanwhile) */
int hc_pool_idle(void);

/* docs.c: returned documents */
PWSTR hc_doc_from_utf16(const char16_t *s); /* under lock: copy + register + count */
PWSTR hc_doc_from_json(const hj_value *v);  /* under lock */
#if PLAT_HOST_RELEASES
/* Under lock (docs.c). hc_stream_add records hcsim's end of a stream (0 or -1);
 * hc_stream_retire: hcsim is done with it (closed once the caller's handles are gone);
 * hc_streams_sweep closes the retired ones whose caller handles are gone (1 while some
 * are still held; the stream watch calls it); hc_stream_of: 1 when h is a handle of a
 * recorded stream; hc_handouts_recount sets G.counts.PipeHandles / Documents to what the
 * caller still holds. The records are also pruned when they fill up. */
int hc_stream_add(plat_fd end);
void hc_stream_retire(plat_fd end);
int hc_streams_sweep(void);
int hc_stream_of(HANDLE h);
void hc_stream_watch(void); /* process.c: (re)starts the watch of handed-out streams */
void hc_handouts_recount(void);
#endif
hj_value *hc_result_error(HRESULT hr, const char *msg);
char16_t *hc_result_error_u16(HRESULT hr, const char *msg);
/* A ResultError whose Attribution is one OperationFailure with that Detail. */
hj_value *hc_result_error_attributed(HRESULT hr, const char *msg, const char *detail);
hj_value *hc_parse(PCWSTR s); /* NULL on NULL or malformed */
/* An options or query argument: an empty string means "no options", as NULL does
 * (clients such as hcsshim pass L"" for every call they have nothing to say to). */
static inline PCWSTR hc_opt(PCWSTR s) { return s && s[0] ? s : NULL; }

/* operation.c */
typedef struct hc_work hc_work;
typedef hj_value *(*hc_work_fn)(hc_work *w, HRESULT *hr);
struct hc_work {
    hc_op *op;
    uint32_t gen;
    hc_system *sys; /* ref: work runs on its strand; NULL = directly */
    hc_work_fn fn;
    void (*abandon)(hc_work *w); /* under lock, when the work is skipped or faulted */
    HRESULT fault;
    hc_sysh *sh; /* refs */
    hc_proch *ph;
    hj_value *args; /* parsed options (owned) */
    char16_t *raw;  /* raw text when needed (owned) */
    char *s1;       /* a string (owned) */
    hc_proc *proc;  /* ref */
};
/* Validates op and the rules of the handle h (may be NULL) the call uses; returns S_OK
 * or a sync failure. */
HRESULT hc_op_check(hc_op *op, const hc_evh *h);
/* Starts op (already checked, under lock) with the given work. Takes ownership of w. */
void hc_op_begin(hc_op *op, HCS_OPERATION_TYPE type, hc_call *call, hc_work *w);
hc_work *hc_work_new(hc_work_fn fn, hc_system *sys, hc_sysh *sh, hc_proch *ph);
void hc_work_free(hc_work *w); /* under lock; NULL-safe */
/* The whole body of an export taking (handle, operation, options document): entry
 * protocol, handle (K_SYSH or K_PROCH) and operation checks, a private copy of the
 * options, and the work fn queued on the handle's system. */
HRESULT hc_op_call(fn_id fn, HCS_OPERATION_TYPE type, hc_work_fn work, int kind, const void *handle,
                   HCS_OPERATION operation, PCWSTR options);
/* Or'ed into kind: the work runs outside the system's strand (e.g. a cancel, which must
 * reach work in progress there). */
#define HC_CALL_DIRECT 0x100
/* Defines such an export: its name, handle type and kind, operation type and work. */
#define HC_OP_EXPORT(name, handle_type, kind, type, work)                              \
    HRESULT WINAPI name(handle_type handle, HCS_OPERATION operation, PCWSTR options) { \
        return hc_op_call(FN_##name, type, work, kind, handle, operation, options);    \
    }
/* Completes op with hr/doc if it still tracks gen (under lock). Takes doc. */
void hc_op_complete(hc_op *op, uint32_t gen, HRESULT hr, char16_t *doc, hc_proc *pinfo);
void hc_op_fail_pending(hc_system *sys, hc_op *except, HRESULT hr); /* under lock */
void hc_op_fail_all_pending(HRESULT hr);                            /* under lock */
void hc_op_free(hc_op *op);
/* The body of HcsCreateOperation and HcsCreateOperationWithNotifications (fn): a new
 * registered operation with a completion callback or an event callback and its options. */
HCS_OPERATION hc_op_create(fn_id fn, const void *context, HCS_OPERATION_COMPLETION callback,
                           HCS_EVENT_CALLBACK events, uint32_t options);

/* opnotify.c (under lock): hc_opn_begin and hc_opn_complete are the hooks of
 * hc_op_begin / hc_op_complete (timestamps, progress, the completion event of an operation
 * with notifications: 1 when it took the completion); hc_opn_progress reports progress of
 * op's current run (gen) to its event callback; hc_op_socket: a copy of op's socket
 * resource of that URI, or PLAT_NO_FD; hc_opn_free releases op's resources. */
void hc_opn_begin(hc_op *op, uint32_t completion_ms);
int hc_opn_complete(hc_op *op);
void hc_opn_progress(hc_op *op, uint32_t gen, uint32_t percent);
plat_fd hc_op_socket(hc_op *op, const char *uri);
void hc_opn_free(hc_op *op);
const char *hc_op_type_name(HCS_OPERATION_TYPE type); /* OperationType of the schema */

/* events.c: event handles (hc_evh) and delivery; everything under the lock unless the
 * function is an export body (those take the handle value and lock themselves). */
/* A new registered handle object (size bytes, kind K_SYSH/K_PROCH) in *list, counted in
 * *count; NULL when out of memory. */
void *hc_evh_new(size_t size, int kind, hc_evh **list, uint32_t *count);
/* Unregisters h (closed, out of its list, no longer counted); nothing is delivered to it
 * afterwards. hc_evh_release then waits for its callback running on another thread and
 * drops the handle's reference. */
void hc_evh_unlink(hc_evh *h);
void hc_evh_release(hc_evh *h);
/* 1 when operation completions go to h as HcsEventOperationCallback. */
int hc_evh_op_events(const hc_evh *h);
/* Export bodies: HcsClose* (after_unlink, if any, runs under the lock once the handle
 * is unlinked), HcsSet*Callback, and HcsWaitFor*Exit, where exited(h, result) returns
 * S_FALSE while the object runs, else the answer (and on S_OK the result document). */
void hc_evh_close(fn_id fn, const void *handle, int kind, void (*after_unlink)(hc_evh *h));
/* terminal(h, &type): the payload (owned) of the terminal event of the object h refers
 * to once that has ended, else NULL; a registration after the end gets that event once. */
typedef hj_value *(*hc_terminal_fn)(hc_evh *h, HCS_EVENT_TYPE *type);
HRESULT hc_evh_set_callback(fn_id fn, const void *handle, int kind, HCS_EVENT_OPTIONS options,
                            const void *context, HCS_EVENT_CALLBACK callback,
                            hc_terminal_fn terminal);
/* 0 when options has a bit the current SDK does not define. */
int hc_event_options_valid(uint32_t options);
HRESULT hc_evh_wait_exit(fn_id fn, const void *handle, int kind, DWORD timeout_ms, PWSTR *result,
                         HRESULT (*exited)(hc_evh *h, PWSTR *result));
/* Posts an event to h if it has a callback (data copied; op may be NULL), or to every
 * handle of a list (payload serialised once; may be NULL). */
void hc_event_post(hc_evh *h, HCS_EVENT_TYPE type, const char16_t *data, hc_op *op);
void hc_event_list(hc_evh *list, HCS_EVENT_TYPE type, const char16_t *data);
void hc_event_list_json(hc_evh *list, HCS_EVENT_TYPE type, const hj_value *payload);
/* The terminal event (SystemExited, ProcessExited) to every handle of a list: as
 * hc_event_list_json, and each handle with a callback is marked as having had it. */
void hc_event_terminal(hc_evh *list, HCS_EVENT_TYPE type, const hj_value *payload);
void hc_op_done_item(hc_op *op, uint32_t gen, hc_strand *s); /* under lock */

/* system.c */
hc_sysh *hc_sysh_get(HCS_SYSTEM h);                     /* under lock: validated handle or NULL */
hc_system *hc_sys_find(const char *ns, const char *id); /* in table */
/* Sets s's state (under lock); a VM's handles registered with HcsEventOptionEnableVmLifecycle
 * get HcsEventGroupVmLifecycle {"State": <the State property's name>} for every change. */
void hc_sys_set_state(hc_system *s, sys_state st);
/* Ends s (under lock): SystemExited to its handles, processes killed, pending operations
 * other than except failed. worker: attribute to a worker exit instead of SystemExit. */
void hc_sys_exit(hc_system *s, hc_op *except, const char *exit_type, HRESULT status,
                 const char *detail, const char *initiator, int worker);
void hc_sys_free(hc_system *s);
void hc_sysh_free(hc_sysh *h);
hj_value *hc_sys_properties(hc_system *s, int basic_only);
void hc_sys_reset_all(void); /* under lock */
/* Reads and checks a save-state file written by Save; NULL with *hr on failure. */
hj_value *hc_read_saved_state(const char *path, HRESULT *hr);

/* migration.c (under lock): hc_mig_end ends s's live migration when s stops (a transfer
 * in progress stops); hc_mig_start_destination is the work of a Start whose options have
 * DestinationMigrationOptions (the lock is not held). */
#define HC_MIGRATION_SOCKET_URI "hcs:/VirtualMachine/LiveMigrationSocket"
void hc_mig_end(hc_system *s);
hj_value *hc_mig_start_destination(hc_work *w, const hj_value *options, HRESULT *hr);

/* process.c */
/* Sends sig to the process group of every tracked session of s (under lock). */
void hc_proc_kill_all(hc_system *s, int sig);
/* Under lock, at the exit of s: its sessions leave it; a pool task kills their whole
 * trees (plat_kill_sessions, without the lock) and unregisters them from the guard. */
void hc_proc_sweep_sessions(hc_system *s);
void hc_proc_free(hc_proc *p);
void hc_proch_free(hc_proch *h);
void hc_pipe_free(hc_pipe *p);
hj_value *hc_proc_list(hc_system *s);
hj_value *hc_work_create_process(hc_work *w, HRESULT *hr);
int hc_cmdline_split(const char *cmd, char ***argv_out); /* count or -1 */
/* "<what>: <strerror> (errno <n>, <ENAME>)." into buf, e.g. "The process could not be
 * started: Too many open files (errno 24, EMFILE)." */
void hc_errno_text(char *buf, size_t size, const char *what, int e);
/* Fresh caller handles of p's open streams into pi (under lock). 0, or an errno value
 * (descriptors or memory exhausted) with no handle created. */
int hc_pipe_handles_for(hc_proc *p, HCS_PROCESS_INFORMATION *pi);

/* service.c */
void hc_service_reset(void); /* under lock */
/* The access list (README, "VM access"): 1 when the file at path was granted to the VM
 * vm_id or to the group of all VMs, or when path names no file (its absence is reported
 * by the caller's own check); 0 when it exists and was not granted. Takes the lock. */
int hc_access_granted(const char *vm_id, const char *path);

/* ---- client mode (remote.c, README "Service mode: the client") ----------------------- */
/* Every export the service serves begins with `if (hc_remote_active()) return
 * hc_remote_...(...);` (hc_op_call does it for the generic operation calls). */
int hc_remote_active(void); /* HcsimConnect was called (and not HcsimDisconnect) */
/* In client mode, 1 when the controls of function (HcsimFailNext, HcsimSetDelay,
 * HcsimSetExportHidden, HcsimIsExportAvailable) go to the service: "*", NULL and every
 * export it serves; the exports that stay local (operations) are controlled locally. */
int hc_remote_serves(const char *function);
/* A CALL of id (a fn_id or an hcw_ctl of wire.h) and its REPLY. The variable arguments are
 * the call's arguments in the order and of the kinds of hcw_args_of(id) (h p o d: a
 * pointer-sized handle as const void *; s: PCWSTR; b: const char *; u: uint32_t;
 * i: int64_t), then one out pointer per result of hcw_results_of(id) (h p: HCS_SYSTEM * /
 * HCS_PROCESS *; s: PWSTR *, a document of the caller's; u: uint32_t *; i: int64_t *),
 * then for HcsCreateComputeSystemInNamespace its HCS_CREATE_OPTIONS (const void *, may be
 * NULL). Returns the REPLY's HRESULT, or a local failure. */
HRESULT hc_remote_call(uint32_t id, ...);
/* HcsClose*: the local close, then the service's handle. */
void hc_remote_close(fn_id fn, const void *handle, int kind);
/* HcsSet*Callback: the local registration, then the service's (without
 * HcsEventOptionEnableOperationCallbacks: operations complete locally). */
HRESULT hc_remote_set_callback(fn_id fn, const void *handle, int kind, HCS_EVENT_OPTIONS options,
                               const void *context, HCS_EVENT_CALLBACK callback);
void hc_remote_counts(HCSIM_COUNTS *counts); /* the local counts and the service's systems */
HRESULT hc_remote_reset(void);               /* the service's reset, then the local one */
/* HcnFreeGuestNetworkPortReservations in a client: 1 if entries came from the service
 * (freed here), else 0 (the caller's own hcsim handed them out). */
int hc_remote_free_port_entries(HCN_PORT_RANGE_ENTRY *entries);
/* What client mode uses of the in-process emulator: hc_op_mark_pending (operation.c) is
 * hc_op_begin's bookkeeping without the work (under lock; sys: the system the pending
 * work belongs to, may be NULL); hc_opn_event (opnotify.c) queues an event of op's run
 * gen for its event callback (data taken); hc_opn_each_resource (opnotify.c) calls fn with
 * each of op's resources (under lock; sock: hcsim's copy of a socket, else PLAT_NO_FD);
 * hc_reset_local and hc_disconnect_handles (control.c) are HcsimReset's body and
 * HcsimDisconnectService's effect on handles and pending operations (under lock). */
void hc_op_mark_pending(hc_op *op, HCS_OPERATION_TYPE type, hc_sysh *sh, hc_proch *ph,
                        hc_system *sys, uint32_t completion_ms);
void hc_opn_event(hc_op *op, uint32_t gen, HCS_EVENT_TYPE type, char16_t *data);
void hc_opn_each_resource(hc_op *op,
                          void (*fn)(void *ctx, HCS_RESOURCE_TYPE type, const char *uri,
                                     plat_fd sock),
                          void *ctx);
HRESULT hc_reset_local(void);
void hc_disconnect_handles(void);
/* POSIX (process.c), for the service: CloseHandle of a pipe HANDLE whose descriptor was
 * sent to a client, which holds the stream from now on; with the stream's last handle
 * hcsim's end closes without a console's end of input (the client's hcsim types it when
 * the client's own handles of the stream are gone). */
BOOL hc_pipe_handed_off(HANDLE h);

/* virtdisk.c, under lock: hc_vdisk_close closes a virtual disk handle (CloseHandle; FALSE
 * when h is none); hc_vdisk_fd gives its file's descriptor and whether it was opened for
 * writing (1), or 0 when h is no virtual disk handle. */
BOOL hc_vdisk_close(HANDLE h);
int hc_vdisk_fd(const void *h, plat_fd *fd, int *writable);
/* The sharing of a disk file between the host and VMs (README "virtdisk"): whether the file
 * at path is attached on the host (virtdisk.c; takes the lock), whether a running or paused
 * VM's configuration names it (system.c; under lock). */
int hc_vdisk_attached(const char *path);
int hc_sys_vm_uses_file(const char *path);

#endif
