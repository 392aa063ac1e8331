/* hcsim computenetwork: the namespace and load balancer exports (README "Host Compute
 * Network"). An endpoint is in at most one namespace; deleting a namespace detaches its
 * endpoints, deleting an endpoint detaches it; a load balancer's backends must exist. */
#include "network_objects.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- namespaces ---------------------------------------------------------------------------- */
static const char *const namespace_types[] = {"Host", "HostDefault", "Guest", "GuestDefault"};

static void set_endpoint_namespace(hn_obj *ep, hn_obj *ns) {
    ep->ns = ns;
    if (ns)
        hj_set(ep->doc, "HostComputeNamespace", hj_new_string(ns->id));
    else
        hj_remove(ep->doc, "HostComputeNamespace");
}

/* Rebuilds ns's Resources: its other resources as they were, then its endpoints. */
static void namespace_resources(hn_obj *ns) {
    const hj_value *old = hj_get(ns->doc, "Resources");
    hj_value *list = hj_new_array();
    for (size_t i = 0; i < hj_count(old); i++)
        if (!hj_str(hj_get(hj_at(old, i), "Type"), NULL) ||
            strcmp(hj_str(hj_get(hj_at(old, i), "Type"), NULL), "Endpoint"))
            hj_push(list, hj_clone(hj_at(old, i)));
    for (hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next)
        if (e->ns == ns) {
            hj_value *r = hj_new_object(), *data = hj_new_object();
            hj_set(data, "ID", hj_new_string(e->id));
            hj_set(r, "Type", hj_new_string("Endpoint"));
            hj_set(r, "Data", data);
            hj_push(list, r);
        }
    hj_set(ns->doc, "Resources", list);
}

void hn_namespace_detach(hn_obj *ns, hn_obj *ep) {
    set_endpoint_namespace(ep, NULL);
    namespace_resources(ns);
}

/* Attaches the endpoint named by id to ns (which may not be in the list yet). */
static HRESULT attach(hn_obj *ns, const char *raw, PWSTR *record) {
    char id[37];
    if (!hn_guid_parse(raw, id))
        return hn_fail(record, HCN_E_INVALID_JSON, "The endpoint id %s is not a GUID",
                       raw ? raw : "(missing)");
    hn_obj *ep = hn_find(HN_ENDPOINT, id);
    if (!ep) return hn_fail(record, HCN_E_ENDPOINT_NOT_FOUND, "No endpoint with the id %s", id);
    if (ep->ns == ns)
        return hn_fail(record, HCN_E_ENDPOINT_ALREADY_ATTACHED,
                       "The endpoint %s is already in namespace %s", id, ns->id);
    if (ep->ns)
        return hn_fail(record, HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS,
                       "The endpoint %s is already in namespace %s", id, ep->ns->id);
    set_endpoint_namespace(ep, ns);
    return S_OK;
}

/* The endpoint id of a namespace resource's Data or a request's Settings. */
static const char *endpoint_ref(const hj_value *v) {
    const char *s = hj_str(hj_get(v, "EndpointId"), NULL);
    if (!s) s = hj_str(hj_get(v, "ID"), NULL);
    if (!s) s = hj_str(hj_get(v, "Id"), NULL);
    return s;
}

static HRESULT check_namespace(hn_obj *ns, hj_value *doc, PWSTR *record) {
    const hj_value *t = hj_get(doc, "Type");
    const char *type = t ? hj_str(t, NULL) : "Host", *canon = NULL;
    for (size_t i = 0; type && i < 4; i++)
        if (!strcasecmp(type, namespace_types[i])) canon = namespace_types[i];
    if (!canon)
        return hn_fail(record, E_INVALIDARG,
                       "The namespace Type %s is none of Host, HostDefault, Guest, GuestDefault",
                       type ? type : "(not a string)");
    HRESULT hr = hn_member_type(doc, "SchemaVersion", HJ_OBJECT, "namespace", record);
    if (hr != S_OK) return hr;
    const hj_value *res = hj_get(doc, "Resources");
    if (res && hj_typeof(res) != HJ_ARRAY)
        return hn_fail(record, HCN_E_INVALID_JSON, "namespace: Resources must be an array");
    for (size_t i = 0; i < hj_count(res); i++) {
        const hj_value *r = hj_at(res, i);
        const char *rt = hj_str(hj_get(r, "Type"), NULL);
        if (hj_typeof(r) != HJ_OBJECT || !rt || hj_typeof(hj_get(r, "Data")) != HJ_OBJECT ||
            (strcmp(rt, "Endpoint") && strcmp(rt, "Container")))
            return hn_fail(record, HCN_E_INVALID_JSON,
                           "Resources[%u] must be {\"Type\": \"Endpoint\"|\"Container\", "
                           "\"Data\": {\"ID\": ...}}",
                           (unsigned)i);
    }
    /* the endpoints last, undone on a failure */
    for (size_t i = 0; hr == S_OK && i < hj_count(res); i++)
        if (!strcmp(hj_str(hj_get(hj_at(res, i), "Type"), NULL), "Endpoint"))
            hr = attach(ns, endpoint_ref(hj_get(hj_at(res, i), "Data")), record);
    if (hr != S_OK) {
        for (hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next)
            if (e->ns == ns) set_endpoint_namespace(e, NULL);
        return hr;
    }
    hj_set(doc, "Type", hj_new_string(canon));
    int deflt = !strcmp(canon, "HostDefault") || !strcmp(canon, "GuestDefault");
    ns->compartment = deflt ? 1 : G.hcn->next_compartment++;
    hj_set(doc, "NamespaceId", hj_new_uint(ns->compartment));
    hn_default_schema(doc);
    return S_OK;
}

HRESULT WINAPI HcnCreateNamespace(REFGUID Id, PCWSTR Settings, PHCN_NAMESPACE Namespace,
                                  PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnCreateNamespace, Id, Settings, Namespace, ErrorRecord);
    if (Namespace) *Namespace = NULL;
    HRESULT hr = hn_enter_out(FN_HcnCreateNamespace, ErrorRecord, Namespace);
    if (hr != S_OK) return hr;
    hj_value *doc = NULL;
    char id[37];
    hc_lock();
    hn_obj *ns = NULL;
    if ((hr = hn_parse_object(Settings, "namespace settings", ErrorRecord, &doc)) == S_OK &&
        (hr = hn_create_id(Id, doc, HN_NAMESPACE, ErrorRecord, id)) == S_OK &&
        (ns = hn_obj_add(HN_NAMESPACE, id, doc)) == NULL)
        hr = E_OUTOFMEMORY;
    if (ns) {
        doc = NULL;
        hn_handle *h = NULL;
        if ((hr = check_namespace(ns, ns->doc, ErrorRecord)) != S_OK || !(h = hn_handle_new(ns))) {
            if (hr == S_OK) hr = E_OUTOFMEMORY;
            for (hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next)
                if (e->ns == ns) set_endpoint_namespace(e, NULL);
            hn_obj_remove(ns);
        } else {
            namespace_resources(ns);
            *Namespace = HC_HANDLE(h);
            hn_notify_service(HcnNotificationNamespaceCreate, id, NULL);
        }
    }
    hj_free(doc);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnEnumerateNamespaces(PCWSTR Query, PWSTR *Namespaces, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnEnumerateNamespaces, Query, Namespaces, ErrorRecord);
    return hn_enumerate(FN_HcnEnumerateNamespaces, HN_NAMESPACE, Query, Namespaces, ErrorRecord);
}

HRESULT WINAPI HcnOpenNamespace(REFGUID Id, PHCN_NAMESPACE Namespace, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnOpenNamespace, Id, Namespace, ErrorRecord);
    return hn_open(FN_HcnOpenNamespace, HN_NAMESPACE, Id, Namespace, ErrorRecord);
}

HRESULT WINAPI HcnQueryNamespaceProperties(HCN_NAMESPACE Namespace, PCWSTR Query, PWSTR *Properties,
                                           PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnQueryNamespaceProperties, Namespace, Query, Properties,
                              ErrorRecord);
    return hn_query_one(FN_HcnQueryNamespaceProperties, HN_NAMESPACE, Namespace, Query, Properties,
                        ErrorRecord, NULL);
}

HRESULT WINAPI HcnCloseNamespace(HCN_NAMESPACE Namespace) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnCloseNamespace, Namespace);
    return hn_close(FN_HcnCloseNamespace, HN_NAMESPACE, Namespace);
}

HRESULT WINAPI HcnModifyNamespace(HCN_NAMESPACE Namespace, PCWSTR Settings, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnModifyNamespace, Namespace, Settings, ErrorRecord);
    HRESULT hr = hn_enter(FN_HcnModifyNamespace, ErrorRecord);
    if (hr != S_OK) return hr;
    hj_value *req = NULL;
    const char *resource, *request;
    const hj_value *settings;
    hc_lock();
    hn_obj *ns = hn_live(Namespace, HN_NAMESPACE, ErrorRecord, &hr);
    if (ns && (hr = hn_parse_request(Settings, ErrorRecord, &req, &resource, &request,
                                     &settings)) == S_OK) {
        const char *raw = endpoint_ref(settings);
        char id[37];
        hn_obj *ep;
        if (strcmp(resource, "Endpoint")) {
            hr = hn_fail(ErrorRecord, HCN_E_REQUEST_UNSUPPORTED,
                         "hcsim modifies a namespace's Endpoint resources only, not %s", resource);
        } else if (!strcmp(request, "Add")) {
            if ((hr = attach(ns, raw, ErrorRecord)) == S_OK) namespace_resources(ns);
        } else if (!strcmp(request, "Remove")) {
            if (!hn_guid_parse(raw, id))
                hr = hn_fail(ErrorRecord, HCN_E_INVALID_JSON,
                             "Settings.EndpointId is missing or not a GUID");
            else if (!(ep = hn_find(HN_ENDPOINT, id)))
                hr = hn_fail(ErrorRecord, HCN_E_ENDPOINT_NOT_FOUND, "No endpoint with the id %s",
                             id);
            else if (ep->ns != ns)
                hr = hn_fail(ErrorRecord, HN_E_NOT_FOUND, "The endpoint %s is not in namespace %s",
                             id, ns->id);
            else
                hn_namespace_detach(ns, ep);
        } else if (strcmp(request, "Refresh")) {
            hr = hn_fail(ErrorRecord, HCN_E_REQUEST_UNSUPPORTED,
                         "A namespace's endpoints are added or removed, not %sd", request);
        }
    }
    hj_free(req);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnDeleteNamespace(REFGUID Id, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnDeleteNamespace, Id, ErrorRecord);
    HRESULT hr;
    char id[37];
    hn_obj *ns = hn_delete_find(FN_HcnDeleteNamespace, HN_NAMESPACE, Id, ErrorRecord, id, &hr);
    if (!ns) return hr;
    for (hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next)
        if (e->ns == ns) set_endpoint_namespace(e, NULL);
    hn_obj_remove(ns);
    hn_notify_service(HcnNotificationNamespaceDelete, id, NULL);
    hc_unlock();
    return hr;
}

/* ---- load balancers --------------------------------------------------------------------------- */
/* Checks (and completes) a load balancer's members present in doc. */
static HRESULT check_lb(hj_value *doc, PWSTR *record) {
    HRESULT hr;
    if ((hr = hn_member_type(doc, "HostComputeEndpoints", HJ_ARRAY, "load balancer", record)) !=
            S_OK ||
        (hr = hn_member_type(doc, "SourceVIP", HJ_STRING, "load balancer", record)) != S_OK ||
        (hr = hn_member_type(doc, "FrontendVIPs", HJ_ARRAY, "load balancer", record)) != S_OK ||
        (hr = hn_member_type(doc, "PortMappings", HJ_ARRAY, "load balancer", record)) != S_OK ||
        (hr = hn_member_type(doc, "Flags", HJ_NUMBER, "load balancer", record)) != S_OK ||
        (hr = hn_member_type(doc, "SchemaVersion", HJ_OBJECT, "load balancer", record)) != S_OK)
        return hr;
    const hj_value *eps = hj_get(doc, "HostComputeEndpoints");
    hj_value *ids = hj_new_array();
    for (size_t i = 0; i < hj_count(eps); i++) {
        const char *raw = hj_str(hj_at(eps, i), NULL);
        char id[37];
        if (!hn_guid_parse(raw, id)) {
            hj_free(ids);
            return hn_fail(record, HCN_E_INVALID_JSON, "HostComputeEndpoints[%u] is not a GUID",
                           (unsigned)i);
        }
        if (!hn_find(HN_ENDPOINT, id)) {
            hj_free(ids);
            return hn_fail(record, HCN_E_ENDPOINT_NOT_FOUND, "No endpoint with the id %s", id);
        }
        hj_push(ids, hj_new_string(id));
    }
    if (eps)
        hj_set(doc, "HostComputeEndpoints", ids);
    else
        hj_free(ids);
    const char *vip = hj_str(hj_get(doc, "SourceVIP"), NULL);
    if (vip && *vip && !hn_ip_text_valid(vip))
        return hn_fail(record, HCN_E_INVALID_IP, "SourceVIP %s is not an IP address", vip);
    const hj_value *fe = hj_get(doc, "FrontendVIPs");
    for (size_t i = 0; i < hj_count(fe); i++)
        if (!hn_ip_text_valid(hj_str(hj_at(fe, i), NULL)))
            return hn_fail(record, HCN_E_INVALID_IP, "FrontendVIPs[%u] is not an IP address",
                           (unsigned)i);
    const hj_value *pm = hj_get(doc, "PortMappings");
    for (size_t i = 0; i < hj_count(pm); i++) {
        const hj_value *m = hj_at(pm, i);
        uint64_t in = 0, ex = 0, proto = 0;
        if (hj_typeof(m) != HJ_OBJECT ||
            (hj_get(m, "Protocol") && !hj_uint64(hj_get(m, "Protocol"), &proto)) ||
            (hj_get(m, "ExternalPort") &&
             (!hj_uint64(hj_get(m, "ExternalPort"), &ex) || ex > 65535)))
            return hn_fail(record, HCN_E_INVALID_JSON,
                           "PortMappings[%u] needs a numeric Protocol and ports 0-65535",
                           (unsigned)i);
        if (hj_get(m, "InternalPort") && (!hj_uint64(hj_get(m, "InternalPort"), &in) || in > 65535))
            return hn_fail(record, HCSIM_HR(0x803B002Du),
                           "PortMappings[%u]: the InternalPort is not a port number", (unsigned)i);
    }
    return S_OK;
}

/* A new load balancer's members, and the schema version it reports. */
static HRESULT check_new_lb(hj_value *doc, PWSTR *record) {
    HRESULT hr = check_lb(doc, record);
    if (hr == S_OK) hn_default_schema(doc);
    return hr;
}

HRESULT WINAPI HcnCreateLoadBalancer(REFGUID Id, PCWSTR Settings, PHCN_LOADBALANCER LoadBalancer,
                                     PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnCreateLoadBalancer, Id, Settings, LoadBalancer, ErrorRecord);
    return hn_create(FN_HcnCreateLoadBalancer, HN_LB, Id, Settings, check_new_lb, LoadBalancer,
                     ErrorRecord, 0, 0);
}

HRESULT WINAPI HcnEnumerateLoadBalancers(PCWSTR Query, PWSTR *LoadBalancer, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnEnumerateLoadBalancers, Query, LoadBalancer, ErrorRecord);
    return hn_enumerate(FN_HcnEnumerateLoadBalancers, HN_LB, Query, LoadBalancer, ErrorRecord);
}

HRESULT WINAPI HcnOpenLoadBalancer(REFGUID Id, PHCN_LOADBALANCER LoadBalancer, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnOpenLoadBalancer, Id, LoadBalancer, ErrorRecord);
    return hn_open(FN_HcnOpenLoadBalancer, HN_LB, Id, LoadBalancer, ErrorRecord);
}

HRESULT WINAPI HcnQueryLoadBalancerProperties(HCN_LOADBALANCER LoadBalancer, PCWSTR Query,
                                              PWSTR *Properties, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnQueryLoadBalancerProperties, LoadBalancer, Query, Properties,
                              ErrorRecord);
    return hn_query_one(FN_HcnQueryLoadBalancerProperties, HN_LB, LoadBalancer, Query, Properties,
                        ErrorRecord, NULL);
}

HRESULT WINAPI HcnCloseLoadBalancer(HCN_LOADBALANCER LoadBalancer) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnCloseLoadBalancer, LoadBalancer);
    return hn_close(FN_HcnCloseLoadBalancer, HN_LB, LoadBalancer);
}

/* hcsshim has no load balancer request type: the settings given replace the members they
 * name (checked as at creation); the ID cannot change. */
HRESULT WINAPI HcnModifyLoadBalancer(HCN_LOADBALANCER LoadBalancer, PCWSTR Settings,
                                     PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnModifyLoadBalancer, LoadBalancer, Settings, ErrorRecord);
    HRESULT hr = hn_enter(FN_HcnModifyLoadBalancer, ErrorRecord);
    if (hr != S_OK) return hr;
    hj_value *doc = NULL;
    hc_lock();
    hn_obj *lb = hn_live(LoadBalancer, HN_LB, ErrorRecord, &hr);
    char id[37];
    const hj_value *given = NULL;
    if (lb &&
        (hr = hn_parse_object(Settings, "load balancer settings", ErrorRecord, &doc)) == S_OK) {
        if ((given = hj_get(doc, "ID")) &&
            (!hn_guid_parse(hj_str(given, NULL), id) || strcmp(id, lb->id)))
            hr = hn_fail(ErrorRecord, E_INVALIDARG, "The ID of load balancer %s cannot change",
                         lb->id);
        else if ((hr = check_lb(doc, ErrorRecord)) == S_OK)
            for (size_t i = 0; i < hj_count(doc); i++)
                if (strcmp(hj_key_at(doc, i), "ID"))
                    hj_set(lb->doc, hj_key_at(doc, i), hj_clone(hj_at(doc, i)));
    }
    hj_free(doc);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnDeleteLoadBalancer(REFGUID Id, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnDeleteLoadBalancer, Id, ErrorRecord);
    HRESULT hr;
    char id[37];
    hn_obj *lb = hn_delete_find(FN_HcnDeleteLoadBalancer, HN_LB, Id, ErrorRecord, id, &hr);
    if (!lb) return hr;
    hn_obj_remove(lb);
    hc_unlock();
    return hr;
}
