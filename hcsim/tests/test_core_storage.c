/* White-box tests of hcsim's computestorage emulation and VM file utilities. */
#include "test_core_util.h"
#include "test_port.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static HRESULT call1(HRESULT (*fn)(PCWSTR), const char *a) {
    char16_t *w = tc_w(a);
    HRESULT hr = fn(w);
    free(w);
    return hr;
}

static int exists(const char *dir, const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

TEST(core_storage_layers_on_the_filesystem) {
    HcsimReset();
    char root[] = "/tmp/hcsim-sto-XXXXXX";
    REQUIRE(tp_mkdtemp(root) != NULL);
    char src[256], base[256], scratch[256], exp[256], ld[1024], f[300];
    snprintf(src, sizeof src, "%s/src", root);
    snprintf(base, sizeof base, "%s/base", root);
    snprintf(scratch, sizeof scratch, "%s/scratch", root);
    snprintf(exp, sizeof exp, "%s/export", root);
    REQUIRE(tp_mkdir(src, 0777) == 0);
    snprintf(f, sizeof f, "%s/file.txt", src);
    FILE *fp = fopen(f, "w");
    REQUIRE(fp != NULL);
    fputs("layer", fp);
    fclose(fp);

    char16_t *wbase = tc_w(base), *wsrc = tc_w(src), *wscratch = tc_w(scratch), *wexp = tc_w(exp);
    char16_t *empty = tc_w("{\"Layers\":[]}");
    CHECK_HR(S_OK, HcsImportLayer(wbase, wsrc, empty));
    CHECK(exists(base, "file.txt"));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), HcsImportLayer(wbase, wsrc, empty));
    char16_t *bad = tc_w("{\"Layers\":[{\"Id\":\"nope\",\"Path\":\"x\"}]}");
    CHECK_HR(HCS_E_INVALID_JSON, HcsImportLayer(wscratch, wsrc, bad));
    free(bad);
    bad = tc_w("{\"Layers\":");
    CHECK_HR(HCS_E_INVALID_JSON, HcsImportLayer(wscratch, wsrc, bad));
    free(bad);
    CHECK_HR(E_INVALIDARG, HcsImportLayer(NULL, wsrc, empty));

    snprintf(ld, sizeof ld,
             "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Layers\":[{\"Id\":"
             "\"0b7e1d5c-8b41-4f3e-9a7a-1f0e5d2c3b4a\",\"Path\":\"%s\"}]}",
             base);
    char16_t *wld = tc_w(ld);
    CHECK_HR(E_INVALIDARG, HcsInitializeWritableLayer(wscratch, empty, NULL)); /* needs a parent */
    CHECK_HR(S_OK, HcsInitializeWritableLayer(wscratch, wld, NULL));
    CHECK_HR(S_OK, HcsAttachLayerStorageFilter(wscratch, wld));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), HcsAttachLayerStorageFilter(wscratch, wld));
    CHECK_HR(S_OK, HcsDetachLayerStorageFilter(wscratch));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), HcsDetachLayerStorageFilter(wscratch));
    char16_t *opt = tc_w("{\"IsWritableLayer\":false}");
    CHECK_HR(S_OK, HcsExportLayer(wbase, wexp, empty, opt));
    CHECK(exists(exp, "file.txt"));
    free(opt);
    opt = tc_w("{\"IsWritableLayer\":3}");
    CHECK_HR(HCS_E_INVALID_JSON, HcsExportLayer(wbase, wexp, empty, opt));
    free(opt);
    /* base OS volume and the "VHD" descriptor path */
    opt = tc_w("{\"Type\":\"Container\"}");
    CHECK_HR(S_OK, HcsSetupBaseOSVolume(wbase, wsrc, opt));
    char vhd[300];
    snprintf(vhd, sizeof vhd, "%s/disk.vhdx", root);
    int fd = open(vhd, O_RDWR | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    PWSTR mount = NULL;
    CHECK_HR(HRESULT_FROM_WIN32(13u), HcsGetLayerVhdMountPath((HANDLE)tp_vhd_handle(fd), &mount));
    CHECK_HR(S_OK, HcsFormatWritableLayerVhd((HANDLE)tp_vhd_handle(fd)));
    CHECK_HR(S_OK, HcsGetLayerVhdMountPath((HANDLE)tp_vhd_handle(fd), &mount));
    REQUIRE(mount != NULL);
    char *m8 = hj_utf16_to_utf8(mount, NULL);
    CHECK(m8 && !strncmp(m8, "\\\\?\\Volume{", 11));
    free(m8);
    CHECK(LocalFree(mount) == NULL);
    CHECK_HR(S_OK, HcsSetupBaseOSLayer(wbase, (HANDLE)tp_vhd_handle(fd), opt));
    CHECK_HR(E_HANDLE, HcsFormatWritableLayerVhd(NULL));
    CHECK_HR(E_HANDLE, HcsFormatWritableLayerVhd(INVALID_HANDLE_VALUE));
    close(fd);
    CHECK_HR(E_HANDLE, HcsFormatWritableLayerVhd((HANDLE)tp_vhd_handle(fd)));
    free(opt);
    /* destroy only what is a layer */
    CHECK_HR(HCS_E_INVALID_LAYER, HcsDestroyLayer(wsrc));
    CHECK(exists(src, "file.txt"));
    CHECK_HR(S_OK, HcsDestroyLayer(wscratch));
    CHECK(!exists(root, "scratch"));
    CHECK_HR(S_OK, HcsDestroyLayer(wbase));
    CHECK_HR(HCS_E_INVALID_LAYER, HcsDestroyLayer(wexp)); /* an export is no layer */
    CHECK(exists(exp, "file.txt"));
    CHECK_HR(HRESULT_FROM_WIN32(3u), HcsDestroyLayer(wbase));

    /* VM file utilities */
    char gs[300];
    snprintf(gs, sizeof gs, "%s/guest.vmgs", root);
    CHECK_HR(S_OK, call1(HcsCreateEmptyGuestStateFile, gs));
    CHECK_HR(HRESULT_FROM_WIN32(80u), call1(HcsCreateEmptyGuestStateFile, gs));
    char16_t *wgs = tc_w(gs), *vm = tc_w("vm-1");
    CHECK_HR(S_OK, HcsGrantVmAccess(vm, wgs));
    CHECK_HR(S_OK, HcsRevokeVmAccess(vm, wgs));
    CHECK_HR(S_OK, HcsGrantVmGroupAccess(wgs));
    CHECK_HR(S_OK, HcsRevokeVmGroupAccess(wgs));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND),
             call1(HcsGrantVmGroupAccess, "/nonexistent/x"));
    CHECK_HR(E_INVALIDARG, HcsGrantVmAccess(NULL, wgs));
    free(wgs);
    free(vm);
    free(wbase);
    free(wsrc);
    free(wscratch);
    free(wexp);
    free(empty);
    free(wld);
    tp_rmtree(root);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* The newest SDK's overlay filters, on a writable layer's directory. */
static HRESULT overlay(HRESULT (*fn)(PCWSTR, PCWSTR), const char *volume, const char *data) {
    char16_t *wv = tc_w(volume), *wd = data ? tc_w(data) : NULL;
    HRESULT hr = fn(wv, wd);
    free(wv);
    free(wd);
    return hr;
}

TEST(core_storage_overlay_filters) {
    HcsimReset();
    char root[] = "/tmp/hcsim-ovl-XXXXXX";
    REQUIRE(tp_mkdtemp(root) != NULL);
    char base[256], scratch[256], plain[256], ld[1024], lu[1024];
    snprintf(base, sizeof base, "%s/base", root);
    snprintf(scratch, sizeof scratch, "%s/scratch", root);
    snprintf(plain, sizeof plain, "%s/plain", root);
    REQUIRE(tp_mkdir(base, 0777) == 0);
    REQUIRE(tp_mkdir(plain, 0777) == 0);
    char16_t *wbase = tc_w(base), *wplain = tc_w(plain), *empty = tc_w("{\"Layers\":[]}");
    CHECK_HR(S_OK, HcsImportLayer(wbase, wplain, empty));
    snprintf(ld, sizeof ld,
             "{\"Layers\":[{\"Id\":\"0b7e1d5c-8b41-4f3e-9a7a-1f0e5d2c3b4a\",\"Path\":\"%s\"}],"
             "\"FilterType\":\"WCIFS\"}",
             base);
    snprintf(lu, sizeof lu,
             "{\"Layers\":[{\"Id\":\"0b7e1d5c-8b41-4f3e-9a7a-1f0e5d2c3b4a\",\"Path\":\"%s\"}],"
             "\"FilterType\":\"UnionFS\"}",
             base);
    char16_t *wscratch = tc_w(scratch), *wld = tc_w(ld);
    CHECK_HR(S_OK, HcsInitializeWritableLayer(wscratch, wld, NULL));
    /* bad input first: nothing is recorded */
    CHECK_HR(E_INVALIDARG, overlay(HcsAttachOverlayFilter, scratch, NULL));
    CHECK_HR(E_INVALIDARG, overlay(HcsAttachOverlayFilter, "", ld));
    CHECK_HR(HCS_E_INVALID_JSON, overlay(HcsAttachOverlayFilter, scratch, "{\"Layers\":"));
    CHECK_HR(E_INVALIDARG,
             overlay(HcsAttachOverlayFilter, scratch, "{\"Layers\":[],\"FilterType\":\"WCIFS\"}"));
    CHECK_HR(E_INVALIDARG, overlay(HcsDetachOverlayFilter, scratch, "{\"FilterType\":\"Ntfs\"}"));
    CHECK_HR(E_INVALIDARG, overlay(HcsDetachOverlayFilter, scratch, "{}"));
    CHECK_HR(HRESULT_FROM_WIN32(3u), overlay(HcsAttachOverlayFilter, "/nonexistent/v", ld));
    CHECK_HR(HCS_E_INVALID_LAYER, overlay(HcsAttachOverlayFilter, plain, ld));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND),
             overlay(HcsDetachOverlayFilter, scratch, "{\"FilterType\":\"WCIFS\"}"));
    /* one filter of each type, each attached once, detached once */
    CHECK_HR(S_OK, overlay(HcsAttachOverlayFilter, scratch, ld));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS),
             overlay(HcsAttachOverlayFilter, scratch, ld));
    CHECK_HR(S_OK, overlay(HcsAttachOverlayFilter, scratch, lu));
    CHECK_HR(S_OK, overlay(HcsDetachOverlayFilter, scratch, "{\"FilterType\":\"WCIFS\"}"));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND),
             overlay(HcsDetachOverlayFilter, scratch, "{\"FilterType\":\"WCIFS\"}"));
    CHECK_HR(S_OK, overlay(HcsDetachOverlayFilter, scratch, "{\"FilterType\":\"UnionFS\"}"));
    /* an injected fault comes back from the call */
    CHECK_HR(S_OK, HcsimFailNext("HcsAttachOverlayFilter", 1, E_ACCESSDENIED, HcsimFaultSync));
    CHECK_HR(E_ACCESSDENIED, overlay(HcsAttachOverlayFilter, scratch, ld));
    CHECK_HR(S_OK, overlay(HcsAttachOverlayFilter, scratch, ld));
    free(wbase);
    free(wplain);
    free(empty);
    free(wscratch);
    free(wld);
    tp_rmtree(root);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_service_properties_and_settings) {
    HcsimReset();
    PWSTR r = NULL;
    char16_t *q = tc_w("{\"PropertyTypes\":[\"QoSCapabilities\",\"Basic\",\"CpuGroup\"]}");
    CHECK_HR(S_OK, HcsGetServiceProperties(q, &r));
    hj_value *v = hj_parse_utf16(r);
    LocalFree(r);
    CHECK(hj_count(hj_get(v, "Properties")) == 3);
    CHECK(hj_get(hj_at(hj_get(v, "Properties"), 0), "ProcessorQoSSupported") != NULL);
    CHECK(hj_get(hj_at(hj_get(v, "Properties"), 1), "SupportedSchemaVersions") != NULL);
    hj_free(v);
    free(q);
    char16_t *cg =
        tc_w("{\"PropertyType\":\"CpuGroup\",\"Settings\":{\"Operation\":\"CreateGroup\","
             "\"OperationDetails\":{\"GroupId\":\"0b7e1d5c-8b41-4f3e-9a7a-1f0e5d2c3b4a\","
             "\"LogicalProcessorCount\":2,\"LogicalProcessors\":[0,1]}}}");
    CHECK_HR(S_OK, HcsModifyServiceSettings(cg, NULL));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), HcsModifyServiceSettings(cg, &r));
    v = hj_parse_utf16(r);
    LocalFree(r);
    int64_t e = 0;
    CHECK(hj_int64(hj_get(v, "Error"), &e) &&
          e == (int32_t)HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS));
    hj_free(v);
    free(cg);
    q = tc_w("{\"PropertyTypes\":[\"CpuGroup\"]}");
    CHECK_HR(S_OK, HcsGetServiceProperties(q, &r));
    v = hj_parse_utf16(r);
    LocalFree(r);
    CHECK(hj_count(hj_get(hj_at(hj_get(v, "Properties"), 0), "CpuGroups")) == 1);
    hj_free(v);
    free(q);
    char16_t *wer = tc_w("{\"SystemId\":\"x\",\"CrashParameters\":[128,1,2,3,4]}");
    CHECK_HR(S_OK, HcsSubmitWerReport(wer));
    free(wer);
    wer = tc_w("{\"SystemId\":\"x\",\"CrashParameters\":[-1]}");
    CHECK_HR(HCS_E_INVALID_JSON, HcsSubmitWerReport(wer));
    free(wer);
    CHECK_HR(E_INVALIDARG, HcsSubmitWerReport(NULL));
    HcsimReset();
    CHECK(tc_counts_zero());
}
