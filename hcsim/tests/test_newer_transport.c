/* The transport of a live migration must be a connected socket: a listening one (or one
 * never connected) is refused at once, with E_INVALIDARG, by the step that takes it (the
 * source's StartOnSource, the destination's Start), instead of a transfer that waits for
 * the 30-second idle timeout. */
#include "plat.h"
#include "test_core_util.h"
#include "test_port.h"

#define TRANSPORT_VM "{\"Owner\":\"newer\",\"VirtualMachine\":{\"GuestConnection\":{}}}"

/* fn on a new operation with sock as its socket resource: the operation's result. */
static HRESULT with_socket(HRESULT (*fn)(HCS_SYSTEM, HCS_OPERATION, PCWSTR), HCS_SYSTEM s,
                           const char *opts, plat_fd sock) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HRESULT hr = HcsAddResourceToOperation(op, HcsResourceTypeSocket,
                                           u"hcs:/VirtualMachine/LiveMigrationSocket",
                                           (HANDLE)(intptr_t)sock);
    char16_t *w = tc_w(opts);
    if (hr == S_OK) hr = fn(s, op, w);
    if (hr == S_OK) hr = tc_wait(op, NULL);
    free(w);
    HcsCloseOperation(op);
    return hr;
}

TEST(newer_transport_must_be_connected) {
    HcsimReset();
    intptr_t listener = tp_listening_socket();
    REQUIRE(listener != -1);
    plat_fd l = (plat_fd)listener;
    HCS_SYSTEM src, dst;
    REQUIRE(tc_create("transport-src", TRANSPORT_VM, 1, &src) == S_OK);
    REQUIRE(tc_create("transport-dst", TRANSPORT_VM, 0, &dst) == S_OK);
    uint64_t t0 = plat_now_ms();
    CHECK_HR(S_OK, tc_call(HcsInitializeLiveMigrationOnSource, src, NULL, NULL));
    CHECK_HR(E_INVALIDARG, with_socket(HcsStartLiveMigrationOnSource, src,
                                       "{\"NetworkSettings\":{\"SessionId\":3}}", l));
    CHECK_HR(S_OK, tc_call(HcsCancelLiveMigration, src, NULL, NULL)); /* still initialized */
    CHECK_HR(E_INVALIDARG,
             with_socket(HcsStartComputeSystem, dst,
                         "{\"DestinationMigrationOptions\":{\"NetworkSettings\":{}}}", l));
    CHECK(plat_now_ms() - t0 < 5000u); /* at once, not after the idle timeout */
    /* neither side moved: the source runs, the destination was never started */
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, src, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, dst, NULL, NULL));
    HcsCloseComputeSystem(src);
    HcsCloseComputeSystem(dst);
    plat_sock_close(l);
    HcsimReset();
    CHECK(tc_counts_zero());
}
