/* libFuzzer harness for hcsim's computenetwork documents (network*.c). The first byte of an
 * input picks the call, the rest is its document (UTF-8): network, endpoint, namespace or
 * load balancer settings, a query, a network or namespace modify request. For every input:
 *  - the call returns; on a failure with an ErrorRecord, the record is a JSON object whose
 *    ErrorCode is the HRESULT; on success the object created is queried (its properties a
 *    JSON object with its lowercase ID) and deleted again;
 *  - the handles, callbacks and documents counted afterwards are what they were before
 *    (every string freed with CoTaskMemFree).
 * Any inconsistency aborts. Built with clang's libFuzzer (make fuzz), or with
 * -DHCSIM_FUZZ_STANDALONE as a program that runs the files named on its command line
 * (make fuzz-hcn-seeds: the seeds under the sanitizers, with any C compiler). */
#include "hcsim.h"
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(msg)                               \
    do {                                        \
        fprintf(stderr, "fuzz_hcn: %s\n", msg); \
        abort();                                \
    } while (0)

static const GUID net_id = {
    0x6f1e0c2a, 0x0b3d, 0x4c5e, {0x8f, 0x70, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}};
static const GUID new_id = {0x0f5a0000, 0x0000, 0x4000, {0x80, 0, 0, 0, 0, 0, 0, 1}};
static const GUID zero_id;
static HCN_NETWORK net;
static HCN_NAMESPACE ns;

static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    PWSTR rec = NULL;
    if (HcnCreateNetwork(&net_id,
                         u"{\"Type\":\"NAT\",\"Ipams\":[{\"Subnets\":[{\"IpAddressPrefix\":"
                         u"\"10.9.0.0/28\"},{\"IpAddressPrefix\":\"fd00:9::/64\"}]}]}",
                         &net, &rec) != S_OK)
        FAIL("the base network");
    static const GUID ns_id = {
        0x31111111, 0x2222, 0x4333, {0x84, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55}};
    if (HcnCreateNamespace(&ns_id, u"{}", &ns, &rec) != S_OK) FAIL("the base namespace");
}

static void check_record(HRESULT hr, PWSTR rec) {
    if (SUCCEEDED(hr) && rec) FAIL("an ErrorRecord on success");
    if (!rec) return;
    hj_value *v = hj_parse_utf16(rec);
    uint64_t code = 0;
    if (hj_typeof(v) != HJ_OBJECT || !hj_uint64(hj_get(v, "ErrorCode"), &code) ||
        code != (uint32_t)hr || !hj_str(hj_get(v, "Error"), NULL))
        FAIL("an ErrorRecord that is not {Error, ErrorCode: the HRESULT}");
    hj_free(v);
    CoTaskMemFree(rec);
}

static void check_properties(PWSTR props) {
    hj_value *v = hj_parse_utf16(props);
    const char *id = hj_str(hj_get(v, "ID"), NULL);
    if (hj_typeof(v) != HJ_OBJECT || !id || strlen(id) != 36) FAIL("properties without an ID");
    for (const char *c = id; *c; c++)
        if (*c >= 'A' && *c <= 'F') FAIL("an ID not in lowercase");
    hj_free(v);
    CoTaskMemFree(props);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    setup();
    char16_t *doc = hj_utf8_to_utf16((const char *)data + 1, size - 1);
    if (!doc) return 0;
    HCSIM_COUNTS before, after;
    HcsimGetCounts(&before);
    PWSTR rec = NULL, out = NULL;
    HRESULT hr;
    void *h = NULL;
    switch (data[0] % 8) {
    case 0:
        hr = HcnCreateNetwork(data[0] & 8 ? &zero_id : &new_id, doc, (HCN_NETWORK *)&h, &rec);
        check_record(hr, rec);
        if (hr == S_OK) {
            if (HcnQueryNetworkProperties(h, NULL, &out, NULL) != S_OK) FAIL("query");
            hj_value *v = hj_parse_utf16(out);
            check_properties(out);
            GUID g = new_id;
            HcnCloseNetwork(h);
            if (data[0] & 8) { /* a generated id: find it to delete it */
                unsigned a, b, c, d[8];
                const char *id = hj_str(hj_get(v, "ID"), NULL);
                sscanf(id, "%8x-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &a, &b, &c, &d[0], &d[1], &d[2],
                       &d[3], &d[4], &d[5], &d[6], &d[7]);
                g.Data1 = a;
                g.Data2 = (uint16_t)b;
                g.Data3 = (uint16_t)c;
                for (int i = 0; i < 8; i++) g.Data4[i] = (uint8_t)d[i];
            }
            hj_free(v);
            if (HcnDeleteNetwork(&g, NULL) != S_OK) FAIL("delete network");
        }
        break;
    case 1:
        hr = HcnCreateEndpoint(net, &new_id, doc, (HCN_ENDPOINT *)&h, &rec);
        check_record(hr, rec);
        if (hr == S_OK) {
            if (HcnQueryEndpointProperties(h, NULL, &out, NULL) != S_OK) FAIL("query");
            check_properties(out);
            HcnCloseEndpoint(h);
            if (HcnDeleteEndpoint(&new_id, NULL) != S_OK) FAIL("delete endpoint");
        }
        break;
    case 2:
        hr = HcnCreateNamespace(&new_id, doc, (HCN_NAMESPACE *)&h, &rec);
        check_record(hr, rec);
        if (hr == S_OK) {
            if (HcnQueryNamespaceProperties(h, NULL, &out, NULL) != S_OK) FAIL("query");
            check_properties(out);
            HcnCloseNamespace(h);
            if (HcnDeleteNamespace(&new_id, NULL) != S_OK) FAIL("delete namespace");
        }
        break;
    case 3:
        hr = HcnCreateLoadBalancer(&new_id, doc, (HCN_LOADBALANCER *)&h, &rec);
        check_record(hr, rec);
        if (hr == S_OK) {
            if (HcnQueryLoadBalancerProperties(h, NULL, &out, NULL) != S_OK) FAIL("query");
            check_properties(out);
            HcnCloseLoadBalancer(h);
            if (HcnDeleteLoadBalancer(&new_id, NULL) != S_OK) FAIL("delete load balancer");
        }
        break;
    case 4:
        hr = HcnEnumerateEndpoints(doc, &out, &rec);
        check_record(hr, rec);
        if (hr == S_OK) {
            hj_value *v = hj_parse_utf16(out);
            if (hj_typeof(v) != HJ_ARRAY) FAIL("an enumeration that is not an array");
            hj_free(v);
            CoTaskMemFree(out);
        }
        break;
    case 5:
        hr = HcnQueryNetworkProperties(net, doc, &out, &rec);
        check_record(hr, rec);
        if (hr == S_OK) check_properties(out);
        break;
    case 6: /* modifies of the base network: its policies and DNS may change, never its ID */
        hr = HcnModifyNetwork(net, doc, &rec);
        check_record(hr, rec);
        if (HcnQueryNetworkProperties(net, NULL, &out, NULL) != S_OK) FAIL("query");
        check_properties(out);
        break;
    default:
        hr = HcnModifyNamespace(ns, doc, &rec);
        check_record(hr, rec);
        break;
    }
    free(doc);
    HcsimGetCounts(&after);
    if (after.NetworkHandles != before.NetworkHandles || after.Documents != before.Documents ||
        after.NetworkCallbacks != before.NetworkCallbacks)
        FAIL("a handle or a document left behind");
    return 0;
}

#ifdef HCSIM_FUZZ_STANDALONE
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) continue;
        static uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_hcn: %d inputs\n", argc - 1);
    return 0;
}
#endif
