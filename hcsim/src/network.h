/* hcsim computenetwork (README "Host Compute Network"): what its source files share and
 * what the rest of hcsim asks of it. Everything runs under the emulator lock (G.lock)
 * unless said otherwise. */
#ifndef HCSIM_NETWORK_H
#define HCSIM_NETWORK_H

#include "hcsim_internal.h"

/* ---- HRESULTs (winerror.h, FACILITY_HCN) --------------------------------------------- */
#define HCN_E_NETWORK_NOT_FOUND                 HCSIM_HR(0x803B0001u)
#define HCN_E_ENDPOINT_NOT_FOUND                HCSIM_HR(0x803B0002u)
#define HCN_E_INVALID_NETWORK                   HCSIM_HR(0x803B000Au)
#define HCN_E_INVALID_NETWORK_TYPE              HCSIM_HR(0x803B000Bu)
#define HCN_E_INVALID_ENDPOINT                  HCSIM_HR(0x803B000Cu)
#define HCN_E_INVALID_POLICY                    HCSIM_HR(0x803B000Du)
#define HCN_E_NETWORK_ALREADY_EXISTS            HCSIM_HR(0x803B0010u)
#define HCN_E_PORT_ALREADY_EXISTS               HCSIM_HR(0x803B0013u)
#define HCN_E_ENDPOINT_ALREADY_ATTACHED         HCSIM_HR(0x803B0014u)
#define HCN_E_REQUEST_UNSUPPORTED               HCSIM_HR(0x803B0015u)
#define HCN_E_INVALID_JSON                      HCSIM_HR(0x803B001Bu)
#define HCN_E_INVALID_IP                        HCSIM_HR(0x803B001Eu)
#define HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS HCSIM_HR(0x803B002Bu)
#define HCN_E_ENTITY_HAS_REFERENCES             HCSIM_HR(0x803B002Cu)
#define HCN_E_ADDR_INVALID_OR_RESERVED          HCSIM_HR(0x803B002Fu)
/* A namespace, load balancer or guest network service that does not exist; an exhausted
 * address, MAC or port pool (README "Host Compute Network": the evidence). */
#define HN_E_NOT_FOUND      HRESULT_FROM_WIN32(ERROR_NOT_FOUND)
#define HN_E_EXISTS         HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)
#define ERROR_NO_MORE_ITEMS 259u
#define HN_E_EXHAUSTED      HRESULT_FROM_WIN32(ERROR_NO_MORE_ITEMS)

/* ---- objects ------------------------------------------------------------------------- */
typedef enum hn_kind { HN_NETWORK, HN_ENDPOINT, HN_NAMESPACE, HN_LB, HN_GNS, HN_NKINDS } hn_kind;

typedef struct hn_obj hn_obj;
struct hn_obj {
    hn_kind kind;
    char id[37];   /* lowercase, no braces */
    hj_value *doc; /* its properties as queries return them (ID included) */
    int deleted;   /* out of the kind's list; handles still open refer to a ghost */
    int refs;      /* 1 while not deleted, plus one per open handle */
    hn_obj *next;  /* in the kind's list */
    /* endpoints */
    hn_obj *network; /* the network it is on (a network is never deleted under them) */
    hn_obj *ns;      /* the namespace it is attached to, or NULL */
    uint32_t *ip4;   /* its IPv4 addresses (host order) */
    size_t nip4;
    uint64_t mac; /* its MAC address (48 bits) */
    /* guest network services: their callbacks */
    struct hn_reg *regs;
    uint32_t compartment; /* namespaces: NamespaceId */
};

/* An HCN_* handle (K_HCN in the registry of handles). */
typedef struct hn_handle {
    hc_obj hdr;
    hn_kind kind;
    hn_obj *obj; /* ref */
} hn_handle;

/* An HCN_CALLBACK (K_HCNCB): a service callback (gns NULL) or a guest network service's. */
typedef struct hn_reg {
    hc_obj hdr;
    hc_strand st; /* its notifications, in order, on pool threads */
    HCN_NOTIFICATION_CALLBACK cb;
    void *ctx;
    int closed;
    hn_obj *gns;                /* ref, or NULL */
    struct hn_reg *prev, *next; /* in the service list or gns->regs */
} hn_reg;

typedef struct hn_state {
    hn_obj *objs[HN_NKINDS];
    hn_reg *service_regs;
    struct hn_port *ports; /* port reservations */
    uint32_t next_compartment;
} hn_state;

hn_state *hn_state_get(void); /* creates it on first use (NULL: out of memory) */

/* ---- documents (network.c) ------------------------------------------------------------ */
/* A computenetwork string: the document v serialised, allocated so that only
 * CoTaskMemFree releases it (registered as K_HCNDOC, counted in Documents). */
PWSTR hn_doc_from_json(const hj_value *v);
/* The ErrorRecord of a failure: {"Success": false, "Error": text, "ErrorCode": hr,
 * "ErrorMessage": text}; stored in *record when record is not NULL. Returns hr. */
HRESULT hn_fail(PWSTR *record, HRESULT hr, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A GUID argument as text; 0 when NULL. "zero" is set for the all-zero GUID. */
int hn_guid_text(const GUID *g, char out[37], int *zero);
/* A GUID in a document ("0f5a...", any case, braces optional) as lowercase text; 0 when
 * it is none. */
int hn_guid_parse(const char *s, char out[37]);
void hn_guid_random(char out[37]);
void hn_guid_to_bytes(const char id[37], uint8_t out[16]); /* id: as hn_guid_parse gives it */

/* ---- objects (network_objects.c) ------------------------------------------------------ */
hn_obj *hn_find(hn_kind kind, const char *id);
hn_handle *hn_handle_get(const void *handle, hn_kind kind); /* open and of that kind */
/* A new handle of obj (counted in NetworkHandles), NULL when out of memory. */
hn_handle *hn_handle_new(hn_obj *obj);
void hn_obj_unref(hn_obj *o);
void hn_free_kind(void *o); /* hc_unref of K_HCN / K_HCNCB objects */

/* ---- addresses (network_ipam.c) ------------------------------------------------------- */
/* Checks and completes a network's settings (Ipams, Routes, MacPool); a failure with its
 * ErrorRecord. */
HRESULT hn_ipam_network(hj_value *doc, PWSTR *record);
/* Allocates or checks the endpoint's addresses and MAC on its network (ep->network set),
 * completing doc (IpConfigurations, MacAddress, Routes). */
HRESULT hn_ipam_endpoint(hn_obj *ep, hj_value *doc, PWSTR *record);
int hn_parse_ip4(const char *s, uint32_t *out);
int hn_format_mac(uint64_t mac, char out[18]);
int hn_ip_text_valid(const char *s); /* an IPv4 or IPv6 address */

/* ---- notifications (network_notify.c) ------------------------------------------------- */
/* To every service callback: type with data {"ID": id} (+ "NetworkId" when network_id). */
void hn_notify_service(uint32_t type, const char *id, const char *network_id);
void hn_notify_gns(hn_obj *gns, uint32_t type, const char *data_json);
void hn_ports_release_gns(hn_obj *gns); /* a deleted service's reservations */
void hn_notify_reset(void);             /* HcsimReset: no callback starts from now on */
void hn_ports_reset(void);

/* ---- the rest of hcsim ---------------------------------------------------------------- */
/* HcsimReset: hc_network_detach first (no callback starts from now on), then, the pool
 * quiesced, hc_network_reset: every HCN object, handle and callback goes (under lock).
 * HcsimDisconnectService: ServiceDisconnect to every service callback. */
void hc_network_detach(void);
void hc_network_reset(void);
void hc_network_disconnect(void);
/* system.c, under lock: whether an endpoint / namespace of that id (any case, braces
 * optional) exists. */
int hc_network_endpoint_exists(const char *id);
int hc_network_namespace_exists(const char *id);

#endif
