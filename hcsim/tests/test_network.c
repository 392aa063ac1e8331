/* hcsim computenetwork (src/network*.c): networks, endpoints, namespaces, load balancers,
 * IPAM, referential rules, queries, faults and reset. */
#include "test_network_util.h"

#ifndef _WIN32
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define E_NOT_FOUND      HCSIM_HR(0x80070490u)
#define E_EXISTS         HCSIM_HR(0x800700B7u)
#define E_EXHAUSTED      HCSIM_HR(0x80070103u)
#define HCN_NET_NF       HCSIM_HR(0x803B0001u)
#define HCN_EP_NF        HCSIM_HR(0x803B0002u)
#define HCN_BAD_TYPE     HCSIM_HR(0x803B000Bu)
#define HCN_BAD_ENDPOINT HCSIM_HR(0x803B000Cu)
#define HCN_BAD_POLICY   HCSIM_HR(0x803B000Du)
#define HCN_NET_EXISTS   HCSIM_HR(0x803B0010u)
#define HCN_ATTACHED     HCSIM_HR(0x803B0014u)
#define HCN_UNSUPPORTED  HCSIM_HR(0x803B0015u)
#define HCN_BAD_JSON     HCSIM_HR(0x803B001Bu)
#define HCN_BAD_IP       HCSIM_HR(0x803B001Eu)
#define HCN_NS_EXISTS    HCSIM_HR(0x803B002Bu)
#define HCN_REFERENCED   HCSIM_HR(0x803B002Cu)
#define HCN_RESERVED     HCSIM_HR(0x803B002Fu)

static hj_value *enumerate(HRESULT (*fn)(PCWSTR, PWSTR *, PWSTR *), const char *query) {
    char16_t *w = query ? tc_w(query) : NULL;
    PWSTR out = NULL;
    HRESULT hr = fn(w, &out, NULL);
    free(w);
    return hr == S_OK ? tn_take(out) : NULL;
}

TEST(network_create_query_enumerate_delete) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK h = NULL, h2 = NULL;
    PWSTR rec = (PWSTR)1;
    CHECK_HR(S_OK, tn_network(NET1, NAT_24, &h, &rec));
    CHECK(rec == NULL && h != NULL);
    PWSTR p = NULL;
    char16_t *detailed = tc_w("{\"SchemaVersion\":{\"Major\":2,\"Minor\":0},\"Flags\":1}");
    CHECK_HR(S_OK, HcnQueryNetworkProperties(h, detailed, &p, NULL));
    hj_value *v = tn_take(p);
    CHECK(!strcmp(hj_str(hj_get(v, "ID"), NULL), NET1));
    CHECK(!strcmp(hj_str(hj_get(v, "Type"), NULL), "NAT"));
    CHECK(!strcmp(hj_str(hj_get(v, "Name"), NULL), "nat"));
    const char *mac0 =
        hj_str(hj_get(hj_at(hj_get(hj_get(v, "MacPool"), "Ranges"), 0), "StartMacAddress"), NULL);
    CHECK(mac0 && !strncmp(mac0, "00-15-5D-", 9));
    hj_free(v);

    v = enumerate(HcnEnumerateNetworks, NULL);
    CHECK(hj_count(v) == 1 && !strcmp(hj_str(hj_at(v, 0), NULL), NET1));
    hj_free(v);
    v = enumerate(HcnEnumerateNetworks,
                  "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0},\"Flags\":1}");
    CHECK(hj_count(v) == 1 && hj_typeof(hj_at(v, 0)) == HJ_OBJECT);
    hj_free(v);
    v = enumerate(HcnEnumerateNetworks, "{\"Filter\":\"{\\\"Name\\\":\\\"nat\\\"}\"}");
    CHECK(hj_count(v) == 1);
    hj_free(v);
    v = enumerate(HcnEnumerateNetworks, "{\"Filter\":\"{\\\"Name\\\":\\\"other\\\"}\"}");
    CHECK(v && hj_count(v) == 0);
    hj_free(v);
    /* GUIDs in a filter: any case, braces */
    v = enumerate(HcnEnumerateNetworks,
                  "{\"Filter\":\"{\\\"ID\\\":\\\"{6F1E0C2A-0B3D-4C5E-8F70-112233445566}\\\"}\"}");
    CHECK(hj_count(v) == 1);
    hj_free(v);

    GUID g = tn_guid(NET1);
    CHECK_HR(S_OK, HcnOpenNetwork(&g, &h2, NULL));
    CHECK(h2 && h2 != h);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.NetworkHandles == 2);
    CHECK_HR(S_OK, HcnCloseNetwork(h2));
    CHECK_HR(E_HANDLE, HcnCloseNetwork(h2));

    CHECK_HR(S_OK, HcnDeleteNetwork(&g, &rec));
    CHECK(rec == NULL);
    /* the handle outlives the object: it refers to nothing now */
    CHECK_HR(HCN_NET_NF, HcnQueryNetworkProperties(h, NULL, &p, &rec));
    CHECK(p == NULL && tn_record(rec, HCN_NET_NF, NET1));
    CHECK_HR(S_OK, HcnCloseNetwork(h));
    CHECK_HR(HCN_NET_NF, HcnOpenNetwork(&g, &h2, &rec));
    CHECK(h2 == NULL && tn_record(rec, HCN_NET_NF, NET1));
    CHECK_HR(HCN_NET_NF, HcnDeleteNetwork(&g, &rec));
    CHECK(tn_record(rec, HCN_NET_NF, "No network"));
    v = enumerate(HcnEnumerateNetworks, "");
    CHECK(v && hj_count(v) == 0);
    hj_free(v);
    free(detailed);
    CHECK(tn_clean(docs));
}

TEST(network_create_errors) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK h = NULL;
    PWSTR rec = NULL;
    CHECK_HR(HCN_BAD_JSON, tn_network(NET1, "{\"Type\":", &h, &rec));
    CHECK(h == NULL && tn_record(rec, HCN_BAD_JSON, "not valid JSON"));
    CHECK_HR(HCN_BAD_JSON, tn_network(NET1, "[1]", &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "not a JSON object"));
    CHECK_HR(HCN_BAD_TYPE, tn_network(NET1, "{\"Type\":\"Bridge\"}", &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_TYPE, "Bridge"));
    CHECK_HR(HCN_BAD_TYPE, tn_network(NET1, "{\"Name\":\"x\"}", &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_TYPE, "missing"));
    CHECK_HR(HCN_BAD_IP,
             tn_network(NET1,
                        "{\"Type\":\"NAT\",\"Ipams\":[{\"Subnets\":[{\"IpAddressPrefix\":"
                        "\"172.30.0.0/33\"}]}]}",
                        &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_IP, "172.30.0.0/33"));
    CHECK_HR(HCN_BAD_IP,
             tn_network(NET1,
                        "{\"Type\":\"NAT\",\"Ipams\":[{\"Subnets\":[{\"IpAddressPrefix\":"
                        "\"fd00::1::/64\"}]}]}",
                        &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_IP, "fd00::1::/64"));
    CHECK_HR(HCN_RESERVED,
             tn_network(NET1,
                        "{\"Type\":\"NAT\",\"Ipams\":[{\"Subnets\":[{\"IpAddressPrefix\":"
                        "\"10.0.0.0/24\",\"Routes\":[{\"NextHop\":\"10.0.1.1\"}]}]}]}",
                        &h, &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "outside the subnet"));
    CHECK_HR(HCN_BAD_POLICY, tn_network(NET1, "{\"Type\":\"NAT\",\"Policies\":[1]}", &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_POLICY, "Policies"));
    CHECK_HR(HCN_BAD_JSON, tn_network(NET1, "{\"Type\":\"NAT\",\"Name\":5}", &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "Name"));
    CHECK_HR(HCN_BAD_JSON,
             tn_network(NET1,
                        "{\"Type\":\"NAT\",\"MacPool\":{\"Ranges\":[{\"StartMacAddress\":"
                        "\"00-15-5D-00-00-10\",\"EndMacAddress\":\"00-15-5D-00-00-01\"}]}}",
                        &h, &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "MacPool"));
    CHECK_HR(E_INVALIDARG, tn_network(NET1, NULL, &h, &rec));
    CHECK(tn_record(rec, E_INVALIDARG, "missing"));
    CHECK_HR(E_POINTER, tn_network(NET1, NAT_24, NULL, NULL));
    CHECK_HR(E_INVALIDARG, HcnCreateNetwork(NULL, u"{\"Type\":\"NAT\"}", &h, NULL));

    /* every type by name, any case; the zero GUID takes the document's ID (any case) */
    static const char *const types[] = {"nat",     "ICS",     "transparent", "L2Bridge", "L2Tunnel",
                                        "Overlay", "Private", "Internal",    "Mirrored"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        char doc[128];
        snprintf(doc, sizeof doc, "{\"Type\":\"%s\"}", types[i]);
        CHECK_HR(S_OK, tn_network(NULL, doc, &h, NULL));
        CHECK_HR(S_OK, HcnCloseNetwork(h));
    }
    hj_value *v = enumerate(HcnEnumerateNetworks, NULL);
    CHECK(hj_count(v) == 9);
    hj_free(v);
    CHECK_HR(S_OK, tn_network(NULL,
                              "{\"ID\":\"{7A2B3C4D-5E6F-4A1B-9C2D-3E4F5A6B7C8D}\","
                              "\"Type\":\"NAT\"}",
                              &h, NULL));
    CHECK_HR(S_OK, HcnCloseNetwork(h));
    GUID g2 = tn_guid(NET2);
    CHECK_HR(S_OK, HcnOpenNetwork(&g2, &h, NULL));
    CHECK_HR(S_OK, HcnCloseNetwork(h));
    CHECK_HR(HCN_NET_EXISTS, tn_network(NET2, NAT_24, &h, &rec));
    CHECK(tn_record(rec, HCN_NET_EXISTS, NET2));
    CHECK_HR(E_INVALIDARG, tn_network(NET1, "{\"ID\":\"" NET2 "\",\"Type\":\"NAT\"}", &h, &rec));
    CHECK(tn_record(rec, E_INVALIDARG, "is not the id argument"));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

TEST(network_ipam_allocates_and_frees) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net;
    REQUIRE(tn_network(NET1,
                       "{\"Type\":\"NAT\",\"Ipams\":[{\"Subnets\":[{\"IpAddressPrefix\":"
                       "\"10.0.0.0/29\"}]}]}",
                       &net, NULL) == S_OK);
    HCN_ENDPOINT ep[6];
    char ids[6][64];
    const char *want[] = {"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"};
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "0000000%d-2222-4333-8444-555555555555", i);
        REQUIRE(tn_endpoint(net, ids[i], "{}", &ep[i], NULL) == S_OK);
        hj_value *v = tn_endpoint_props(ep[i]);
        CHECK(tn_ip(v) && !strcmp(tn_ip(v), want[i]));
        uint64_t len = 0;
        CHECK(hj_uint64(hj_get(hj_at(hj_get(v, "IpConfigurations"), 0), "PrefixLength"), &len) &&
              len == 29);
        CHECK(!strcmp(hj_str(hj_get(v, "HostComputeNetwork"), NULL), NET1));
        const char *mac = hj_str(hj_get(v, "MacAddress"), NULL);
        CHECK(mac && !strncmp(mac, "00-15-5D-", 9));
        /* the gateway (.1, the subnet has no route) as the default route */
        CHECK(!strcmp(hj_str(hj_get(hj_at(hj_get(v, "Routes"), 0), "NextHop"), NULL), "10.0.0.1"));
        hj_free(v);
    }
    PWSTR rec = NULL;
    CHECK_HR(E_EXHAUSTED, tn_endpoint(net, NULL, "{}", &ep[5], &rec));
    CHECK(tn_record(rec, E_EXHAUSTED, "10.0.0.0/29"));
    /* deleting frees the address, the next endpoint gets it */
    GUID g = tn_guid(ids[1]);
    CHECK_HR(S_OK, HcnCloseEndpoint(ep[1]));
    CHECK_HR(S_OK, HcnDeleteEndpoint(&g, NULL));
    REQUIRE(tn_endpoint(net, NULL, "{\"IpConfigurations\":[]}", &ep[1], NULL) == S_OK);
    hj_value *v = tn_endpoint_props(ep[1]);
    CHECK(tn_ip(v) && !strcmp(tn_ip(v), "10.0.0.3"));
    hj_free(v);
    for (int i = 0; i < 5; i++) CHECK_HR(S_OK, HcnCloseEndpoint(ep[i]));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

TEST(network_ipam_explicit_addresses) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net;
    HCN_ENDPOINT ep = NULL, ep2 = NULL;
    PWSTR rec = NULL;
    REQUIRE(tn_network(NET1, NAT_24, &net, NULL) == S_OK);
    static const struct {
        const char *addr;
        HRESULT hr;
        const char *part;
    } bad[] = {{"172.30.6.9", HCN_RESERVED, "no subnet"},
               {"172.30.5.0", HCN_RESERVED, "network or broadcast"},
               {"172.30.5.255", HCN_RESERVED, "network or broadcast"},
               {"172.30.5.1", HCN_RESERVED, "gateway"},
               {"172.30.5.300", HCN_BAD_IP, "not an IP address"},
               {"nonsense", HCN_BAD_IP, "not an IP address"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char doc[128];
        snprintf(doc, sizeof doc, "{\"IpConfigurations\":[{\"IpAddress\":\"%s\"}]}", bad[i].addr);
        CHECK_HR(bad[i].hr, tn_endpoint(net, EP1, doc, &ep, &rec));
        CHECK(ep == NULL && tn_record(rec, bad[i].hr, bad[i].part));
    }
    REQUIRE(tn_endpoint(net, EP1,
                        "{\"IpConfigurations\":[{\"IpAddress\":\"172.30.5.77\"}],"
                        "\"MacAddress\":\"00:15:5d:aa:bb:cc\"}",
                        &ep, NULL) == S_OK);
    hj_value *v = tn_endpoint_props(ep);
    CHECK(!strcmp(tn_ip(v), "172.30.5.77"));
    CHECK(!strcmp(hj_str(hj_get(v, "MacAddress"), NULL), "00-15-5D-AA-BB-CC"));
    hj_free(v);
    CHECK_HR(HCN_RESERVED,
             tn_endpoint(net, EP2, "{\"IpConfigurations\":[{\"IpAddress\":\"172.30.5.77\"}]}", &ep2,
                         &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "in use by endpoint " EP1));
    CHECK_HR(E_EXISTS, tn_endpoint(net, EP1, "{}", &ep2, &rec));
    CHECK(tn_record(rec, E_EXISTS, EP1));
    CHECK_HR(HCN_BAD_JSON, tn_endpoint(net, EP2, "{\"MacAddress\":\"00-15-5D\"}", &ep2, &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "MacAddress"));
    CHECK_HR(HCN_BAD_ENDPOINT,
             tn_endpoint(net, EP2, "{\"HostComputeNetwork\":\"" NET2 "\"}", &ep2, &rec));
    CHECK(tn_record(rec, HCN_BAD_ENDPOINT, "HostComputeNetwork"));
    CHECK_HR(HCN_BAD_ENDPOINT,
             tn_endpoint(net, EP2, "{\"HostComputeNamespace\":\"" NS1 "\"}", &ep2, &rec));
    CHECK(tn_record(rec, HCN_BAD_ENDPOINT, "read-only"));
    CHECK_HR(E_HANDLE, tn_endpoint((HCN_NETWORK)(uintptr_t)0x1234, EP2, "{}", &ep2, NULL));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep));
    CHECK_HR(S_OK, HcnCloseNetwork(net));

    /* IPv6 prefixes: checked, an explicit IPv6 address inside one accepted */
    REQUIRE(tn_network(NET2,
                       "{\"Type\":\"L2Bridge\",\"Ipams\":[{\"Subnets\":[{\"IpAddressPrefix\":"
                       "\"192.168.7.0/24\"},{\"IpAddressPrefix\":\"fd00:7::/64\"}]}]}",
                       &net, NULL) == S_OK);
    REQUIRE(tn_endpoint(net, EP2,
                        "{\"IpConfigurations\":[{\"IpAddress\":\"fd00:7::10\"},"
                        "{\"IpAddress\":\"192.168.7.9\",\"PrefixLength\":24}]}",
                        &ep2, NULL) == S_OK);
    v = tn_endpoint_props(ep2);
    uint64_t len = 0;
    CHECK(hj_uint64(hj_get(hj_at(hj_get(v, "IpConfigurations"), 0), "PrefixLength"), &len) &&
          len == 64);
    hj_free(v);
    CHECK_HR(HCN_RESERVED,
             tn_endpoint(net, NULL, "{\"IpConfigurations\":[{\"IpAddress\":\"fd00:8::1\"}]}", &ep,
                         &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "no subnet"));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep2));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

TEST(network_referential_rules) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net;
    HCN_ENDPOINT e1, e2;
    HCN_NAMESPACE n1, n2;
    HCN_LOADBALANCER lb;
    PWSTR rec = NULL;
    REQUIRE(tn_network(NET1, NAT_24, &net, NULL) == S_OK);
    REQUIRE(tn_endpoint(net, EP1, "{}", &e1, NULL) == S_OK);
    REQUIRE(tn_endpoint(net, EP2, "{}", &e2, NULL) == S_OK);
    GUID gnet = tn_guid(NET1), gep1 = tn_guid(EP1), gep2 = tn_guid(EP2), gns1 = tn_guid(NS1),
         gns2 = tn_guid(NS2), glb = tn_guid(LB1);
    CHECK_HR(HCN_REFERENCED, HcnDeleteNetwork(&gnet, &rec));
    CHECK(tn_record(rec, HCN_REFERENCED, "2 endpoint"));

    /* namespaces: created with one endpoint, the other added; one namespace each */
    REQUIRE(tn_namespace(NS1,
                         "{\"Type\":\"HostDefault\",\"Resources\":[{\"Type\":\"Endpoint\","
                         "\"Data\":{\"ID\":\"" EP1 "\"}}]}",
                         &n1, NULL) == S_OK);
    hj_value *v = tn_endpoint_props(e1);
    CHECK(!strcmp(hj_str(hj_get(v, "HostComputeNamespace"), NULL), NS1));
    hj_free(v);
    CHECK_HR(E_EXISTS, tn_namespace(NS1, "{}", &n2, &rec));
    CHECK(tn_record(rec, E_EXISTS, NS1));
    CHECK_HR(HCN_NS_EXISTS, tn_namespace(NS2,
                                         "{\"Resources\":[{\"Type\":\"Endpoint\",\"Data\":"
                                         "{\"ID\":\"" EP1 "\"}}]}",
                                         &n2, &rec));
    CHECK(tn_record(rec, HCN_NS_EXISTS, NS1));
    REQUIRE(tn_namespace(NS2, "{\"Type\":\"host\"}", &n2, NULL) == S_OK);
    CHECK_HR(HCN_NS_EXISTS, tn_modify_ns(n2, "Add", EP1, &rec));
    CHECK(tn_record(rec, HCN_NS_EXISTS, EP1));
    CHECK_HR(HCN_ATTACHED, tn_modify_ns(n1, "Add", EP1, &rec));
    CHECK(tn_record(rec, HCN_ATTACHED, EP1));
    CHECK_HR(HCN_EP_NF, tn_modify_ns(n1, "Add", "99999999-2222-4333-8444-555555555555", &rec));
    CHECK(tn_record(rec, HCN_EP_NF, "99999999"));
    CHECK_HR(E_NOT_FOUND, tn_modify_ns(n1, "Remove", EP2, &rec));
    CHECK(tn_record(rec, E_NOT_FOUND, "not in namespace"));
    CHECK_HR(S_OK, tn_modify_ns(n2, "Add", EP2, NULL));
    PWSTR p = NULL;
    CHECK_HR(S_OK, HcnQueryNamespaceProperties(n2, NULL, &p, NULL));
    v = tn_take(p);
    CHECK(!strcmp(hj_str(hj_get(v, "Type"), NULL), "Host"));
    CHECK(hj_count(hj_get(v, "Resources")) == 1);
    CHECK(
        !strcmp(hj_str(hj_get(hj_get(hj_at(hj_get(v, "Resources"), 0), "Data"), "ID"), NULL), EP2));
    hj_free(v);
    CHECK_HR(HCN_UNSUPPORTED,
             HcnModifyNamespace(n2,
                                u"{\"ResourceType\":\"Container\",\"RequestType\":\"Add\","
                                u"\"Settings\":{}}",
                                &rec));
    CHECK(tn_record(rec, HCN_UNSUPPORTED, "Container"));
    CHECK_HR(HCN_BAD_JSON, HcnModifyNamespace(n2, u"{\"RequestType\":\"Add\"}", &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "ResourceType"));

    /* a load balancer's backends must exist; a backend cannot be deleted */
    char16_t *w = tc_w("{\"HostComputeEndpoints\":[\"99999999-2222-4333-8444-555555555555\"]}");
    CHECK_HR(HCN_EP_NF, HcnCreateLoadBalancer(&glb, w, &lb, &rec));
    CHECK(tn_record(rec, HCN_EP_NF, "99999999"));
    free(w);
    w = tc_w("{\"HostComputeEndpoints\":[\"" EP2 "\"],\"SourceVIP\":\"172.30.5.200\","
             "\"FrontendVIPs\":[\"10.96.0.10\"],\"PortMappings\":[{\"Protocol\":6,"
             "\"InternalPort\":80,\"ExternalPort\":8080}]}");
    CHECK_HR(S_OK, HcnCreateLoadBalancer(&glb, w, &lb, NULL));
    free(w);
    CHECK_HR(HCN_REFERENCED, HcnDeleteEndpoint(&gep2, &rec));
    CHECK(tn_record(rec, HCN_REFERENCED, LB1));
    CHECK_HR(S_OK, HcnModifyLoadBalancer(lb, u"{\"HostComputeEndpoints\":[]}", NULL));
    CHECK_HR(S_OK, HcnCloseLoadBalancer(lb));
    CHECK_HR(S_OK, HcnDeleteLoadBalancer(&glb, NULL));
    CHECK_HR(E_NOT_FOUND, HcnDeleteLoadBalancer(&glb, &rec));
    CHECK(tn_record(rec, E_NOT_FOUND, LB1));
    CHECK_HR(E_NOT_FOUND, HcnOpenLoadBalancer(&glb, &lb, &rec));
    CHECK(tn_record(rec, E_NOT_FOUND, LB1));

    /* deleting an endpoint detaches it; deleting a namespace detaches its endpoints */
    CHECK_HR(S_OK, HcnDeleteEndpoint(&gep2, NULL));
    CHECK_HR(S_OK, HcnQueryNamespaceProperties(n2, NULL, &p, NULL));
    v = tn_take(p);
    CHECK(hj_count(hj_get(v, "Resources")) == 0);
    hj_free(v);
    CHECK_HR(S_OK, HcnDeleteNamespace(&gns1, NULL));
    v = tn_endpoint_props(e1);
    CHECK(hj_get(v, "HostComputeNamespace") == NULL);
    hj_free(v);
    CHECK_HR(S_OK, tn_modify_ns(n2, "Add", EP1, NULL));
    CHECK_HR(S_OK, tn_modify_ns(n2, "Remove", EP1, NULL));
    CHECK_HR(E_NOT_FOUND, HcnDeleteNamespace(&gns1, &rec));
    CHECK(tn_record(rec, E_NOT_FOUND, NS1));
    HCN_NAMESPACE gone = (HCN_NAMESPACE)1;
    CHECK_HR(E_NOT_FOUND, HcnOpenNamespace(&gns1, &gone, NULL));
    CHECK(gone == NULL);
    CHECK_HR(S_OK, HcnDeleteNamespace(&gns2, NULL));
    CHECK_HR(S_OK, HcnDeleteEndpoint(&gep1, NULL));
    CHECK_HR(HCN_EP_NF, HcnDeleteEndpoint(&gep1, &rec));
    CHECK(tn_record(rec, HCN_EP_NF, EP1));
    CHECK_HR(S_OK, HcnDeleteNetwork(&gnet, NULL));
    /* the handles outlived their objects */
    CHECK_HR(HCN_EP_NF, HcnQueryEndpointProperties(e1, NULL, &p, NULL));
    CHECK_HR(S_OK, HcnCloseNamespace(n2));
    CHECK_HR(S_OK, HcnCloseNamespace(n1));
    CHECK_HR(S_OK, HcnCloseEndpoint(e1));
    CHECK_HR(S_OK, HcnCloseEndpoint(e2));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK(tn_clean(docs));
}

TEST(network_modify_and_queries) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net;
    HCN_ENDPOINT ep;
    PWSTR rec = NULL, p = NULL;
    REQUIRE(tn_network(NET1, NAT_24, &net, NULL) == S_OK);
    REQUIRE(tn_endpoint(net, EP1, "{\"Name\":\"web\"}", &ep, NULL) == S_OK);
    const char16_t *add =
        u"{\"ResourceType\":\"Policy\",\"RequestType\":\"Add\",\"Settings\":"
        u"{\"Policies\":[{\"Type\":\"ACL\",\"Settings\":{\"Action\":\"Allow\"}}]}}";
    CHECK_HR(S_OK, HcnModifyNetwork(net, add, NULL));
    CHECK_HR(S_OK, HcnModifyNetwork(net, add, NULL));
    CHECK_HR(S_OK, HcnQueryNetworkProperties(net, NULL, &p, NULL));
    hj_value *v = tn_take(p);
    CHECK(hj_count(hj_get(v, "Policies")) == 2);
    hj_free(v);
    const char16_t *rm =
        u"{\"ResourceType\":\"Policy\",\"RequestType\":\"Remove\",\"Settings\":"
        u"{\"Policies\":[{\"Type\":\"ACL\",\"Settings\":{\"Action\":\"Allow\"}}]}}";
    CHECK_HR(S_OK, HcnModifyNetwork(net, rm, NULL));
    CHECK_HR(S_OK, HcnModifyNetwork(net, rm, NULL));
    CHECK_HR(HCSIM_HR(0x803B0008u), HcnModifyNetwork(net, rm, &rec));
    CHECK(tn_record(rec, HCSIM_HR(0x803B0008u), "not applied"));
    CHECK_HR(S_OK, HcnModifyNetwork(net,
                                    u"{\"ResourceType\":\"DNS\",\"RequestType\":\"Update\","
                                    u"\"Settings\":{\"ServerList\":[\"10.0.0.10\"]}}",
                                    NULL));
    CHECK_HR(S_OK, HcnQueryNetworkProperties(net, NULL, &p, NULL));
    v = tn_take(p);
    CHECK(hj_count(hj_get(hj_get(v, "Dns"), "ServerList")) == 1);
    hj_free(v);
    CHECK_HR(HCN_UNSUPPORTED,
             HcnModifyNetwork(net,
                              u"{\"ResourceType\":\"Extension\",\"RequestType\":\"Add\","
                              u"\"Settings\":{}}",
                              &rec));
    CHECK(tn_record(rec, HCN_UNSUPPORTED, "Extension"));
    CHECK_HR(HCN_BAD_JSON, HcnModifyNetwork(net, u"not json", &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "not valid JSON"));
    CHECK_HR(HCN_BAD_JSON, HcnModifyNetwork(net,
                                            u"{\"ResourceType\":\"Policy\",\"RequestType\":"
                                            u"\"Explode\"}",
                                            &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "RequestType"));
    CHECK_HR(S_OK, HcnModifyEndpoint(ep,
                                     u"{\"ResourceType\":\"Policy\",\"RequestType\":\"Update\","
                                     u"\"Settings\":{\"Policies\":[{\"Type\":\"OutBoundNAT\"}]}}",
                                     NULL));
    v = tn_endpoint_props(ep);
    CHECK(hj_count(hj_get(v, "Policies")) == 1);
    hj_free(v);

    /* queries: endpoints of a network, by name; malformed queries */
    hj_value *list = enumerate(HcnEnumerateEndpoints,
                               "{\"Filter\":\"{\\\"VirtualNetwork\\\":\\\"" NET1 "\\\"}\"}");
    CHECK(hj_count(list) == 1);
    hj_free(list);
    list = enumerate(HcnEnumerateEndpoints, "{\"Filter\":\"{\\\"Name\\\":\\\"web\\\"}\"}");
    CHECK(hj_count(list) == 1);
    hj_free(list);
    CHECK_HR(HCN_BAD_JSON, HcnEnumerateEndpoints(u"{\"Filter\":{}}", &p, &rec));
    CHECK(p == NULL && tn_record(rec, HCN_BAD_JSON, "Filter"));
    CHECK_HR(HCN_BAD_JSON, HcnEnumerateEndpoints(u"{\"Filter\":\"[\"}", &p, &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "Filter"));
    CHECK_HR(HCN_BAD_JSON, HcnQueryEndpointProperties(ep, u"{", &p, &rec));
    CHECK(tn_record(rec, HCN_BAD_JSON, "query"));
    CHECK_HR(E_POINTER, HcnEnumerateEndpoints(NULL, NULL, NULL));

    /* stats and addresses */
    CHECK_HR(S_OK, HcnQueryEndpointStats(ep, NULL, &p, NULL));
    v = tn_take(p);
    uint64_t n = 1;
    CHECK(hj_uint64(hj_get(v, "BytesSent"), &n) && n == 0);
    CHECK(!strcmp(hj_str(hj_get(v, "EndpointId"), NULL), EP1));
    hj_free(v);
    CHECK_HR(S_OK, HcnQueryEndpointAddresses(ep, NULL, &p, NULL));
    v = tn_take(p);
    CHECK(!strcmp(tn_ip(v), "172.30.5.2"));
    hj_free(v);
    CHECK_HR(E_HANDLE, HcnQueryEndpointStats(net, NULL, &p, NULL));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

TEST(network_faults_hidden_reset) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net = NULL;
    PWSTR rec = NULL;
    CHECK_HR(S_OK, HcsimFailNext("HcnCreateNetwork", 1, E_FAIL, HcsimFaultSync));
    CHECK_HR(E_FAIL, tn_network(NET1, NAT_24, &net, &rec));
    CHECK(net == NULL && tn_record(rec, E_FAIL, "HcnCreateNetwork"));
    CHECK_HR(S_OK, tn_network(NET1, NAT_24, &net, NULL));
    CHECK_HR(E_INVALIDARG, HcsimFailNext("HcnOpenNetwork", 1, E_FAIL, HcsimFaultAsync));
    CHECK_HR(E_INVALIDARG,
             HcsimFailNext("HcnFreeGuestNetworkPortReservations", 1, E_FAIL, HcsimFaultSync));
    /* "*" reaches computenetwork too */
    CHECK_HR(S_OK, HcsimFailNext("*", 1, E_ACCESSDENIED, HcsimFaultSync));
    CHECK_HR(E_ACCESSDENIED, HcnCloseNetwork(net));
    CHECK(HcsimIsExportAvailable("HcnQueryEndpointAddresses"));
    CHECK_HR(S_OK, HcsimSetExportHidden("HcnQueryEndpointAddresses", TRUE));
    CHECK(!HcsimIsExportAvailable("HcnQueryEndpointAddresses"));
    PWSTR p = NULL;
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND),
             HcnQueryEndpointAddresses(NULL, NULL, &p, &rec));
    CHECK(rec == NULL && p == NULL);
    /* reset: objects, handles and controls go */
    HCN_ENDPOINT ep;
    REQUIRE(tn_endpoint(net, EP1, "{}", &ep, NULL) == S_OK);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.NetworkHandles == 2);
    CHECK_HR(S_OK, HcsimReset());
    CHECK(HcsimIsExportAvailable("HcnQueryEndpointAddresses"));
    CHECK(tn_clean(docs));
    CHECK_HR(E_HANDLE, HcnCloseNetwork(net));
    hj_value *v = enumerate(HcnEnumerateNetworks, NULL);
    CHECK(v && hj_count(v) == 0);
    hj_free(v);
    /* after a reset the same ids can be created again */
    CHECK_HR(S_OK, tn_network(NET1, NAT_24, &net, NULL));
    REQUIRE(tn_endpoint(net, EP1, "{}", &ep, NULL) == S_OK);
    v = tn_endpoint_props(ep);
    CHECK(!strcmp(tn_ip(v), "172.30.5.2"));
    hj_free(v);
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

#ifndef _WIN32
/* 1 when fn, run in a child, ends it with SIGABRT. */
static int aborts(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        if (devnull >= 0) dup2(devnull, 2);
        fn();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static PWSTR hcn_string(void) {
    PWSTR p = NULL;
    HcnEnumerateNetworks(NULL, &p, NULL);
    return p;
}
static void localfree_hcn(void) { LocalFree(hcn_string()); }
static void cotaskmemfree_hcs(void) {
    PWSTR p = NULL;
    HcsGetServiceProperties(NULL, &p);
    CoTaskMemFree(p);
}
static void cotaskmemfree_foreign(void) {
    static char16_t mine[4];
    CoTaskMemFree(mine);
}
static void free_foreign_ports(void) {
    static HCN_PORT_RANGE_ENTRY e[1];
    HcnFreeGuestNetworkPortReservations(e);
}
#endif

TEST(network_strings_take_cotaskmemfree) {
#ifdef _WIN32
    harness_skip("POSIX: on Windows the host's CoTaskMemFree releases them");
#else
    HcsimReset();
    uint32_t docs = tn_docs();
    PWSTR p = hcn_string();
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(p && c.Documents == docs + 1);
    CoTaskMemFree(p);
    CoTaskMemFree(NULL);
    CHECK(tn_clean(docs));
    CHECK(aborts(localfree_hcn));
    CHECK(aborts(cotaskmemfree_hcs));
    CHECK(aborts(cotaskmemfree_foreign));
    CHECK(aborts(free_foreign_ports));
#endif
}
