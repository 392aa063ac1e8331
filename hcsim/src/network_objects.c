/* hcsim computenetwork: what networks, endpoints, namespaces and load balancers share
 * (objects, handles, the entry protocol, documents and queries), and the generic exports
 * built on it: open, close, query, enumerate (README "Host Compute Network"). */
#include "network_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const hn_kind_names[HN_NKINDS] = {"network", "endpoint", "namespace", "load balancer",
                                              "guest network service"};

HRESULT hn_not_found(hn_kind k) {
    return k == HN_NETWORK    ? HCN_E_NETWORK_NOT_FOUND
           : k == HN_ENDPOINT ? HCN_E_ENDPOINT_NOT_FOUND
                              : HN_E_NOT_FOUND;
}

HRESULT hn_exists(hn_kind k) {
    return k == HN_NETWORK ? HCN_E_NETWORK_ALREADY_EXISTS : HN_E_EXISTS;
}

/* ---- objects and handles ------------------------------------------------------------- */
hn_obj *hn_find(hn_kind kind, const char *id) {
    hn_state *st = G.hcn;
    for (hn_obj *o = st ? st->objs[kind] : NULL; o; o = o->next)
        if (!strcmp(o->id, id)) return o;
    return NULL;
}

hn_obj *hn_obj_add(hn_kind kind, const char *id, hj_value *doc) {
    hn_state *st = hn_state_get();
    hn_obj *o = st ? calloc(1, sizeof *o) : NULL;
    if (!o) return NULL;
    o->kind = kind;
    memcpy(o->id, id, 37);
    o->doc = doc;
    o->refs = 1;
    hn_obj **tail = &st->objs[kind]; /* creation order: enumerations list them so */
    while (*tail) tail = &(*tail)->next;
    *tail = o;
    return o;
}

void hn_obj_remove(hn_obj *o) {
    hn_state *st = G.hcn;
    for (hn_obj **p = &st->objs[o->kind]; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            break;
        }
    o->next = NULL;
    o->deleted = 1;
    hn_obj_unref(o);
}

void hn_obj_unref(hn_obj *o) {
    if (!o || --o->refs > 0) return;
    hj_free(o->doc);
    free(o->ip4);
    free(o);
}

hn_handle *hn_handle_new(hn_obj *obj) {
    hn_handle *h = hc_obj_new(sizeof *h, K_HCN);
    if (!h) return NULL;
    if (hc_reg_add(h, K_HCN) != 0) {
        free(h);
        return NULL;
    }
    h->kind = obj->kind;
    h->obj = obj;
    obj->refs++;
    G.counts.NetworkHandles++;
    return h;
}

hn_handle *hn_handle_get(const void *handle, hn_kind kind) {
    hn_handle *h = handle ? hc_reg_get(handle, K_HCN) : NULL;
    return h && h->kind == kind ? h : NULL;
}

void hn_free_kind(void *o) {
    hc_obj *x = o;
    if (x->kind == K_HCN) {
        hn_obj_unref(((hn_handle *)o)->obj);
        free(o);
    } else {
        hn_reg_free(o);
    }
}

/* ---- the entry protocol ---------------------------------------------------------------- */
HRESULT hn_enter(fn_id fn, PWSTR *record) {
    if (record) *record = NULL;
    HRESULT hr = hc_enter_sync(fn);
    if (hr == S_OK || hr == HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND) || !record) return hr;
    hc_lock();
    hn_fail(record, hr, "%s failed: a fault injected by HcsimFailNext", hc_fn_names[fn]);
    hc_unlock();
    return hr;
}

/* ---- documents ------------------------------------------------------------------------- */
HRESULT hn_parse_object(PCWSTR text, const char *what, PWSTR *record, hj_value **out) {
    *out = NULL;
    if (!text) return hn_fail(record, E_INVALIDARG, "The %s document is missing", what);
    hj_value *d = hc_parse(text);
    if (!d) return hn_fail(record, HCN_E_INVALID_JSON, "The %s document is not valid JSON", what);
    if (hj_typeof(d) != HJ_OBJECT) {
        hj_free(d);
        return hn_fail(record, HCN_E_INVALID_JSON, "The %s document is not a JSON object", what);
    }
    *out = d;
    return S_OK;
}

HRESULT hn_member_type(const hj_value *doc, const char *key, hj_type type, const char *what,
                       PWSTR *record) {
    const hj_value *v = hj_get(doc, key);
    uint64_t u;
    if (!v) return S_OK;
    if (type == HJ_NUMBER ? hj_uint64(v, &u) : hj_typeof(v) == type) return S_OK;
    static const char *const names[] = {"null",     "a boolean", "a non-negative integer",
                                        "a string", "an array",  "an object"};
    return hn_fail(record, HCN_E_INVALID_JSON, "%s: %s must be %s", what, key, names[type]);
}

int hn_is_policy_list(const hj_value *v) {
    if (!v) return 1;
    if (hj_typeof(v) != HJ_ARRAY) return 0;
    for (size_t i = 0; i < hj_count(v); i++) {
        const hj_value *p = hj_at(v, i);
        if (hj_typeof(p) != HJ_OBJECT || !hj_str(hj_get(p, "Type"), NULL)) return 0;
    }
    return 1;
}

void hn_default_schema(hj_value *doc) {
    if (hj_get(doc, "SchemaVersion")) return;
    hj_value *sv = hj_new_object();
    hj_set(sv, "Major", hj_new_uint(2));
    hj_set(sv, "Minor", hj_new_uint(0));
    hj_set(doc, "SchemaVersion", sv);
}

/* ---- queries ----------------------------------------------------------------------------- */
HRESULT hn_parse_query(PCWSTR text, PWSTR *record, hn_query *q) {
    q->detailed = 0;
    q->filter = NULL;
    if (!(text = hc_opt(text))) return S_OK;
    hj_value *d = NULL;
    HRESULT hr = hn_parse_object(text, "query", record, &d);
    if (hr != S_OK) return hr;
    uint64_t flags = 0;
    const hj_value *sv = hj_get(d, "SchemaVersion"), *f = hj_get(d, "Flags"),
                   *filter = hj_get(d, "Filter");
    if (sv && hj_typeof(sv) != HJ_OBJECT)
        hr = hn_fail(record, HCN_E_INVALID_JSON, "query: SchemaVersion must be an object");
    else if (f && !hj_uint64(f, &flags))
        hr = hn_fail(record, HCN_E_INVALID_JSON, "query: Flags must be a non-negative integer");
    else if (filter && hj_typeof(filter) != HJ_STRING)
        hr = hn_fail(record, HCN_E_INVALID_JSON, "query: Filter must be a string (a JSON object)");
    if (hr == S_OK && filter) {
        size_t len = 0;
        const char *s = hj_str(filter, &len);
        if (len) {
            q->filter = hj_parse(s, len);
            if (hj_typeof(q->filter) != HJ_OBJECT || !q->filter) {
                hj_free(q->filter);
                q->filter = NULL;
                hr = hn_fail(record, HCN_E_INVALID_JSON,
                             "query: Filter is not the text of a JSON object");
            }
        }
    }
    q->detailed = (flags & 1u) != 0;
    hj_free(d);
    return hr;
}

/* One filter member against the object: GUIDs compare in any case and with braces. */
static int member_matches(const hn_obj *o, const char *key, const hj_value *want) {
    const hj_value *have;
    if (!strcmp(key, "ID") || !strcmp(key, "Id"))
        have = hj_get(o->doc, "ID");
    else if (o->kind == HN_ENDPOINT && !strcmp(key, "VirtualNetwork"))
        have = hj_get(o->doc, "HostComputeNetwork");
    else
        have = hj_get(o->doc, key);
    if (!have) return 0;
    char a[37], b[37];
    if (hn_guid_parse(hj_str(have, NULL), a) && hn_guid_parse(hj_str(want, NULL), b))
        return !strcmp(a, b);
    return hj_equal(have, want);
}

int hn_query_matches(const hn_query *q, const hn_obj *o) {
    for (size_t i = 0; q->filter && i < hj_count(q->filter); i++)
        if (!member_matches(o, hj_key_at(q->filter, i), hj_at(q->filter, i))) return 0;
    return 1;
}

/* ---- generic exports --------------------------------------------------------------------- */
HRESULT hn_enter_out(fn_id fn, PWSTR *record, const void *out) {
    HRESULT hr = hn_enter(fn, record);
    return hr == S_OK && !out ? E_POINTER : hr;
}

hn_obj *hn_delete_find(fn_id fn, hn_kind kind, const GUID *Id, PWSTR *record, char id[37],
                       HRESULT *hr) {
    if ((*hr = hn_enter(fn, record)) != S_OK) return NULL;
    if (!hn_guid_text(Id, id, NULL)) {
        *hr = E_INVALIDARG;
        return NULL;
    }
    hc_lock();
    hn_obj *o = hn_find(kind, id);
    if (!o) {
        *hr = hn_fail(record, hn_not_found(kind), "No %s with the id %s", hn_kind_names[kind], id);
        hc_unlock();
    }
    return o;
}

HRESULT hn_enumerate(fn_id fn, hn_kind kind, PCWSTR query, PWSTR *out, PWSTR *record) {
    if (out) *out = NULL;
    HRESULT hr = hn_enter_out(fn, record, out);
    if (hr != S_OK) return hr;
    hn_query q;
    hc_lock();
    if ((hr = hn_parse_query(query, record, &q)) == S_OK) {
        hj_value *list = hj_new_array();
        hn_state *st = G.hcn;
        for (hn_obj *o = st ? st->objs[kind] : NULL; list && o; o = o->next)
            if (hn_query_matches(&q, o))
                hj_push(list, q.detailed ? hj_clone(o->doc) : hj_new_string(o->id));
        *out = list ? hn_doc_from_json(list) : NULL;
        if (!*out) hr = E_OUTOFMEMORY;
        hj_free(list);
        hj_free(q.filter);
    }
    hc_unlock();
    return hr;
}

HRESULT hn_open(fn_id fn, hn_kind kind, const GUID *id, void **out, PWSTR *record) {
    if (out) *out = NULL;
    HRESULT hr = hn_enter_out(fn, record, out);
    if (hr != S_OK) return hr;
    char text[37];
    if (!hn_guid_text(id, text, NULL)) return E_INVALIDARG;
    hc_lock();
    hn_obj *o = hn_find(kind, text);
    hn_handle *h = NULL;
    if (!o)
        hr = hn_fail(record, hn_not_found(kind), "No %s with the id %s", hn_kind_names[kind], text);
    else if (!(h = hn_handle_new(o)))
        hr = E_OUTOFMEMORY;
    else
        *out = HC_HANDLE(h);
    hc_unlock();
    return hr;
}

HRESULT hn_close(fn_id fn, hn_kind kind, const void *handle) {
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    hc_lock();
    hn_handle *h = hn_handle_get(handle, kind);
    if (!h) {
        hc_unlock();
        return E_HANDLE;
    }
    hc_reg_del(h);
    G.counts.NetworkHandles--;
    hc_unref(h);
    hc_unlock();
    return S_OK;
}

hn_obj *hn_live(const void *handle, hn_kind kind, PWSTR *record, HRESULT *hr) {
    hn_handle *h = hn_handle_get(handle, kind);
    if (!h) {
        *hr = E_HANDLE;
        return NULL;
    }
    if (h->obj->deleted) {
        *hr = hn_fail(record, hn_not_found(kind), "The %s %s has been deleted", hn_kind_names[kind],
                      h->obj->id);
        return NULL;
    }
    *hr = S_OK;
    return h->obj;
}

HRESULT hn_query_one(fn_id fn, hn_kind kind, const void *handle, PCWSTR query, PWSTR *out,
                     PWSTR *record, hj_value *(*view)(const hn_obj *o)) {
    if (out) *out = NULL;
    HRESULT hr = hn_enter_out(fn, record, out);
    if (hr != S_OK) return hr;
    hn_query q;
    hc_lock();
    hn_obj *o = hn_live(handle, kind, record, &hr);
    if (o && (hr = hn_parse_query(query, record, &q)) == S_OK) {
        hj_value *v = view ? view(o) : hj_clone(o->doc);
        *out = v ? hn_doc_from_json(v) : NULL;
        if (!*out) hr = E_OUTOFMEMORY;
        hj_free(v);
        hj_free(q.filter);
    }
    hc_unlock();
    return hr;
}

/* The id of a create: the Id argument, else the document's "ID", else a new one. */
HRESULT hn_create_id(const GUID *id, hj_value *doc, hn_kind kind, PWSTR *record, char out[37]) {
    int zero = 0;
    char given[37];
    if (!hn_guid_text(id, out, &zero)) return E_INVALIDARG;
    const hj_value *m = hj_get(doc, "ID");
    if (m && !hn_guid_parse(hj_str(m, NULL), given))
        return hn_fail(record, HCN_E_INVALID_JSON, "The %s's ID is not a GUID",
                       hn_kind_names[kind]);
    if (m && !zero && strcmp(given, out))
        return hn_fail(record, E_INVALIDARG, "The %s's ID %s is not the id argument %s",
                       hn_kind_names[kind], given, out);
    if (zero) {
        if (m)
            memcpy(out, given, 37);
        else
            hn_guid_random(out);
    }
    if (hn_find(kind, out))
        return hn_fail(record, hn_exists(kind), "The %s %s already exists", hn_kind_names[kind],
                       out);
    hj_set(doc, "ID", hj_new_string(out));
    return S_OK;
}

/* A create's common end: the object, its handle. Takes doc. */
HRESULT hn_create_finish(hn_kind kind, const char *id, hj_value *doc, void **out, hn_obj **obj) {
    hn_obj *o = hn_obj_add(kind, id, doc);
    if (!o) {
        hj_free(doc);
        return E_OUTOFMEMORY;
    }
    hn_handle *h = hn_handle_new(o);
    if (!h) {
        hn_obj_remove(o);
        return E_OUTOFMEMORY;
    }
    *out = HC_HANDLE(h);
    if (obj) *obj = o;
    return S_OK;
}

/* ---- for system.c (under lock) ---------------------------------------------------------- */
static int exists(hn_kind kind, const char *id) {
    char text[37];
    return hn_guid_parse(id, text) && hn_find(kind, text) != NULL;
}

int hc_network_endpoint_exists(const char *id) { return exists(HN_ENDPOINT, id); }
int hc_network_namespace_exists(const char *id) { return exists(HN_NAMESPACE, id); }

HRESULT hn_create(fn_id fn, hn_kind kind, const GUID *Id, PCWSTR settings,
                  HRESULT (*check)(hj_value *doc, PWSTR *record), void **out, PWSTR *record,
                  uint32_t pre, uint32_t post) {
    if (out) *out = NULL;
    HRESULT hr = hn_enter_out(fn, record, out);
    if (hr != S_OK) return hr;
    hj_value *doc = NULL;
    char id[37], what[48];
    snprintf(what, sizeof what, "%s settings", hn_kind_names[kind]);
    hc_lock();
    if ((hr = hn_parse_object(settings, what, record, &doc)) == S_OK &&
        (hr = hn_create_id(Id, doc, kind, record, id)) == S_OK &&
        (hr = check(doc, record)) == S_OK) {
        if (pre) hn_notify_service(pre, id, NULL);
        hr = hn_create_finish(kind, id, doc, out, NULL);
        doc = NULL;
        if (hr == S_OK && post) hn_notify_service(post, id, NULL);
    }
    hj_free(doc);
    hc_unlock();
    return hr;
}
