/* hcsim compute systems and computenetwork (src/system.c): a start, and a network adapter
 * hot-added, check that the endpoints and the namespace the configuration names exist. */
#include "checklist_util.h"
#include "test_network_util.h"

#define HCN_EP_NF   HCSIM_HR(0x803B0002u)
#define E_NOT_FOUND HCSIM_HR(0x80070490u)

#define VM_WITH_ADAPTER                                                                      \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"VirtualMachine\":"    \
    "{\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}},"     \
    "\"Devices\":{\"NetworkAdapters\":{\"eth0\":{\"EndpointId\":\"" EP1 "\",\"MacAddress\":" \
    "\"00-15-5D-00-00-01\"}}},\"GuestConnection\":{}}}"
#define CONTAINER_NET(ns, ep)                                                        \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"Container\":" \
    "{\"Networking\":{\"Namespace\":\"" ns "\",\"NetworkAdapters\":[\"" ep "\"]}}}"

/* The state of s ("Created", "Running", ...) */
static int state_is(HCS_SYSTEM s, const char *want) {
    hj_value *doc = NULL;
    HRESULT hr = tc_call(HcsGetComputeSystemProperties, s, NULL, &doc);
    int ok =
        hr == S_OK &&
        !strcmp(hj_str(hj_get(doc, "State"), NULL) ? hj_str(hj_get(doc, "State"), NULL) : "", want);
    hj_free(doc);
    return ok;
}

/* The HRESULT of an operation and whether its ResultError names part. */
static HRESULT call_error(HRESULT (*fn)(HCS_SYSTEM, HCS_OPERATION, PCWSTR), HCS_SYSTEM s,
                          const char *options, const char *part, int *named) {
    hj_value *doc = NULL;
    HRESULT hr = tc_call(fn, s, options, &doc);
    const char *msg = hj_str(hj_get(doc, "ErrorMessage"), NULL);
    *named = msg && strstr(msg, part);
    hj_free(doc);
    return hr;
}

static HRESULT modify(HCS_SYSTEM s, HCS_OPERATION op, PCWSTR settings) {
    return HcsModifyComputeSystem(s, op, settings, NULL);
}

TEST(network_systems_vm_start_needs_its_endpoints) {
    HcsimReset();
    HCS_SYSTEM vm = NULL;
    REQUIRE(tc_create("netvm", VM_WITH_ADAPTER, 0, &vm) == S_OK);
    int named = 0;
    CHECK_HR(HCN_EP_NF, call_error(HcsStartComputeSystem, vm, NULL, EP1, &named));
    CHECK(named);
    CHECK(state_is(vm, "Created"));
    HCN_NETWORK net;
    HCN_ENDPOINT ep;
    REQUIRE(tn_network(NET1, NAT_24, &net, NULL) == S_OK);
    REQUIRE(tn_endpoint(net, EP1, "{}", &ep, NULL) == S_OK);
    CHECK_HR(S_OK, tc_call(HcsStartComputeSystem, vm, NULL, NULL));
    CHECK(state_is(vm, "Running"));
    /* hot-add: the endpoint must exist */
    const char *add_missing =
        "{\"ResourcePath\":\"VirtualMachine/Devices/NetworkAdapters/eth1\",\"RequestType\":"
        "\"Add\",\"Settings\":{\"EndpointId\":\"" EP2 "\",\"MacAddress\":\"00-15-5D-00-00-02\"}}";
    CHECK_HR(HCN_EP_NF, call_error(modify, vm, add_missing, EP2, &named));
    CHECK(named);
    HCN_ENDPOINT ep2;
    REQUIRE(tn_endpoint(net, EP2, "{}", &ep2, NULL) == S_OK);
    CHECK_HR(S_OK, tc_call(modify, vm, add_missing, NULL));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep2));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    HcsCloseComputeSystem(vm);
    CHECK_HR(S_OK, HcsimReset());
}

TEST(network_systems_container_needs_its_namespace) {
    HcsimReset();
    HCN_NETWORK net;
    HCN_ENDPOINT ep;
    HCN_NAMESPACE ns;
    REQUIRE(tn_network(NET1, NAT_24, &net, NULL) == S_OK);
    REQUIRE(tn_endpoint(net, EP1, "{}", &ep, NULL) == S_OK);
    HCS_SYSTEM c = NULL;
    REQUIRE(tc_create("netct", CONTAINER_NET(NS1, EP1), 0, &c) == S_OK);
    int named = 0;
    CHECK_HR(E_NOT_FOUND, call_error(HcsStartComputeSystem, c, NULL, NS1, &named));
    CHECK(named);
    CHECK(state_is(c, "Created"));
    REQUIRE(tn_namespace(NS1, "{}", &ns, NULL) == S_OK);
    CHECK_HR(S_OK, tc_call(HcsStartComputeSystem, c, NULL, NULL));
    HcsCloseComputeSystem(c);
    /* an endpoint named in Networking.NetworkAdapters must exist too */
    REQUIRE(tc_create("netct2", CONTAINER_NET(NS1, EP2), 0, &c) == S_OK);
    CHECK_HR(HCN_EP_NF, call_error(HcsStartComputeSystem, c, NULL, EP2, &named));
    CHECK(named);
    HcsCloseComputeSystem(c);
    CHECK_HR(S_OK, HcnCloseNamespace(ns));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
}
