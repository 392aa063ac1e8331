/* hcsim computenetwork: the machinery its exports share (network_objects.c). Under the
 * lock unless said otherwise. */
#ifndef HCSIM_NETWORK_OBJECTS_H
#define HCSIM_NETWORK_OBJECTS_H

#include "network.h"

extern const char *const hn_kind_names[HN_NKINDS];
HRESULT hn_not_found(hn_kind k); /* the HRESULT of "no such object" */
HRESULT hn_exists(hn_kind k);    /* the HRESULT of a create with an id that exists */

/* A new object in its kind's list (takes doc; NULL when out of memory), and its removal
 * (deleted, the list's reference dropped). */
hn_obj *hn_obj_add(hn_kind kind, const char *id, hj_value *doc);
void hn_obj_remove(hn_obj *o);
void hn_reg_free(hn_reg *r); /* network_notify.c: hc_unref of a K_HCNCB */

/* The entry protocol (not under lock): faults and hidden exports; *record cleared. */
HRESULT hn_enter(fn_id fn, PWSTR *record);

/* Documents: a JSON object argument (NULL: E_INVALIDARG); a member's type when present
 * (HJ_NUMBER: a non-negative integer); a Policies array; the default SchemaVersion. */
HRESULT hn_parse_object(PCWSTR text, const char *what, PWSTR *record, hj_value **out);
HRESULT hn_member_type(const hj_value *doc, const char *key, hj_type type, const char *what,
                       PWSTR *record);
int hn_is_policy_list(const hj_value *v);
void hn_default_schema(hj_value *doc);

/* A HostComputeQuery: Flags bit 0 (Detailed) and its Filter (an object, or NULL). */
typedef struct hn_query {
    int detailed;
    hj_value *filter; /* owned */
} hn_query;
HRESULT hn_parse_query(PCWSTR text, PWSTR *record, hn_query *q);
int hn_query_matches(const hn_query *q, const hn_obj *o);

/* hn_enter, then E_POINTER when the export's required out pointer is NULL. */
HRESULT hn_enter_out(fn_id fn, PWSTR *record, const void *out);
/* A delete's first part: the entry protocol, the id, then under hcsim's lock the object of
 * that id. The object with the lock held (the caller releases it), or NULL and *hr without
 * it (a failure of the entry protocol, a NULL id, no such object). */
hn_obj *hn_delete_find(fn_id fn, hn_kind kind, const GUID *Id, PWSTR *record, char id[37],
                       HRESULT *hr);

/* Export bodies (they take the lock). */
HRESULT hn_enumerate(fn_id fn, hn_kind kind, PCWSTR query, PWSTR *out, PWSTR *record);
HRESULT hn_open(fn_id fn, hn_kind kind, const GUID *id, void **out, PWSTR *record);
HRESULT hn_close(fn_id fn, hn_kind kind, const void *handle);
/* view: the document returned (NULL: the object's own). */
HRESULT hn_query_one(fn_id fn, hn_kind kind, const void *handle, PCWSTR query, PWSTR *out,
                     PWSTR *record, hj_value *(*view)(const hn_obj *o));
/* The object behind an open handle of that kind that is not deleted; else NULL and *hr. */
hn_obj *hn_live(const void *handle, hn_kind kind, PWSTR *record, HRESULT *hr);
HRESULT hn_create_id(const GUID *id, hj_value *doc, hn_kind kind, PWSTR *record, char out[37]);
HRESULT hn_create_finish(hn_kind kind, const char *id, hj_value *doc, void **out, hn_obj **obj);
/* A create export of an object that needs nothing but its settings: the entry protocol,
 * the settings ("<kind> settings"), the id, check (it may complete doc), the object and
 * its handle; the service callbacks get pre before and post after (0: none). */
HRESULT hn_create(fn_id fn, hn_kind kind, const GUID *Id, PCWSTR settings,
                  HRESULT (*check)(hj_value *doc, PWSTR *record), void **out, PWSTR *record,
                  uint32_t pre, uint32_t post);

/* A ModifySettingRequest {ResourceType, RequestType, Settings} (network_exports.c); the
 * two types as text (numbers are read as the schema's enums). */
HRESULT hn_parse_request(PCWSTR text, PWSTR *record, hj_value **req, const char **resource,
                         const char **request, const hj_value **settings);
/* network_ns.c: ep leaves the namespace ns (its Resources and the endpoint's
 * HostComputeNamespace updated). */
void hn_namespace_detach(hn_obj *ns, hn_obj *ep);

#endif
