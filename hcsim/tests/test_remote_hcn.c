/* computenetwork through hcsim's service (README "Service mode"): every Hcn export is a
 * CALL, the handles are the service's, notifications come back as NOTIFYs. The service is
 * test_remote.c's (this program again, with HCSIM_TEST_SERVE); a second client is this
 * program with HCSIM_TEST_HCN_CLIENT naming a scenario. */
#include "test_core_util.h"
#include "hcsim_internal.h" /* hc_u8 */

#if defined(_WIN32)
TEST(remote_hcn_posix_only) { harness_skip("client mode is POSIX-only"); }
#else

#include "test_remote_util.h"

#define NET_SETTINGS                                                                          \
    u"{\"SchemaVersion\":{\"Major\":2,\"Minor\":0},\"Name\":\"remote-nat\",\"Type\":\"NAT\"," \
    u"\"Ipams\":[{\"Type\":\"Static\",\"Subnets\":[{\"IpAddressPrefix\":\"172.31.0.0/24\"}]}]}"
#define EP_SETTINGS                    u"{\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}"
/* winerror.h's (hcsim's own names are in src/network.h) */
#define HCN_E_NETWORK_NOT_FOUND_HR     ((HRESULT)0x803B0001u)
#define HCN_E_ENDPOINT_NOT_FOUND_HR    ((HRESULT)0x803B0002u)
#define HCN_E_ENTITY_HAS_REFERENCES_HR ((HRESULT)0x803B002Cu)

/* 0f5a0000-0000-4000-8000-00000000000<n> */
static GUID guid_n(unsigned n) {
    GUID g;
    memset(&g, 0, sizeof g);
    g.Data1 = 0x0f5a0000u;
    g.Data3 = 0x4000;
    g.Data4[0] = 0x80;
    g.Data4[7] = (unsigned char)n;
    return g;
}

/* ---- the child processes -------------------------------------------------------------- */
static int hcn_client_scenario(const char *name, const char *path);

__attribute__((constructor)) static void remote_hcn_child_main(void) {
    const char *client = getenv("HCSIM_TEST_HCN_CLIENT");
    if (client) _exit(hcn_client_scenario(client, getenv("HCSIM_TEST_SOCKET")));
}

static int hcn_counts_zero(void) {
    HCSIM_COUNTS c;
    for (int i = 0; i < 200; i++) {
        HcsimGetCounts(&c);
        if (!c.NetworkHandles && !c.NetworkCallbacks && !c.PortReservations && !c.Documents)
            return 1;
        tc_sleep_ms(10);
    }
    fprintf(stderr, "  counts: network handles %u callbacks %u reservations %u docs %u\n",
            c.NetworkHandles, c.NetworkCallbacks, c.PortReservations, c.Documents);
    return 0;
}

/* ---- notifications ------------------------------------------------------------------- */
typedef struct heard {
    atomic_int created, attached, deleted, disconnected, total;
    atomic_int in_callback; /* a callback is running */
    atomic_int slow;        /* each callback sleeps this many ms */
    char first_data[128];
} heard;

static void CALLBACK on_note(DWORD type, void *ctx, HRESULT status, PCWSTR data) {
    heard *h = ctx;
    (void)status;
    atomic_store(&h->in_callback, 1);
    if (type == HcnNotificationNetworkCreate) {
        if (atomic_fetch_add(&h->created, 1) == 0 && data) {
            char *u = hc_u8(data);
            if (u) snprintf(h->first_data, sizeof h->first_data, "%s", u);
            free(u);
        }
    }
    if (type == HcnNotificationNetworkEndpointAttached) atomic_fetch_add(&h->attached, 1);
    if (type == HcnNotificationNetworkDelete) atomic_fetch_add(&h->deleted, 1);
    if (type == HcnNotificationServiceDisconnect) atomic_fetch_add(&h->disconnected, 1);
    int slow = atomic_load(&h->slow);
    if (slow) tc_sleep_ms((unsigned)slow);
    atomic_fetch_add(&h->total, 1);
    atomic_store(&h->in_callback, 0);
}

static int wait_count(atomic_int *v, int n, unsigned ms) {
    uint64_t end = tc_now_ms() + ms;
    while (atomic_load(v) < n && tc_now_ms() < end) tc_sleep_ms(2);
    return atomic_load(v) >= n;
}

/* ---- the second client ---------------------------------------------------------------- */
static int hcn_client_scenario(const char *name, const char *path) {
    if (HcsimConnect(path) != S_OK) return 2;
    int rc = 0;
    GUID net_id = guid_n(1), ep_id = guid_n(2);
    if (!strcmp(name, "create-and-leave")) { /* a network and endpoint that outlive it */
        HCN_NETWORK net = NULL;
        HCN_ENDPOINT ep = NULL;
        if (HcnCreateNetwork(&net_id, NET_SETTINGS, &net, NULL) != S_OK) rc = 3;
        if (!rc && HcnCreateEndpoint(net, &ep_id, EP_SETTINGS, &ep, NULL) != S_OK) rc = 4;
    } else if (!strcmp(name, "open-and-query")) { /* the first client's network */
        HCN_NETWORK net = NULL;
        PWSTR props = NULL;
        if (HcnOpenNetwork(&net_id, &net, NULL) != S_OK) rc = 3;
        if (!rc && HcnQueryNetworkProperties(net, NULL, &props, NULL) != S_OK) rc = 4;
        char *u = props ? hc_u8(props) : NULL;
        if (!rc && (!u || !strstr(u, "remote-nat"))) rc = 5;
        free(u);
        if (props) CoTaskMemFree(props);
        if (net && HcnCloseNetwork(net) != S_OK) rc = 6;
        HcsimDisconnect();
    } else {
        rc = 7;
    }
    return rc; /* exits without closing: the service closes what the connection held */
}

/* ---- the tests ------------------------------------------------------------------------ */
TEST(remote_hcn_calls_and_errors) {
    service svc;
    REQUIRE(service_up(&svc));
    GUID net_id = guid_n(1), ep_id = guid_n(2);
    HCN_NETWORK net = NULL;
    PWSTR err = NULL;
    /* a failure's ErrorRecord comes back, a computenetwork string */
    CHECK_HR(HCN_E_NETWORK_NOT_FOUND_HR, HcnOpenNetwork(&net_id, &net, &err));
    CHECK(net == NULL);
    CHECK(err != NULL);
    if (err) CoTaskMemFree(err);
    /* out pointers checked as in-process, before anything is sent */
    CHECK_HR(E_POINTER, HcnCreateNetwork(&net_id, NET_SETTINGS, NULL, NULL));
    CHECK_HR(E_POINTER, HcnEnumerateNetworks(NULL, NULL, NULL));
    /* create, query, enumerate (GUIDs travel both ways) */
    CHECK_HR(S_OK, HcnCreateNetwork(&net_id, NET_SETTINGS, &net, NULL));
    PWSTR list = NULL;
    CHECK_HR(S_OK, HcnEnumerateNetworks(NULL, &list, NULL));
    char *u = list ? hc_u8(list) : NULL;
    CHECK(u && strstr(u, "0f5a0000-0000-4000-8000-000000000001"));
    free(u);
    if (list) CoTaskMemFree(list);
    HCN_ENDPOINT ep = NULL;
    CHECK_HR(S_OK, HcnCreateEndpoint(net, &ep_id, EP_SETTINGS, &ep, NULL));
    PWSTR props = NULL;
    CHECK_HR(S_OK, HcnQueryEndpointProperties(ep, NULL, &props, NULL));
    u = props ? hc_u8(props) : NULL;
    CHECK(u && strstr(u, "172.31.0."));
    free(u);
    if (props) CoTaskMemFree(props);
    CHECK_HR(E_POINTER, HcnQueryEndpointProperties(ep, NULL, NULL, NULL));
    /* a handle of another kind is refused, as in-process */
    CHECK_HR(E_HANDLE, HcnModifyNetwork((HCN_NETWORK)ep, EP_SETTINGS, NULL));
    /* the network has an endpoint: in use */
    err = NULL;
    CHECK_HR(HCN_E_ENTITY_HAS_REFERENCES_HR, HcnDeleteNetwork(&net_id, &err));
    if (err) CoTaskMemFree(err);
    /* faults and hidden exports are the service's */
    CHECK_HR(S_OK, HcsimFailNext("HcnQueryNetworkProperties", 1, E_ACCESSDENIED, HcsimFaultSync));
    props = NULL;
    CHECK_HR(E_ACCESSDENIED, HcnQueryNetworkProperties(net, NULL, &props, NULL));
    CHECK_HR(S_OK, HcsimFailNext("HcnCloseEndpoint", 1, E_ACCESSDENIED, HcsimFaultSync));
    CHECK_HR(E_ACCESSDENIED, HcnCloseEndpoint(ep)); /* the handle stays open */
    CHECK_HR(S_OK, HcsimSetExportHidden("HcnQueryEndpointStats", TRUE));
    CHECK(!HcsimIsExportAvailable("HcnQueryEndpointStats"));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND),
             HcnQueryEndpointStats(ep, NULL, &props, NULL));
    CHECK_HR(S_OK, HcsimSetExportHidden("HcnQueryEndpointStats", FALSE));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep));
    CHECK_HR(E_HANDLE, HcnCloseEndpoint(ep)); /* closed */
    CHECK_HR(S_OK, HcnDeleteEndpoint(&ep_id, NULL));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcnDeleteNetwork(&net_id, NULL));
    CHECK(hcn_counts_zero());
    service_down(&svc);
}

TEST(remote_hcn_shared_and_notified) {
    service svc;
    REQUIRE(service_up(&svc));
    heard h;
    memset(&h, 0, sizeof h);
    HCN_CALLBACK cb = NULL;
    CHECK_HR(S_OK, HcnRegisterServiceCallback(on_note, &h, &cb));
    /* another client's network and endpoint: notified here, and they outlive it */
    CHECK(exit_code(spawn_self("HCSIM_TEST_HCN_CLIENT", "create-and-leave", svc.path)) == 0);
    CHECK(wait_count(&h.created, 1, 5000));
    CHECK(wait_count(&h.attached, 1, 5000));
    CHECK(strstr(h.first_data, "0f5a0000-0000-4000-8000-000000000001") != NULL);
    /* a third client sees the network too */
    CHECK(exit_code(spawn_self("HCSIM_TEST_HCN_CLIENT", "open-and-query", svc.path)) == 0);
    GUID net_id = guid_n(1), ep_id = guid_n(2);
    HCN_NETWORK net = NULL;
    CHECK_HR(S_OK, HcnOpenNetwork(&net_id, &net, NULL));
    /* unregistering waits for a running callback; none runs afterwards */
    atomic_store(&h.slow, 200);
    CHECK_HR(S_OK, HcnDeleteEndpoint(&ep_id, NULL));
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcnDeleteNetwork(&net_id, NULL));
    uint64_t end = tc_now_ms() + 2000;
    while (!atomic_load(&h.in_callback) && tc_now_ms() < end) tc_sleep_ms(1);
    CHECK_HR(S_OK, HcnUnregisterServiceCallback(cb));
    CHECK(!atomic_load(&h.in_callback));
    int total = atomic_load(&h.total);
    tc_sleep_ms(100);
    CHECK(atomic_load(&h.total) == total);
    CHECK_HR(E_HANDLE, HcnUnregisterServiceCallback(cb));
    CHECK(hcn_counts_zero());
    service_down(&svc);
}

/* A compute system in the service checks its adapters' endpoints in the service's own HCN
 * state: one another client created. */
TEST(remote_hcn_system_sees_service_endpoints) {
    service svc;
    REQUIRE(service_up(&svc));
    CHECK(exit_code(spawn_self("HCSIM_TEST_HCN_CLIENT", "create-and-leave", svc.path)) == 0);
    HCS_SYSTEM cs = NULL;
    const char *vm_missing = "{\"Owner\":\"remote\",\"Container\":{\"Networking\":"
                             "{\"NetworkAdapters\":[\"0f5a0000-0000-4000-8000-0000000000ff\"]}}}";
    const char *vm_ok = "{\"Owner\":\"remote\",\"Container\":{\"Networking\":"
                        "{\"NetworkAdapters\":[\"0f5a0000-0000-4000-8000-000000000002\"]}}}";
    CHECK_HR(HCN_E_ENDPOINT_NOT_FOUND_HR, tc_create("remote-hcn-missing", vm_missing, 1, &cs));
    if (cs) { /* it stays Created */
        CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, cs, NULL, NULL));
        HcsCloseComputeSystem(cs);
    }
    cs = NULL;
    CHECK_HR(S_OK, tc_create("remote-hcn-ok", vm_ok, 1, &cs));
    if (cs) {
        CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, cs, NULL, NULL));
        HcsCloseComputeSystem(cs);
    }
    GUID net_id = guid_n(1), ep_id = guid_n(2);
    CHECK_HR(S_OK, HcnDeleteEndpoint(&ep_id, NULL));
    CHECK_HR(S_OK, HcnDeleteNetwork(&net_id, NULL));
    CHECK(hcn_counts_zero());
    CHECK(tc_counts_zero());
    service_down(&svc);
}

TEST(remote_hcn_guest_service_ports) {
    service svc;
    REQUIRE(service_up(&svc));
    GUID gns_id = guid_n(7);
    HCN_GUESTNETWORKSERVICE gns = NULL;
    CHECK_HR(S_OK, HcnCreateGuestNetworkService(&gns_id, u"{}", &gns, NULL));
    HANDLE one = NULL, range = NULL;
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                     HCN_PORT_ACCESS_EXCLUSIVE, 45678, &one));
    HCN_PORT_RANGE_RESERVATION r;
    memset(&r, 0, sizeof r);
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePortRange(gns, 8, &r, &range));
    CHECK(r.endingPort == r.startingPort + 7);
    ULONG n = 0;
    HCN_PORT_RANGE_ENTRY *entries = NULL, *kept = NULL;
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    uint32_t docs = c.Documents;
    CHECK_HR(S_OK, HcnEnumerateGuestNetworkPortReservations(&n, &entries));
    CHECK(n == 2 && entries != NULL);
    int found = 0;
    for (ULONG i = 0; entries && i < n; i++)
        if (entries[i].StartingPort == 45678 && entries[i].EndingPort == 45678) found = 1;
    CHECK(found);
    HcsimGetCounts(&c);
    CHECK(c.Documents == docs + 1); /* counted until freed, as in-process */
    HcnFreeGuestNetworkPortReservations(entries);
    HcsimGetCounts(&c);
    CHECK(c.Documents == docs);
    CHECK_HR(S_OK, HcnEnumerateGuestNetworkPortReservations(&n, &kept)); /* freed below */
    CHECK_HR(E_POINTER, HcnEnumerateGuestNetworkPortReservations(&n, NULL));
    CHECK_HR(S_OK, HcnReleaseGuestNetworkServicePortReservationHandle(one));
    CHECK_HR(S_OK, HcnReleaseGuestNetworkServicePortReservationHandle(range));
    CHECK_HR(E_HANDLE, HcnReleaseGuestNetworkServicePortReservationHandle(range));
    CHECK_HR(S_OK, HcnCloseGuestNetworkService(gns));
    CHECK_HR(S_OK, HcnDeleteGuestNetworkService(&gns_id, NULL));
    /* an array the service handed out is still the client's to free after HcsimDisconnect */
    CHECK_HR(S_OK, HcsimDisconnect());
    HcsimGetCounts(&c);
    CHECK(c.Documents == docs + 1);
    HcnFreeGuestNetworkPortReservations(kept);
    CHECK(hcn_counts_zero());
    service_down(&svc);
}

/* HcsimDisconnect and HcsimReset end the delivery thread: from a callback on it they are
 * refused, and the thread goes on delivering. */
typedef struct reentry {
    atomic_int calls;
    atomic_uint disconnect_hr, reset_hr;
} reentry;

static void CALLBACK on_note_reenter(DWORD type, void *ctx, HRESULT status, PCWSTR data) {
    reentry *r = ctx;
    (void)type;
    (void)status;
    (void)data;
    if (atomic_load(&r->calls) == 0) {
        atomic_store(&r->disconnect_hr, (unsigned)HcsimDisconnect());
        atomic_store(&r->reset_hr, (unsigned)HcsimReset());
    }
    atomic_fetch_add(&r->calls, 1);
}

TEST(remote_hcn_disconnect_from_a_callback_refused) {
    service svc;
    REQUIRE(service_up(&svc));
    reentry r;
    memset(&r, 0, sizeof r);
    HCN_CALLBACK cb = NULL;
    CHECK_HR(S_OK, HcnRegisterServiceCallback(on_note_reenter, &r, &cb));
    GUID net_id = guid_n(1);
    HCN_NETWORK net = NULL;
    CHECK_HR(S_OK, HcnCreateNetwork(&net_id, NET_SETTINGS, &net, NULL));
    CHECK(wait_count(&r.calls, 1, 5000));
    CHECK_HR(HCS_E_INVALID_STATE, (HRESULT)atomic_load(&r.disconnect_hr));
    CHECK_HR(HCS_E_INVALID_STATE, (HRESULT)atomic_load(&r.reset_hr));
    CHECK(HcsimIsConnected());
    /* the same delivery thread delivers the next one */
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcnDeleteNetwork(&net_id, NULL));
    CHECK(wait_count(&r.calls, 2, 5000));
    CHECK_HR(S_OK, HcnUnregisterServiceCallback(cb));
    CHECK(hcn_counts_zero());
    CHECK_HR(S_OK, HcsimDisconnect()); /* (the delivery thread joins) */
    service_down(&svc);
}

TEST(remote_hcn_service_killed) {
    service svc;
    REQUIRE(service_up(&svc));
    heard h;
    memset(&h, 0, sizeof h);
    HCN_CALLBACK cb = NULL;
    CHECK_HR(S_OK, HcnRegisterServiceCallback(on_note, &h, &cb));
    kill(svc.pid, SIGKILL);
    CHECK(wait_count(&h.disconnected, 1, 2000));
    GUID net_id = guid_n(1);
    HCN_NETWORK net = NULL;
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcnOpenNetwork(&net_id, &net, NULL));
    /* what the caller holds still closes, as in-process after HcsimDisconnectService */
    CHECK_HR(S_OK, HcnUnregisterServiceCallback(cb));
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcnUnregisterServiceCallback(cb)); /* not ours now */
    CHECK(hcn_counts_zero());
    service_down(&svc);
}

#endif
