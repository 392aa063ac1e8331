/* hcsim computenetwork IPAM (src/network_ipam.c): explicit IPv6 addresses follow the IPv4
 * rules (inside a subnet, not the subnet-router anycast address, not the gateway, not
 * another endpoint's), an address of a family the network has no subnet of is refused,
 * and a network without IPAM takes any unicast address once. */
#include "test_network_util.h"

#define HCN_RESERVED HCSIM_HR(0x803B002Fu)
#define EP3          "31111111-2222-4333-8444-666666666666"

/* One endpoint with the IpConfigurations addrs (a JSON list body); its handle closed. */
static HRESULT ep_with(HCN_NETWORK net, const char *id, const char *addrs, PWSTR *rec) {
    char doc[256];
    HCN_ENDPOINT ep = NULL;
    snprintf(doc, sizeof doc, "{\"IpConfigurations\":[%s]}", addrs);
    HRESULT hr = tn_endpoint(net, id, doc, &ep, rec);
    if (ep) HcnCloseEndpoint(ep);
    return hr;
}

/* The endpoint id's first IpConfiguration's PrefixLength (-1: none). */
static long ep_prefix_len(const char *id) {
    GUID g = tn_guid(id);
    HCN_ENDPOINT ep;
    uint64_t len = 0;
    if (HcnOpenEndpoint(&g, &ep, NULL) != S_OK) return -1;
    hj_value *v = tn_endpoint_props(ep);
    HcnCloseEndpoint(ep);
    int ok = hj_uint64(hj_get(hj_at(hj_get(v, "IpConfigurations"), 0), "PrefixLength"), &len);
    hj_free(v);
    return ok ? (long)len : -1;
}

static HRESULT del_ep(const char *id) {
    GUID g = tn_guid(id);
    return HcnDeleteEndpoint(&g, NULL);
}

#define ADDR(a) "{\"IpAddress\":\"" a "\"}"

TEST(network_ipam6_explicit_like_ipv4) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net;
    PWSTR rec = NULL;
    /* aiohcs.hcn.nat_settings' shape: the gateway as the default route's NextHop */
    REQUIRE(tn_network(NET1,
                       "{\"Type\":\"NAT\",\"Ipams\":[{\"Type\":\"Static\",\"Subnets\":[{"
                       "\"IpAddressPrefix\":\"fd00::/64\",\"Routes\":[{\"NextHop\":\"fd00::1\","
                       "\"DestinationPrefix\":\"::/0\"}]}]}]}",
                       &net, NULL) == S_OK);
    static const struct {
        const char *addr, *part;
    } bad[] = {{"fd00::", "subnet-router anycast"},
               {"fd00:0:0:0::", "subnet-router anycast"},
               {"fd00::1", "gateway"},
               {"fd01::5", "no subnet"},
               {"ff02::1", "not a unicast"},
               {"::", "not a unicast"},
               {"::1", "not a unicast"},
               {"10.0.0.5", "is IPv4 and network " NET1 " has no IPv4 subnet"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char one[64];
        snprintf(one, sizeof one, "{\"IpAddress\":\"%s\"}", bad[i].addr);
        CHECK_HR(HCN_RESERVED, ep_with(net, EP1, one, &rec));
        CHECK(tn_record(rec, HCN_RESERVED, bad[i].part));
    }
    CHECK_HR(S_OK, ep_with(net, EP1, ADDR("fd00::5"), NULL));
    CHECK(ep_prefix_len(EP1) == 64);
    /* taken, however it is written */
    CHECK_HR(HCN_RESERVED, ep_with(net, EP2, ADDR("fd00::5"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "in use by endpoint " EP1));
    CHECK_HR(HCN_RESERVED, ep_with(net, EP2, ADDR("FD00:0:0::0005"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "in use by endpoint " EP1));
    /* twice in one endpoint */
    CHECK_HR(HCN_RESERVED, ep_with(net, EP2, ADDR("fd00::7") "," ADDR("fd00::7"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "in use"));
    /* freed with its endpoint */
    CHECK_HR(S_OK, del_ep(EP1));
    CHECK_HR(S_OK, ep_with(net, EP2, ADDR("fd00::5") "," ADDR("fd00::7"), NULL));
    CHECK_HR(HCN_RESERVED, ep_with(net, EP1, ADDR("fd00::7"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "in use by endpoint " EP2));
    CHECK_HR(S_OK, HcnCloseNetwork(net));

    /* an IPv4-only network refuses IPv6 addresses */
    REQUIRE(tn_network(NET2, NAT_24, &net, NULL) == S_OK);
    CHECK_HR(HCN_RESERVED, ep_with(net, EP3, ADDR("fd00::5"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "is IPv6 and network " NET2 " has no IPv6 subnet"));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

TEST(network_ipam6_gateway) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net;
    PWSTR rec = NULL;
    /* no route: the gateway is the prefix's first address (host bits as written ignored);
     * Flags 1 does not reserve it; a route NextHop inside the subnet is the gateway; a
     * /127 has no anycast address and no gateway */
    REQUIRE(tn_network(NET1,
                       "{\"Type\":\"L2Bridge\",\"Ipams\":[{\"Subnets\":["
                       "{\"IpAddressPrefix\":\"fd00:4::100/120\"},"
                       "{\"IpAddressPrefix\":\"fd00:5::/64\",\"Flags\":1},"
                       "{\"IpAddressPrefix\":\"fd00:6::/64\",\"Routes\":[{\"NextHop\":"
                       "\"fd00:6::fe\",\"DestinationPrefix\":\"::/0\"}]},"
                       "{\"IpAddressPrefix\":\"fd00:7::/127\"}]}]}",
                       &net, NULL) == S_OK);
    CHECK_HR(HCN_RESERVED, ep_with(net, EP1, ADDR("fd00:4::101"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "gateway of fd00:4::100/120"));
    CHECK_HR(HCN_RESERVED, ep_with(net, EP1, ADDR("fd00:4::100"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "subnet-router anycast"));
    CHECK_HR(HCN_RESERVED, ep_with(net, EP1, ADDR("fd00:6::fe"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "gateway of fd00:6::/64"));
    CHECK_HR(S_OK, ep_with(net, EP1,
                           ADDR("fd00:4::102") "," ADDR("fd00:5::1") "," ADDR("fd00:6::1") "," ADDR(
                               "fd00:7::") "," ADDR("fd00:7::1"),
                           NULL));
    CHECK(ep_prefix_len(EP1) == 120);
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

TEST(network_ipam6_no_ipam) {
    HcsimReset();
    uint32_t docs = tn_docs();
    HCN_NETWORK net;
    PWSTR rec = NULL;
    /* no Ipams: any unicast address of either family, once per network */
    REQUIRE(tn_network(NET1, "{\"Type\":\"L2Bridge\"}", &net, NULL) == S_OK);
    static const char *const bad[] = {"0.0.0.0",   "255.255.255.255", "224.0.0.1",
                                      "127.0.0.1", "240.1.2.3",       "::",
                                      "::1",       "ff02::1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char one[64];
        snprintf(one, sizeof one, "{\"IpAddress\":\"%s\"}", bad[i]);
        CHECK_HR(HCN_RESERVED, ep_with(net, EP1, one, &rec));
        CHECK(tn_record(rec, HCN_RESERVED, "not a unicast host address"));
    }
    CHECK_HR(S_OK, ep_with(net, EP1, ADDR("10.1.2.3"), NULL));
    CHECK(ep_prefix_len(EP1) == 32);
    CHECK_HR(S_OK, ep_with(net, EP2, ADDR("fd00::9"), NULL));
    CHECK(ep_prefix_len(EP2) == 128);
    CHECK_HR(HCN_RESERVED, ep_with(net, EP3, ADDR("10.1.2.3"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "in use by endpoint " EP1));
    CHECK_HR(HCN_RESERVED, ep_with(net, EP3, ADDR("fd00:0::9"), &rec));
    CHECK(tn_record(rec, HCN_RESERVED, "in use by endpoint " EP2));
    /* without IpConfigurations: no address (nothing to allocate from) */
    CHECK_HR(S_OK, ep_with(net, EP3, "", NULL));
    CHECK(ep_prefix_len(EP3) == -1);
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}
