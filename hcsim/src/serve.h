/* hcsim's service mode, the service side: what serve.c (connections, threads, operations)
 * and serve_calls.c (what a CALL runs) share. POSIX only. */
#ifndef HCSIM_SERVE_H
#define HCSIM_SERVE_H

#include "hcsim_internal.h"
#include "wire.h"

/* Resources one operation may carry. */
#define MAX_RESOURCES 16u

typedef struct svc_conn svc_conn;

/* The decoded arguments of a CALL. */
typedef struct svc_arg {
    char kind;
    uint64_t u;
    char16_t *s;
    char *b;
    int fd;
    int has_g; /* 'g': a GUID was sent (else the argument is NULL) */
    GUID g;
} svc_arg;

typedef struct svc_call {
    svc_conn *conn;
    uint64_t seq;
    uint32_t fn;
    svc_arg a[8];
    unsigned n;
    /* the operation ('o') */
    int has_op;
    uint64_t token, op_options;
    unsigned nres;
    struct {
        uint64_t type;
        char16_t *uri;
        int fd;
    } res[MAX_RESOURCES];
} svc_call;

typedef struct svc_out { /* a call's results */
    uint32_t hid;        /* a new handle's id ('h'/'p'; computenetwork's 'n'/'k'/'t') */
    PWSTR str;           /* a returned string ('s'), LocalFree'd */
    uint64_t u[8];       /* 'u' and 'i' results in order */
    /* computenetwork */
    PWSTR w[2];                       /* 'w' strings in order, CoTaskMemFree'd */
    HCN_PORT_RANGE_RESERVATION range; /* 'R' */
    ULONG nentries;                   /* 'u' before 'E' */
    HCN_PORT_RANGE_ENTRY *entries;    /* 'E', HcnFreeGuestNetworkPortReservations'd */
} svc_out;

/* ---- serve.c ------------------------------------------------------------------------- */
/* The hcsim handle of a client's handle id (of kind 's' or 'p'); take: removed from the
 * connection's table. An unknown id gives a value hcsim never hands out (the call fails
 * as with a closed handle); id 0 gives NULL. */
void *serve_handle_get(svc_conn *c, uint64_t id, int kind, int take);
/* Puts back a handle taken for a close that failed (a fault): 0, or -1 (then closed). */
int serve_handle_put(svc_conn *c, uint64_t id, int kind, void *h);
/* Closes a handle of the table: 's'/'p' as HCS, and computenetwork's (serve_calls.c's
 * serve_hcn_kind): N network, M namespace, E endpoint, L load balancer, G guest network
 * service, K service callback, J guest network service callback, T port reservation. */
void serve_close_handle(int kind, void *h);
uint32_t serve_conn_id(svc_conn *c);
int serve_conn_dying(svc_conn *c); /* the client went: its blocking calls end */
/* The event callback of every handle a client set one on (context: serve_event_context). */
void CALLBACK serve_forward_event(HCS_EVENT *e, void *context);
/* The notification callback of every HCN registration a client made (same context). */
void CALLBACK serve_forward_notification(DWORD type, void *context, HRESULT status, PCWSTR data);
void serve_status(HCSIM_SERVICE_STATUS *st);
void serve_request_stop(void);
/* After HcsimReset: no operation of the service completes any more; their records go. */
void serve_ops_forget(void);

/* ---- serve_calls.c ------------------------------------------------------------------- */
/* A CALL's body decoded by its signature; NULL when malformed. */
svc_call *serve_decode_call(svc_conn *c, hcw_msg *m);
void serve_call_free(svc_call *call);
int serve_blocking(uint32_t fn);
HRESULT serve_run_control(svc_call *call, svc_out *out);
/* A computecore/computestorage call; op is the service-side operation when the signature
 * has one; *made a handle the call made. */
HRESULT serve_run_export(svc_call *call, HCS_OPERATION op, svc_out *out, void **made);
/* The table kind of the handle fn makes (its result char r: 'h', 'p', 'n', 'k' or 't'). */
int serve_made_kind(uint32_t fn, char r);

#endif
