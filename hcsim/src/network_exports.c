/* hcsim computenetwork: the network and endpoint exports (README "Host Compute
 * Network"). Every call is synchronous; documents out are freed with CoTaskMemFree. */
#include "network_objects.h"

#include <stdlib.h>
#include <string.h>

/* ---- networks ---------------------------------------------------------------------------- */
static const char *const network_types[] = {"NAT",      "ICS",      "Transparent",
                                            "L2Bridge", "L2Tunnel", "Overlay",
                                            "Private",  "Internal", "Mirrored"};

static HRESULT check_network(hj_value *doc, PWSTR *record) {
    const char *type = hj_str(hj_get(doc, "Type"), NULL);
    const char *canon = NULL;
    for (size_t i = 0; type && i < sizeof network_types / sizeof *network_types; i++)
        if (!strcasecmp(type, network_types[i])) canon = network_types[i];
    if (!canon)
        return hn_fail(record, HCN_E_INVALID_NETWORK_TYPE,
                       "The network Type %s is none of NAT, ICS, Transparent, L2Bridge, "
                       "L2Tunnel, Overlay, Private, Internal, Mirrored",
                       type ? type : "(missing)");
    hj_set(doc, "Type", hj_new_string(canon));
    HRESULT hr;
    if ((hr = hn_member_type(doc, "Name", HJ_STRING, "network", record)) != S_OK ||
        (hr = hn_member_type(doc, "Dns", HJ_OBJECT, "network", record)) != S_OK ||
        (hr = hn_member_type(doc, "Flags", HJ_NUMBER, "network", record)) != S_OK ||
        (hr = hn_member_type(doc, "SchemaVersion", HJ_OBJECT, "network", record)) != S_OK)
        return hr;
    if (!hn_is_policy_list(hj_get(doc, "Policies")))
        return hn_fail(record, HCN_E_INVALID_POLICY,
                       "network: Policies must be an array of objects with a Type");
    hn_default_schema(doc);
    return hn_ipam_network(doc, record);
}

HRESULT WINAPI HcnCreateNetwork(REFGUID Id, PCWSTR Settings, PHCN_NETWORK Network,
                                PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnCreateNetwork, Id, Settings, Network, ErrorRecord);
    return hn_create(FN_HcnCreateNetwork, HN_NETWORK, Id, Settings, check_network, Network,
                     ErrorRecord, HcnNotificationNetworkPreCreate, HcnNotificationNetworkCreate);
}

HRESULT WINAPI HcnEnumerateNetworks(PCWSTR Query, PWSTR *Networks, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnEnumerateNetworks, Query, Networks, ErrorRecord);
    return hn_enumerate(FN_HcnEnumerateNetworks, HN_NETWORK, Query, Networks, ErrorRecord);
}

HRESULT WINAPI HcnOpenNetwork(REFGUID Id, PHCN_NETWORK Network, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnOpenNetwork, Id, Network, ErrorRecord);
    return hn_open(FN_HcnOpenNetwork, HN_NETWORK, Id, Network, ErrorRecord);
}

HRESULT WINAPI HcnQueryNetworkProperties(HCN_NETWORK Network, PCWSTR Query, PWSTR *Properties,
                                         PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnQueryNetworkProperties, Network, Query, Properties,
                              ErrorRecord);
    return hn_query_one(FN_HcnQueryNetworkProperties, HN_NETWORK, Network, Query, Properties,
                        ErrorRecord, NULL);
}

HRESULT WINAPI HcnCloseNetwork(HCN_NETWORK Network) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnCloseNetwork, Network);
    return hn_close(FN_HcnCloseNetwork, HN_NETWORK, Network);
}

static int endpoints_on(const hn_obj *net) {
    int n = 0;
    for (const hn_obj *e = G.hcn->objs[HN_ENDPOINT]; e; e = e->next) n += e->network == net;
    return n;
}

HRESULT WINAPI HcnDeleteNetwork(REFGUID Id, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnDeleteNetwork, Id, ErrorRecord);
    HRESULT hr;
    char id[37];
    hn_obj *o = hn_delete_find(FN_HcnDeleteNetwork, HN_NETWORK, Id, ErrorRecord, id, &hr);
    if (!o) return hr;
    int n = endpoints_on(o);
    if (n) {
        hr = hn_fail(ErrorRecord, HCN_E_ENTITY_HAS_REFERENCES,
                     "The network %s still has %d endpoint(s); delete them first", id, n);
    } else {
        hn_notify_service(HcnNotificationNetworkPreDelete, id, NULL);
        hn_obj_remove(o);
        hn_notify_service(HcnNotificationNetworkDelete, id, NULL);
    }
    hc_unlock();
    return hr;
}

/* A ModifySettingRequest's Policy resource on doc's "Policies": Add appends, Remove removes
 * equal ones (HCN_E_POLICY_NOT_FOUND when one is not there), Update replaces them all. */
static HRESULT modify_policies(hj_value *doc, const char *request, const hj_value *settings,
                               PWSTR *record) {
    const hj_value *policies = hj_get(settings, "Policies");
    if (!hn_is_policy_list(policies) || !policies)
        return hn_fail(record, HCN_E_INVALID_POLICY,
                       "Settings.Policies must be an array of objects with a Type");
    hj_value *now = hj_clone(hj_get(doc, "Policies"));
    if (!now) now = hj_new_array();
    hj_value *next = hj_new_array();
    if (!strcmp(request, "Update")) {
        for (size_t i = 0; i < hj_count(policies); i++) hj_push(next, hj_clone(hj_at(policies, i)));
    } else if (!strcmp(request, "Add")) {
        for (size_t i = 0; i < hj_count(now); i++) hj_push(next, hj_clone(hj_at(now, i)));
        for (size_t i = 0; i < hj_count(policies); i++) hj_push(next, hj_clone(hj_at(policies, i)));
    } else { /* Remove */
        uint8_t *gone = calloc(hj_count(now) + 1, 1);
        for (size_t i = 0; gone && i < hj_count(policies); i++) {
            size_t k = 0;
            while (k < hj_count(now) && (gone[k] || !hj_equal(hj_at(now, k), hj_at(policies, i))))
                k++;
            if (k == hj_count(now)) {
                free(gone);
                hj_free(now);
                hj_free(next);
                return hn_fail(record, HCSIM_HR(0x803B0008u),
                               "Policy %u of the request is not applied", (unsigned)i);
            }
            gone[k] = 1;
        }
        for (size_t i = 0; gone && i < hj_count(now); i++)
            if (!gone[i]) hj_push(next, hj_clone(hj_at(now, i)));
        free(gone);
    }
    hj_free(now);
    hj_set(doc, "Policies", next);
    return S_OK;
}

/* A request {ResourceType, RequestType, Settings}; request types Add, Remove, Update,
 * Refresh (Refresh: nothing to do). */
HRESULT hn_parse_request(PCWSTR text, PWSTR *record, hj_value **req, const char **resource,
                         const char **request, const hj_value **settings) {
    HRESULT hr = hn_parse_object(text, "modify request", record, req);
    if (hr != S_OK) return hr;
    static const char *const requests[] = {"Add", "Remove", "Update", "Refresh"};
    static const char *const resources_ns[] = {"Container", "Endpoint"};
    const hj_value *rt = hj_get(*req, "RequestType"), *rs = hj_get(*req, "ResourceType");
    uint64_t n;
    *request = hj_str(rt, NULL);
    if (!*request && hj_uint64(rt, &n) && n < 4) *request = requests[n];
    *resource = hj_str(rs, NULL);
    if (!*resource && hj_uint64(rs, &n) && n < 2) *resource = resources_ns[n];
    *settings = hj_get(*req, "Settings");
    int known = 0;
    for (size_t i = 0; *request && i < 4; i++) known |= !strcmp(*request, requests[i]);
    if (!known || !*resource) {
        hj_free(*req);
        *req = NULL;
        return hn_fail(record, HCN_E_INVALID_JSON,
                       "The request needs a ResourceType and a RequestType (Add, Remove, "
                       "Update, Refresh)");
    }
    return S_OK;
}

HRESULT WINAPI HcnModifyNetwork(HCN_NETWORK Network, PCWSTR Settings, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnModifyNetwork, Network, Settings, ErrorRecord);
    HRESULT hr = hn_enter(FN_HcnModifyNetwork, ErrorRecord);
    if (hr != S_OK) return hr;
    hj_value *req = NULL;
    const char *resource, *request;
    const hj_value *settings;
    hc_lock();
    hn_obj *o = hn_live(Network, HN_NETWORK, ErrorRecord, &hr);
    if (o && (hr = hn_parse_request(Settings, ErrorRecord, &req, &resource, &request, &settings)) ==
                 S_OK) {
        if (!strcmp(request, "Refresh")) {
            /* nothing hcsim keeps can be stale */
        } else if (!strcmp(resource, "Policy")) {
            hr = modify_policies(o->doc, request, settings, ErrorRecord);
        } else if (!strcmp(resource, "DNS")) {
            if (hj_typeof(settings) != HJ_OBJECT)
                hr = hn_fail(ErrorRecord, HCN_E_INVALID_JSON, "DNS settings must be an object");
            else if (!strcmp(request, "Remove"))
                hj_remove(o->doc, "Dns");
            else
                hj_set(o->doc, "Dns", hj_clone(settings));
        } else {
            hr = hn_fail(ErrorRecord, HCN_E_REQUEST_UNSUPPORTED,
                         "hcsim does not modify a network's %s", resource);
        }
    }
    hj_free(req);
    hc_unlock();
    return hr;
}

/* ---- endpoints ------------------------------------------------------------------------------- */
static HRESULT check_endpoint(hn_obj *ep, hj_value *doc, PWSTR *record) {
    const hj_value *net = hj_get(doc, "HostComputeNetwork");
    char given[37];
    if (net && (!hn_guid_parse(hj_str(net, NULL), given) || strcmp(given, ep->network->id)))
        return hn_fail(record, HCN_E_INVALID_ENDPOINT,
                       "HostComputeNetwork is not the id of network %s the endpoint is created on",
                       ep->network->id);
    if (hj_get(doc, "HostComputeNamespace"))
        return hn_fail(record, HCN_E_INVALID_ENDPOINT,
                       "HostComputeNamespace is read-only: attach the endpoint with "
                       "HcnModifyNamespace");
    HRESULT hr;
    if ((hr = hn_member_type(doc, "Name", HJ_STRING, "endpoint", record)) != S_OK ||
        (hr = hn_member_type(doc, "Dns", HJ_OBJECT, "endpoint", record)) != S_OK ||
        (hr = hn_member_type(doc, "Flags", HJ_NUMBER, "endpoint", record)) != S_OK ||
        (hr = hn_member_type(doc, "SchemaVersion", HJ_OBJECT, "endpoint", record)) != S_OK)
        return hr;
    if (!hn_is_policy_list(hj_get(doc, "Policies")))
        return hn_fail(record, HCN_E_INVALID_POLICY,
                       "endpoint: Policies must be an array of objects with a Type");
    hj_set(doc, "HostComputeNetwork", hj_new_string(ep->network->id));
    hn_default_schema(doc);
    return hn_ipam_endpoint(ep, doc, record);
}

HRESULT WINAPI HcnCreateEndpoint(HCN_NETWORK Network, REFGUID Id, PCWSTR Settings,
                                 PHCN_ENDPOINT Endpoint, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnCreateEndpoint, Network, Id, Settings, Endpoint, ErrorRecord);
    if (Endpoint) *Endpoint = NULL;
    HRESULT hr = hn_enter_out(FN_HcnCreateEndpoint, ErrorRecord, Endpoint);
    if (hr != S_OK) return hr;
    hj_value *doc = NULL;
    char id[37];
    hc_lock();
    hn_obj *net = hn_live(Network, HN_NETWORK, ErrorRecord, &hr);
    hn_obj probe = {.kind = HN_ENDPOINT, .network = net};
    if (net && (hr = hn_parse_object(Settings, "endpoint settings", ErrorRecord, &doc)) == S_OK &&
        (hr = hn_create_id(Id, doc, HN_ENDPOINT, ErrorRecord, id)) == S_OK &&
        (hr = check_endpoint(&probe, doc, ErrorRecord)) == S_OK) {
        hn_obj *ep = NULL;
        hr = hn_create_finish(HN_ENDPOINT, id, doc, Endpoint, &ep);
        doc = NULL;
        if (hr == S_OK) {
            ep->network = net;
            ep->ip4 = probe.ip4;
            ep->nip4 = probe.nip4;
            ep->mac = probe.mac;
            probe.ip4 = NULL;
            hn_notify_service(HcnNotificationNetworkEndpointAttached, id, net->id);
        }
    }
    free(probe.ip4);
    hj_free(doc);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnEnumerateEndpoints(PCWSTR Query, PWSTR *Endpoints, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnEnumerateEndpoints, Query, Endpoints, ErrorRecord);
    return hn_enumerate(FN_HcnEnumerateEndpoints, HN_ENDPOINT, Query, Endpoints, ErrorRecord);
}

HRESULT WINAPI HcnOpenEndpoint(REFGUID Id, PHCN_ENDPOINT Endpoint, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnOpenEndpoint, Id, Endpoint, ErrorRecord);
    return hn_open(FN_HcnOpenEndpoint, HN_ENDPOINT, Id, Endpoint, ErrorRecord);
}

HRESULT WINAPI HcnQueryEndpointProperties(HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Properties,
                                          PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnQueryEndpointProperties, Endpoint, Query, Properties,
                              ErrorRecord);
    return hn_query_one(FN_HcnQueryEndpointProperties, HN_ENDPOINT, Endpoint, Query, Properties,
                        ErrorRecord, NULL);
}

/* EndpointStats as HNS reports them (hcsshim's hns.EndpointStats): no traffic, ever. */
static hj_value *stats_view(const hn_obj *o) {
    static const char *const counters[] = {"BytesReceived",          "BytesSent",
                                           "DroppedPacketsIncoming", "DroppedPacketsOutgoing",
                                           "PacketsReceived",        "PacketsSent"};
    hj_value *v = hj_new_object();
    for (size_t i = 0; i < sizeof counters / sizeof *counters; i++)
        hj_set(v, counters[i], hj_new_uint(0));
    hj_set(v, "EndpointId", hj_new_string(o->id));
    hj_set(v, "InstanceId", hj_new_string(o->id));
    return v;
}

HRESULT WINAPI HcnQueryEndpointStats(HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Stats,
                                     PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnQueryEndpointStats, Endpoint, Query, Stats, ErrorRecord);
    return hn_query_one(FN_HcnQueryEndpointStats, HN_ENDPOINT, Endpoint, Query, Stats, ErrorRecord,
                        stats_view);
}

/* hcsim's shape (no published schema): the endpoint's ID, IpConfigurations, MacAddress. */
static hj_value *addresses_view(const hn_obj *o) {
    hj_value *v = hj_new_object();
    hj_set(v, "ID", hj_new_string(o->id));
    const hj_value *c = hj_get(o->doc, "IpConfigurations");
    hj_set(v, "IpConfigurations", c ? hj_clone(c) : hj_new_array());
    hj_set(v, "MacAddress", hj_clone(hj_get(o->doc, "MacAddress")));
    return v;
}

HRESULT WINAPI HcnQueryEndpointAddresses(HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Addresses,
                                         PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnQueryEndpointAddresses, Endpoint, Query, Addresses,
                              ErrorRecord);
    return hn_query_one(FN_HcnQueryEndpointAddresses, HN_ENDPOINT, Endpoint, Query, Addresses,
                        ErrorRecord, addresses_view);
}

HRESULT WINAPI HcnCloseEndpoint(HCN_ENDPOINT Endpoint) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnCloseEndpoint, Endpoint);
    return hn_close(FN_HcnCloseEndpoint, HN_ENDPOINT, Endpoint);
}

HRESULT WINAPI HcnModifyEndpoint(HCN_ENDPOINT Endpoint, PCWSTR Settings, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnModifyEndpoint, Endpoint, Settings, ErrorRecord);
    HRESULT hr = hn_enter(FN_HcnModifyEndpoint, ErrorRecord);
    if (hr != S_OK) return hr;
    hj_value *req = NULL;
    const char *resource, *request;
    const hj_value *settings;
    hc_lock();
    hn_obj *o = hn_live(Endpoint, HN_ENDPOINT, ErrorRecord, &hr);
    if (o && (hr = hn_parse_request(Settings, ErrorRecord, &req, &resource, &request, &settings)) ==
                 S_OK) {
        if (!strcmp(request, "Refresh")) {
            /* nothing to refresh */
        } else if (!strcmp(resource, "Policy")) {
            hr = modify_policies(o->doc, request, settings, ErrorRecord);
        } else if (!strcmp(resource, "Port")) { /* a VM's switch port: no state in hcsim */
            if (hj_typeof(settings) != HJ_OBJECT)
                hr = hn_fail(ErrorRecord, HCN_E_INVALID_JSON, "Port settings must be an object");
        } else {
            hr = hn_fail(ErrorRecord, HCN_E_REQUEST_UNSUPPORTED,
                         "hcsim does not modify an endpoint's %s", resource);
        }
    }
    hj_free(req);
    hc_unlock();
    return hr;
}

/* The load balancer whose HostComputeEndpoints names id, or NULL. */
static const hn_obj *lb_using(const char *id) {
    for (const hn_obj *lb = G.hcn->objs[HN_LB]; lb; lb = lb->next) {
        const hj_value *eps = hj_get(lb->doc, "HostComputeEndpoints");
        for (size_t i = 0; i < hj_count(eps); i++)
            if (!strcmp(hj_str(hj_at(eps, i), NULL), id)) return lb;
    }
    return NULL;
}

HRESULT WINAPI HcnDeleteEndpoint(REFGUID Id, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnDeleteEndpoint, Id, ErrorRecord);
    HRESULT hr;
    char id[37];
    hn_obj *o = hn_delete_find(FN_HcnDeleteEndpoint, HN_ENDPOINT, Id, ErrorRecord, id, &hr);
    if (!o) return hr;
    const hn_obj *lb = lb_using(id);
    if (lb) {
        hr = hn_fail(ErrorRecord, HCN_E_ENTITY_HAS_REFERENCES,
                     "The endpoint %s is a backend of load balancer %s; delete or modify it first",
                     id, lb->id);
    } else {
        char net[37];
        memcpy(net, o->network->id, 37);
        if (o->ns) hn_namespace_detach(o->ns, o);
        hn_obj_remove(o);
        hn_notify_service(HcnNotificationNetworkEndpointDetached, id, net);
    }
    hc_unlock();
    return hr;
}
