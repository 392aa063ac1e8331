/* hcsim's service protocol: what a client and the service (README "Service mode") say to
 * each other over a Unix stream socket. POSIX only.
 *
 * A frame is a header and a body:
 *   u32 length   bytes after this field (header rest + body), at most HCW_MAX_FRAME
 *   u16 type     hcw_type
 *   u16 nfds     descriptors passed with the frame (SCM_RIGHTS, on its first byte), <= HCW_MAX_FDS
 *   u64 seq      a call's sequence number, an operation's token or a handle id (per type)
 *   body         a sequence of fields, each a one-byte tag and its value:
 *                  'I' u64                         an integer (handles ids, flags, HRESULTs)
 *                  'S' u32 n, n UTF-16 code units  a string (no terminator on the wire)
 *                  'N'                             a NULL string
 *                  'B' u32 n, n bytes              bytes (UTF-8 names of control calls)
 *                  'F' u32 k                       the k-th descriptor of the frame
 *                  'X'                             no descriptor (a NULL HANDLE)
 * All integers little-endian. A reader never trusts a length: every field is bounds-checked
 * and a frame that does not decode exactly (wrong tag, short, trailing bytes, an 'F' index
 * out of range or used twice) is malformed; the peer that sent it is disconnected.
 *
 * Conversation: the client sends HELLO, the service answers WELCOME (hr S_OK or why not,
 * then closes). Then the client sends CALLs; each gets exactly one REPLY with the same seq.
 * A CALL whose signature has an operation ('o') is, once its REPLY said S_OK, later
 * followed by exactly one COMPLETE for the operation's token, preceded by any OPEVENTs of
 * that token. EVENTs come for the client's handle ids whose callbacks it set, NOTIFYs for
 * its HCN callback registrations. STOPPING comes when the service stops. */
#ifndef HCSIM_WIRE_H
#define HCSIM_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <uchar.h>

#define HCW_VERSION   1u
#define HCW_MAX_FRAME (16u << 20)
#define HCW_MAX_FDS   8u
#define HCW_HEADER    16u /* u32 length, u16 type, u16 nfds, u64 seq */

typedef enum hcw_type {
    /* client -> service. body: I version (HCW_VERSION), I build (hcw_build_id()), I pid */
    HCW_HELLO = 1,
    /* service -> client. body: I hr, I version, I service pid */
    HCW_WELCOME = 2,
    /* client -> service, seq = the client's call number. body: I fn (a fn_id of hcsim's
     * HCSIM_FUNCTIONS, or an HCW_CTL_* id), then the fields of that call's arguments */
    HCW_CALL = 3,
    /* service -> client, seq = the call's. body: I hr, then (whatever hr is) the fields of
     * the call's results */
    HCW_REPLY = 4,
    /* service -> client, seq = an operation token. body: I hr, S|N result document,
     * I has_process_info (0/1), then if 1: I process id, and three stdio fields F|X
     * (stdin, stdout, stderr) */
    HCW_COMPLETE = 5,
    /* service -> client, seq = an operation token: an event for an operation with
     * notifications (progress). body: I event type, S|N event data */
    HCW_OPEVENT = 6,
    /* service -> client, seq = a handle id: an event for that handle's callback.
     * body: I event type, S|N event data */
    HCW_EVENT = 7,
    /* service -> client: the service is stopping (the connection closes next). body: I hr */
    HCW_STOPPING = 8,
    /* service -> client, seq = an HCN callback registration's id ('k'): a computenetwork
     * notification for that callback. body: I notification type, I status, S|N data */
    HCW_NOTIFY = 9
} hcw_type;

/* ---- encoding ---------------------------------------------------------------------- */
typedef struct hcw_buf {
    unsigned char *p;
    size_t len, cap;
    int fds[HCW_MAX_FDS]; /* not owned: the frame sends copies */
    unsigned nfds;
    int failed; /* out of memory or too many descriptors: hcw_send refuses */
} hcw_buf;

void hcw_begin(hcw_buf *b, hcw_type type, uint64_t seq); /* b zeroed or reused after hcw_free */
void hcw_put_u64(hcw_buf *b, uint64_t v);
void hcw_put_str(hcw_buf *b, const char16_t *s); /* NUL-terminated; NULL -> 'N' */
void hcw_put_bytes(hcw_buf *b, const void *p, size_t n);
void hcw_put_fd(hcw_buf *b, int fd); /* fd < 0 -> 'X' */
/* A GUID (16 bytes, NULL: zeros) as two 'I' fields: bytes 0-7 and 8-15, little-endian. */
void hcw_put_guid(hcw_buf *b, const void *guid);
/* Sends the frame (whole, with its descriptors; EINTR retried; MSG_NOSIGNAL). 0, or -1
 * with errno. Callers serialise sends on one socket. */
int hcw_send(int sock, hcw_buf *b);
void hcw_free(hcw_buf *b);

/* ---- decoding ---------------------------------------------------------------------- */
typedef struct hcw_msg {
    hcw_type type;
    uint64_t seq;
    unsigned char *body; /* owned */
    size_t len, pos;
    int fds[HCW_MAX_FDS]; /* owned until taken (-1 once taken) */
    unsigned nfds;
    int bad; /* a get failed: the frame is malformed */
} hcw_msg;

/* Reads one frame (blocking; EINTR retried). 1: *m holds it; 0: the peer closed the
 * connection before a frame began; -1: an error or a malformed header (length, type,
 * descriptor count, descriptors that did not come), errno set. m is always safe to
 * hcw_msg_free. */
int hcw_recv(int sock, hcw_msg *m);
/* The same from memory (no descriptors may be announced): the fuzzer's entry. 1 or -1. */
int hcw_parse(const unsigned char *data, size_t len, hcw_msg *m);
/* Each get returns 1, or 0 and sets m->bad (and every later get fails too). */
int hcw_get_u64(hcw_msg *m, uint64_t *v);
int hcw_get_str(hcw_msg *m, char16_t **s); /* malloc'd, NUL-terminated; NULL for 'N' */
int hcw_get_bytes(hcw_msg *m, char **s);   /* malloc'd, NUL added; NUL inside -> bad */
int hcw_get_fd(hcw_msg *m, int *fd);       /* the caller owns *fd; -1 for 'X' */
int hcw_get_guid(hcw_msg *m, void *guid);  /* 16 bytes, as hcw_put_guid sends them */
int hcw_end(hcw_msg *m);                   /* 1 if the body was consumed exactly */
void hcw_msg_free(hcw_msg *m);             /* closes descriptors not taken */

/* A number both sides compute from the protocol version and the call tables; HELLO carries
 * it and the service refuses a client built from other tables (HCS_E_PROTOCOL_ERROR). */
uint64_t hcw_build_id(void);

/* ---- calls ------------------------------------------------------------------------- */
/* The arguments a CALL carries after "I fn", and the results its REPLY carries after
 * "I hr", one character per field group, in the export's parameter order:
 *   h  HCS_SYSTEM      I service handle id (0: none/invalid)
 *   p  HCS_PROCESS     I service handle id
 *   o  HCS_OPERATION   I token (the client's; COMPLETE/OPEVENT carry it),
 *                      I notification options (0: a plain operation; else the
 *                        HCS_OPERATION_OPTIONS of HcsCreateOperationWithNotifications),
 *                      I n resources, then n x (I type, S uri, F|X handle)
 *   s  PCWSTR          S|N
 *   u  DWORD/enum/u32  I
 *   d  HANDLE          F|X (a descriptor; the service gets its own copy)
 *   b  const char *    B (UTF-8; control calls' function/option names; NULL -> 'B' of
 *                      length 0 is NOT NULL: send "u" 0/1 presence first where NULL
 *                      is meaningful: see the control table)
 *   i  int64           I (two's complement)
 * HcsCreateComputeSystemInNamespace's HCS_CREATE_OPTIONS travel as "uu": 1 when it has a
 * callback (which the client keeps; the service registers its forwarding callback at once),
 * and its CallbackOptions (the client checks the structure's Version itself).
 * Parameters that are the client's own business are not sent: callbacks, contexts,
 * security descriptors (hcsim ignores them), and out parameters (they are results).
 * Results: h/p an id for the new handle, s an S|N returned string (the client makes its
 * own document of it), u an I.
 * computenetwork (README "Service mode", HCN): handles are the service's, as for systems:
 *   g  REFGUID         I present (0/1), I the GUID's first 8 bytes, I its last 8 (as in
 *                      memory, little-endian)
 *   n  HCN_NETWORK/NAMESPACE/ENDPOINT/LOADBALANCER/GUESTNETWORKSERVICE: I service handle
 *                      id (0: none/unknown; hcsim checks the handle's type)
 *   k  HCN_CALLBACK    I service registration id
 *   t  a port reservation HANDLE: I service id
 *   c, x               a notification callback and its context: the client's own (not sent)
 * and results: n/k/t an id for the new handle, registration or reservation; w an S|N
 * string the client hands out as a computenetwork string (CoTaskMemFree), documents and
 * ErrorRecord alike, sent whatever the HRESULT; R an HCN_PORT_RANGE_RESERVATION (I start,
 * I end); E HCN_PORT_RANGE_ENTRY[] (I count, then each entry: I I owning partition GUID,
 * I I target partition GUID, I protocol, I priority, I reservation type, I sharing flags,
 * I delivery mode, I starting port, I ending port), which the 'u' result before it counts.
 * An export not in the table is local to the client (operations, HcsimHandleToFd,
 * HcnFreeGuestNetworkPortReservations). */
/* clang-format off */
#define HCW_CALLS(X)                                                              \
    /* name                                     args      results */              \
    X(HcsEnumerateComputeSystems,              "so",     "")                     \
    X(HcsEnumerateComputeSystemsInNamespace,   "sso",    "")                     \
    X(HcsCreateComputeSystem,                  "sso",    "h")                    \
    X(HcsCreateComputeSystemInNamespace,       "sssouu", "h")                    \
    X(HcsOpenComputeSystem,                    "su",     "h")                    \
    X(HcsOpenComputeSystemInNamespace,         "ssu",    "h")                    \
    X(HcsCloseComputeSystem,                   "h",      "")                     \
    X(HcsStartComputeSystem,                   "hos",    "")                     \
    X(HcsShutDownComputeSystem,                "hos",    "")                     \
    X(HcsTerminateComputeSystem,               "hos",    "")                     \
    X(HcsCrashComputeSystem,                   "hos",    "")                     \
    X(HcsPauseComputeSystem,                   "hos",    "")                     \
    X(HcsResumeComputeSystem,                  "hos",    "")                     \
    X(HcsSaveComputeSystem,                    "hos",    "")                     \
    X(HcsGetComputeSystemProperties,           "hos",    "")                     \
    X(HcsModifyComputeSystem,                  "hosd",   "")                     \
    X(HcsWaitForComputeSystemExit,             "hu",     "s")                    \
    X(HcsSetComputeSystemCallback,             "hu",     "")                     \
    X(HcsInitializeLiveMigrationOnSource,      "hos",    "")                     \
    X(HcsStartLiveMigrationOnSource,           "hos",    "")                     \
    X(HcsStartLiveMigrationTransfer,           "hos",    "")                     \
    X(HcsFinalizeLiveMigration,                "hos",    "")                     \
    X(HcsCancelLiveMigration,                  "hos",    "")                     \
    X(HcsCreateProcess,                        "hso",    "p")                    \
    X(HcsOpenProcess,                          "huu",    "p")                    \
    X(HcsCloseProcess,                         "p",      "")                     \
    X(HcsTerminateProcess,                     "pos",    "")                     \
    X(HcsSignalProcess,                        "pos",    "")                     \
    X(HcsGetProcessInfo,                       "po",     "")                     \
    X(HcsGetProcessProperties,                 "pos",    "")                     \
    X(HcsModifyProcess,                        "pos",    "")                     \
    X(HcsSetProcessCallback,                   "pu",     "")                     \
    X(HcsWaitForProcessExit,                   "pu",     "s")                    \
    X(HcsGetServiceProperties,                 "s",      "s")                    \
    X(HcsModifyServiceSettings,                "s",      "s")                    \
    X(HcsSubmitWerReport,                      "s",      "")                     \
    X(HcsCreateEmptyGuestStateFile,            "s",      "")                     \
    X(HcsCreateEmptyRuntimeStateFile,          "s",      "")                     \
    X(HcsGrantVmAccess,                        "ss",     "")                     \
    X(HcsRevokeVmAccess,                       "ss",     "")                     \
    X(HcsGrantVmGroupAccess,                   "s",      "")                     \
    X(HcsRevokeVmGroupAccess,                  "s",      "")                     \
    X(HcsGetProcessorCompatibilityFromSavedState, "s",   "s")                    \
    X(HcsImportLayer,                          "sss",    "")                     \
    X(HcsExportLayer,                          "ssss",   "")                     \
    X(HcsExportLegacyWritableLayer,            "ssss",   "")                     \
    X(HcsDestroyLayer,                         "s",      "")                     \
    X(HcsSetupBaseOSLayer,                     "sds",    "")                     \
    X(HcsInitializeWritableLayer,              "sss",    "")                     \
    X(HcsInitializeLegacyWritableLayer,        "ssss",   "")                     \
    X(HcsAttachLayerStorageFilter,             "ss",     "")                     \
    X(HcsDetachLayerStorageFilter,             "s",      "")                     \
    X(HcsFormatWritableLayerVhd,               "d",      "")                     \
    X(HcsGetLayerVhdMountPath,                 "d",      "s")                    \
    X(HcsSetupBaseOSVolume,                    "sss",    "")                     \
    X(HcsAttachOverlayFilter,                  "ss",     "")                     \
    X(HcsDetachOverlayFilter,                  "ss",     "")                     \
    X(HcnEnumerateNetworks,                    "s",      "ww")                   \
    X(HcnCreateNetwork,                        "gs",     "nw")                   \
    X(HcnOpenNetwork,                          "g",      "nw")                   \
    X(HcnModifyNetwork,                        "ns",     "w")                    \
    X(HcnQueryNetworkProperties,               "ns",     "ww")                   \
    X(HcnDeleteNetwork,                        "g",      "w")                    \
    X(HcnCloseNetwork,                         "n",      "")                     \
    X(HcnEnumerateNamespaces,                  "s",      "ww")                   \
    X(HcnCreateNamespace,                      "gs",     "nw")                   \
    X(HcnOpenNamespace,                        "g",      "nw")                   \
    X(HcnModifyNamespace,                      "ns",     "w")                    \
    X(HcnQueryNamespaceProperties,             "ns",     "ww")                   \
    X(HcnDeleteNamespace,                      "g",      "w")                    \
    X(HcnCloseNamespace,                       "n",      "")                     \
    X(HcnEnumerateEndpoints,                   "s",      "ww")                   \
    X(HcnCreateEndpoint,                       "ngs",    "nw")                   \
    X(HcnOpenEndpoint,                         "g",      "nw")                   \
    X(HcnModifyEndpoint,                       "ns",     "w")                    \
    X(HcnQueryEndpointProperties,              "ns",     "ww")                   \
    X(HcnQueryEndpointStats,                   "ns",     "ww")                   \
    X(HcnQueryEndpointAddresses,               "ns",     "ww")                   \
    X(HcnDeleteEndpoint,                       "g",      "w")                    \
    X(HcnCloseEndpoint,                        "n",      "")                     \
    X(HcnEnumerateLoadBalancers,               "s",      "ww")                   \
    X(HcnCreateLoadBalancer,                   "gs",     "nw")                   \
    X(HcnOpenLoadBalancer,                     "g",      "nw")                   \
    X(HcnModifyLoadBalancer,                   "ns",     "w")                    \
    X(HcnQueryLoadBalancerProperties,          "ns",     "ww")                   \
    X(HcnDeleteLoadBalancer,                   "g",      "w")                    \
    X(HcnCloseLoadBalancer,                    "n",      "")                     \
    X(HcnRegisterServiceCallback,              "cx",     "k")                    \
    X(HcnUnregisterServiceCallback,            "k",      "")                     \
    X(HcnRegisterGuestNetworkServiceCallback,  "ncx",    "k")                    \
    X(HcnUnregisterGuestNetworkServiceCallback, "k",     "")                     \
    X(HcnCreateGuestNetworkService,            "gs",     "nw")                   \
    X(HcnCloseGuestNetworkService,             "n",      "")                     \
    X(HcnModifyGuestNetworkService,            "ns",     "w")                    \
    X(HcnDeleteGuestNetworkService,            "g",      "w")                    \
    X(HcnReserveGuestNetworkServicePort,       "nuuu",   "t")                    \
    X(HcnReserveGuestNetworkServicePortRange,  "nu",     "Rt")                   \
    X(HcnReleaseGuestNetworkServicePortReservationHandle, "t", "")               \
    X(HcnEnumerateGuestNetworkPortReservations, "",      "uE")

/* Control calls (hcsim.cdef), ids from HCW_CTL_BASE on. A name argument that may be NULL
 * ("*"/NULL means every function) is sent as "u" present (0/1) then "b" (empty when absent).
 * HcsimGetCounts' results: the eight HCSIM_COUNTS members in order ("uuuuuuuu"), the
 * service's own. HcsimServiceStatus: the members of HCSIM_SERVICE_STATUS in order. */
#define HCW_CTL_BASE 1000u
#define HCW_CONTROL_CALLS(X)                                                      \
    X(HcsimFailNext,             "ubuuu",  "")                                    \
    X(HcsimSetDelay,             "ubuu",   "")                                    \
    X(HcsimSetExportHidden,      "ubu",    "")                                    \
    X(HcsimIsExportAvailable,    "ub",     "u")                                   \
    X(HcsimCrashSystem,          "ss",     "")                                    \
    X(HcsimGuestShutdown,        "ss",     "")                                    \
    X(HcsimRaiseSystemEvent,     "ssus",   "")                                    \
    X(HcsimDisconnectService,    "",       "")                                    \
    X(HcsimSetOption,            "bi",     "")                                    \
    X(HcsimGetOption,            "b",      "i")                                   \
    X(HcsimGetCounts,            "",       "uuuuuuuu")                            \
    X(HcsimReset,                "",       "")                                    \
    X(HcsimServiceStatus,        "",       "uuuuu")                               \
    X(HcsimServiceRequestStop,   "",       "")                                    \
    X(HcsimHvSocketPath,         "ssu",    "s")
/* clang-format on */

typedef enum hcw_ctl {
#define HCW_CTL_ENUM(name, args, results) HCW_CTL_##name,
    HCW_CTL_FIRST_ = HCW_CTL_BASE - 1,
    HCW_CONTROL_CALLS(HCW_CTL_ENUM)
#undef HCW_CTL_ENUM
        HCW_CTL_END
} hcw_ctl;

/* The signature strings of a call id (a fn_id or an hcw_ctl); NULL when the id is not a
 * call of the protocol (a local export, or out of range). */
const char *hcw_args_of(uint32_t id);
const char *hcw_results_of(uint32_t id);

#endif
