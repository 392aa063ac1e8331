/* hcsim computenetwork notifications (src/network_notify.c): service callbacks, guest
 * network services and their callbacks, port reservations; callbacks racing unregister. */
#include "plat.h"
#include "test_network_util.h"

#define PORT_EXISTS HCSIM_HR(0x803B0013u)
#define E_NOT_FOUND HCSIM_HR(0x80070490u)

/* What a callback saw, in order. */
typedef struct seen {
    plat_mutex m;
    int n;
    DWORD types[64];
    char data[64][160];
    int null_data[64];
    uint64_t tid[64];
    HRESULT status[64];
    /* behaviour */
    unsigned sleep_ms;
    atomic_int in_cb, done_cb;
    HCN_CALLBACK self; /* unregister this from inside the callback */
    HRESULT self_hr;
} seen;

static void seen_init(seen *s) {
    memset(s, 0, sizeof *s);
    plat_mutex_init(&s->m);
    s->self_hr = E_FAIL;
}

static void CALLBACK on_note(DWORD type, void *ctx, HRESULT status, PCWSTR data) {
    seen *s = ctx;
    atomic_store(&s->in_cb, 1);
    if (s->sleep_ms) tc_sleep_ms(s->sleep_ms);
    plat_mutex_lock(&s->m);
    if (s->n < 64) {
        int i = s->n++;
        s->types[i] = type;
        s->status[i] = status;
        s->tid[i] = plat_thread_id();
        s->null_data[i] = data == NULL;
        char *u = data ? hj_utf16_to_utf8((const char16_t *)data, NULL) : NULL;
        snprintf(s->data[i], sizeof s->data[i], "%s", u ? u : "");
        free(u);
    }
    HCN_CALLBACK self = s->self;
    plat_mutex_unlock(&s->m);
    if (self) s->self_hr = HcnUnregisterServiceCallback(self);
    atomic_store(&s->done_cb, 1);
}

static int wait_count(seen *s, int n) {
    uint64_t end = tc_now_ms() + 5000;
    for (;;) {
        plat_mutex_lock(&s->m);
        int got = s->n;
        plat_mutex_unlock(&s->m);
        if (got >= n) return got == n;
        if (tc_now_ms() > end) return 0;
        tc_sleep_ms(2);
    }
}

TEST(network_notify_service_events_in_order) {
    HcsimReset();
    uint32_t docs = tn_docs();
    seen s;
    seen_init(&s);
    HCN_CALLBACK cb = NULL;
    CHECK_HR(E_POINTER, HcnRegisterServiceCallback(on_note, &s, NULL));
    CHECK_HR(E_INVALIDARG, HcnRegisterServiceCallback(NULL, &s, &cb));
    REQUIRE(HcnRegisterServiceCallback(on_note, &s, &cb) == S_OK);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.NetworkCallbacks == 1);
    HCN_NETWORK net;
    HCN_ENDPOINT ep;
    HCN_NAMESPACE ns;
    REQUIRE(tn_network(NET1, NAT_24, &net, NULL) == S_OK);
    REQUIRE(tn_endpoint(net, EP1, "{}", &ep, NULL) == S_OK);
    REQUIRE(tn_namespace(NS1, "{}", &ns, NULL) == S_OK);
    GUID g_ep = tn_guid(EP1), g_net = tn_guid(NET1), g_ns = tn_guid(NS1);
    CHECK_HR(S_OK, HcnDeleteEndpoint(&g_ep, NULL));
    CHECK_HR(S_OK, HcnDeleteNamespace(&g_ns, NULL));
    CHECK_HR(S_OK, HcnDeleteNetwork(&g_net, NULL));
    REQUIRE(wait_count(&s, 8));
    static const DWORD want[] = {
        HcnNotificationNetworkPreCreate,        HcnNotificationNetworkCreate,
        HcnNotificationNetworkEndpointAttached, HcnNotificationNamespaceCreate,
        HcnNotificationNetworkEndpointDetached, HcnNotificationNamespaceDelete,
        HcnNotificationNetworkPreDelete,        HcnNotificationNetworkDelete};
    for (int i = 0; i < 8; i++) {
        CHECK(s.types[i] == want[i]);
        CHECK(s.status[i] == S_OK);
        CHECK(s.tid[i] != plat_thread_id());
    }
    CHECK(!strcmp(s.data[0], "{\"ID\":\"" NET1 "\"}"));
    CHECK(!strcmp(s.data[2], "{\"ID\":\"" EP1 "\",\"NetworkId\":\"" NET1 "\"}"));
    CHECK(!strcmp(s.data[4], "{\"ID\":\"" EP1 "\",\"NetworkId\":\"" NET1 "\"}"));
    CHECK(!strcmp(s.data[3], "{\"ID\":\"" NS1 "\"}"));
    CHECK_HR(S_OK, HcnUnregisterServiceCallback(cb));
    CHECK_HR(E_HANDLE, HcnUnregisterServiceCallback(cb));
    /* nothing after unregistering */
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    REQUIRE(tn_network(NET2, NAT_24, &net, NULL) == S_OK);
    tc_sleep_ms(20);
    CHECK(s.n == 8);
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcnCloseEndpoint(ep));
    CHECK_HR(S_OK, HcnCloseNamespace(ns));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(tn_clean(docs));
}

typedef struct unreg_arg {
    HCN_CALLBACK cb;
    HRESULT hr;
} unreg_arg;

static void unreg_thread(void *p) {
    unreg_arg *a = p;
    a->hr = HcnUnregisterServiceCallback(a->cb);
}

TEST(network_notify_unregister_waits_for_a_running_callback) {
    HcsimReset();
    seen s;
    seen_init(&s);
    s.sleep_ms = 150;
    HCN_CALLBACK cb;
    REQUIRE(HcnRegisterServiceCallback(on_note, &s, &cb) == S_OK);
    HCN_NETWORK net;
    REQUIRE(tn_network(NET1, "{\"Type\":\"Private\"}", &net, NULL) == S_OK);
    uint64_t end = tc_now_ms() + 5000;
    while (!atomic_load(&s.in_cb) && tc_now_ms() < end) tc_sleep_ms(1);
    REQUIRE(atomic_load(&s.in_cb));
    CHECK_HR(S_OK, HcnUnregisterServiceCallback(cb));
    CHECK(atomic_load(&s.done_cb)); /* it returned only after the callback did */
    tc_sleep_ms(20);
    CHECK(s.n == 1); /* Create, queued behind PreCreate, never ran */
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
}

TEST(network_notify_unregister_from_its_own_callback) {
    HcsimReset();
    seen s;
    seen_init(&s);
    HCN_CALLBACK cb;
    REQUIRE(HcnRegisterServiceCallback(on_note, &s, &cb) == S_OK);
    plat_mutex_lock(&s.m);
    s.self = cb;
    plat_mutex_unlock(&s.m);
    HCN_NETWORK net;
    REQUIRE(tn_network(NET1, "{\"Type\":\"Private\"}", &net, NULL) == S_OK);
    uint64_t end = tc_now_ms() + 5000;
    while (!atomic_load(&s.done_cb) && tc_now_ms() < end) tc_sleep_ms(1);
    CHECK(atomic_load(&s.done_cb));
    CHECK_HR(S_OK, s.self_hr);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.NetworkCallbacks == 0);
    CHECK_HR(S_OK, HcnCloseNetwork(net));
    CHECK_HR(S_OK, HcsimReset());
}

typedef struct churn {
    atomic_int stop;
    int created;
} churn;

static void churn_thread(void *p) {
    churn *c = p;
    char id[37];
    while (!atomic_load(&c->stop)) {
        snprintf(id, sizeof id, "%08x-0000-4000-8000-000000000000", (unsigned)c->created++);
        HCN_NETWORK h;
        if (tn_network(id, "{\"Type\":\"Internal\"}", &h, NULL) == S_OK) {
            HcnCloseNetwork(h);
            GUID g = tn_guid(id);
            HcnDeleteNetwork(&g, NULL);
        }
    }
}

TEST(network_notify_callbacks_race_unregister) {
    HcsimReset();
    churn ch = {0};
    plat_thread t;
    REQUIRE(plat_thread_create(&t, churn_thread, &ch) == 0);
    for (int round = 0; round < 40; round++) {
        seen s;
        seen_init(&s);
        s.sleep_ms = round % 3;
        HCN_CALLBACK cb;
        if (HcnRegisterServiceCallback(on_note, &s, &cb) != S_OK) {
            CHECK(0);
            break;
        }
        tc_sleep_ms((unsigned)(round % 4));
        unreg_arg a = {cb, E_FAIL};
        plat_thread u;
        REQUIRE(plat_thread_create(&u, unreg_thread, &a) == 0);
        plat_thread_join(&u);
        CHECK_HR(S_OK, a.hr);
        /* after Unregister returned, the callback never runs again (s goes out of scope) */
        int n = s.n;
        tc_sleep_ms(1);
        CHECK(s.n == n);
        plat_mutex_destroy(&s.m);
    }
    atomic_store(&ch.stop, 1);
    plat_thread_join(&t);
    CHECK(ch.created > 0);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.NetworkCallbacks == 0 && c.NetworkHandles == 0);
    CHECK_HR(S_OK, HcsimReset());
}

TEST(network_notify_guest_network_service_and_ports) {
    HcsimReset();
    uint32_t docs = tn_docs();
    seen svc, own;
    seen_init(&svc);
    seen_init(&own);
    HCN_CALLBACK scb, gcb;
    REQUIRE(HcnRegisterServiceCallback(on_note, &svc, &scb) == S_OK);
    HCN_GUESTNETWORKSERVICE gns = NULL, gns2 = NULL;
    GUID g = tn_guid(GNS1);
    PWSTR rec = NULL;
    char16_t *w = tc_w("{\"VirtualMachineId\":\"" NET2 "\"}");
    REQUIRE(HcnCreateGuestNetworkService(&g, w, &gns, NULL) == S_OK);
    CHECK_HR(HCSIM_HR(0x800700B7u), HcnCreateGuestNetworkService(&g, w, &gns2, &rec));
    CHECK(gns2 == NULL && tn_record(rec, HCSIM_HR(0x800700B7u), GNS1));
    free(w);
    CHECK_HR(E_HANDLE, HcnRegisterGuestNetworkServiceCallback(NULL, on_note, &own, &gcb));
    REQUIRE(HcnRegisterGuestNetworkServiceCallback(gns, on_note, &own, &gcb) == S_OK);
    CHECK_HR(E_HANDLE, HcnUnregisterServiceCallback(gcb)); /* not a service callback */
    CHECK_HR(S_OK, HcnModifyGuestNetworkService(gns, u"{\"State\":\"Running\"}", NULL));
    REQUIRE(wait_count(&own, 1));
    CHECK(own.types[0] == HcnNotificationGuestNetworkServiceStateChanged);
    CHECK(!strcmp(own.data[0], "{\"ID\":\"" GNS1 "\",\"State\":\"Running\"}"));
    CHECK_HR(HCSIM_HR(0x803B001Bu), HcnModifyGuestNetworkService(gns, u"[", &rec));
    CHECK(tn_record(rec, HCSIM_HR(0x803B001Bu), "not valid JSON"));

    /* ports: exclusive once, shared many times, per protocol */
    HANDLE p80 = NULL, p80b = NULL, p81a = NULL, p81b = NULL, pudp = NULL, r1 = NULL, r2 = NULL;
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                     HCN_PORT_ACCESS_EXCLUSIVE, 80, &p80));
    CHECK_HR(PORT_EXISTS, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                            HCN_PORT_ACCESS_EXCLUSIVE, 80, &p80b));
    CHECK_HR(PORT_EXISTS, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_BOTH,
                                                            HCN_PORT_ACCESS_SHARED, 80, &p80b));
    CHECK(p80b == NULL);
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_UDP,
                                                     HCN_PORT_ACCESS_EXCLUSIVE, 80, &pudp));
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                     HCN_PORT_ACCESS_SHARED, 81, &p81a));
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                     HCN_PORT_ACCESS_SHARED, 81, &p81b));
    CHECK_HR(E_INVALIDARG, HcnReserveGuestNetworkServicePort(gns, (HCN_PORT_PROTOCOL)7,
                                                             HCN_PORT_ACCESS_SHARED, 82, &p80b));
    CHECK_HR(E_INVALIDARG, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                             HCN_PORT_ACCESS_SHARED, 0, &p80b));
    HCN_PORT_RANGE_RESERVATION range;
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePortRange(gns, 10, &range, &r1));
    CHECK(range.startingPort == 49152 && range.endingPort == 49161);
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePortRange(gns, 5, &range, &r2));
    CHECK(range.startingPort == 49162 && range.endingPort == 49166);
    CHECK_HR(E_INVALIDARG, HcnReserveGuestNetworkServicePortRange(gns, 0, &range, &p80b));
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.PortReservations == 6);
    ULONG n = 0;
    HCN_PORT_RANGE_ENTRY *e = NULL;
    CHECK_HR(S_OK, HcnEnumerateGuestNetworkPortReservations(&n, &e));
    CHECK(n == 6 && e);
    int ranges = 0, shared = 0;
    for (ULONG i = 0; e && i < n; i++) {
        ranges += e[i].ReservationType == 1;
        shared += e[i].SharingFlags == 1;
        CHECK(e[i].TargetPartitionId.Data1 == 0x61111111u);
    }
    CHECK(ranges == 2 && shared == 2);
    HcnFreeGuestNetworkPortReservations(e);
    /* releasing frees the port and the range */
    CHECK_HR(S_OK, HcnReleaseGuestNetworkServicePortReservationHandle(p80));
    CHECK_HR(E_HANDLE, HcnReleaseGuestNetworkServicePortReservationHandle(p80));
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                     HCN_PORT_ACCESS_EXCLUSIVE, 80, &p80));
    CHECK_HR(S_OK, HcnReleaseGuestNetworkServicePortReservationHandle(r1));
    CHECK_HR(S_OK, HcnReserveGuestNetworkServicePortRange(gns, 3, &range, &r1));
    CHECK(range.startingPort == 49152);

    /* deleting the service frees its ports (the handles stay until released) */
    CHECK_HR(S_OK, HcnDeleteGuestNetworkService(&g, NULL));
    CHECK_HR(E_NOT_FOUND, HcnDeleteGuestNetworkService(&g, &rec));
    CHECK(tn_record(rec, E_NOT_FOUND, GNS1));
    CHECK_HR(S_OK, HcnEnumerateGuestNetworkPortReservations(&n, &e));
    CHECK(n == 0 && e == NULL);
    CHECK_HR(E_NOT_FOUND, HcnReserveGuestNetworkServicePort(gns, HCN_PORT_PROTOCOL_TCP,
                                                            HCN_PORT_ACCESS_SHARED, 90, &p80b));
    HANDLE all[] = {p80, pudp, p81a, p81b, r1, r2};
    for (size_t i = 0; i < 6; i++)
        CHECK_HR(S_OK, HcnReleaseGuestNetworkServicePortReservationHandle(all[i]));
    REQUIRE(wait_count(&svc, 2));
    CHECK(svc.types[0] == HcnNotificationGuestNetworkServiceCreate);
    CHECK(svc.types[1] == HcnNotificationGuestNetworkServiceDelete);
    CHECK(!strcmp(svc.data[1], "{\"ID\":\"" GNS1 "\"}"));
    CHECK_HR(S_OK, HcnUnregisterGuestNetworkServiceCallback(gcb));
    CHECK_HR(S_OK, HcnUnregisterServiceCallback(scb));
    CHECK_HR(S_OK, HcnCloseGuestNetworkService(gns));
    CHECK(tn_clean(docs));
}

TEST(network_notify_service_disconnect) {
    HcsimReset();
    seen s;
    seen_init(&s);
    HCN_CALLBACK cb;
    REQUIRE(HcnRegisterServiceCallback(on_note, &s, &cb) == S_OK);
    CHECK_HR(S_OK, HcsimDisconnectService());
    REQUIRE(wait_count(&s, 1));
    CHECK(s.types[0] == HcnNotificationServiceDisconnect && s.null_data[0]);
    /* a reset drops the registration; its handle is gone */
    CHECK_HR(S_OK, HcsimReset());
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.NetworkCallbacks == 0);
    CHECK_HR(E_HANDLE, HcnUnregisterServiceCallback(cb));
}
