/* hcsim computestorage: container layers emulated as real directories. Every call is
 * synchronous, validates its arguments and JSON strictly, and never invokes a callback.
 * A directory becomes a layer by carrying a marker file (MARKER) describing it; hcsim
 * only ever deletes directories that carry one.
 *
 * VHD handles: hcsim has no CreateFile, so a vhdHandle is a POSIX file descriptor of an
 * open regular file cast to HANDLE (e.g. (HANDLE)(intptr_t)os.open(path)). NULL,
 * INVALID_HANDLE_VALUE and anything that is not an open regular file give E_HANDLE; an
 * hcsim pipe HANDLE gives E_INVALIDARG (it is not a disk). */
#include "hcsim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKER ".hcsim-layer.json"
#define VHD_MAGIC "HCSIMVHD"
#define VHD_HEADER 64

#define ERROR_PATH_NOT_FOUND 3u
#define ERROR_INVALID_DATA 13u

static HRESULT path_arg(PCWSTR p, char **out) {
    *out = NULL;
    if (!p) return E_INVALIDARG;
    char *s = hc_u8(p);
    if (!s || !*s) {
        free(s);
        return E_INVALIDARG;
    }
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') s[--n] = 0;
    *out = s;
    return S_OK;
}

static int is_guid(const char *s) {
    static const char pat[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (!s || strlen(s) != sizeof pat - 1) return 0;
    for (size_t i = 0; pat[i]; i++) {
        char c = s[i];
        if (pat[i] == '-') {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

/* LayerData {SchemaVersion, Layers:[{Id (GUID), Path, PathType}]}; parents must exist. */
static HRESULT layer_data(PCWSTR text, int need_parents, hj_value **out) {
    *out = NULL;
    if (!text) return E_INVALIDARG;
    hj_value *d = hc_parse(text);
    if (!d || hj_typeof(d) != HJ_OBJECT) {
        hj_free(d);
        return HCS_E_INVALID_JSON;
    }
    const hj_value *sv = hj_get(d, "SchemaVersion"), *layers = hj_get(d, "Layers");
    HRESULT hr = S_OK;
    if (sv && hj_typeof(sv) != HJ_OBJECT) hr = HCS_E_INVALID_JSON;
    if (hr == S_OK && layers && hj_typeof(layers) != HJ_ARRAY) hr = HCS_E_INVALID_JSON;
    for (size_t i = 0; hr == S_OK && i < hj_count(layers); i++) {
        const hj_value *l = hj_at(layers, i);
        const char *id = hj_str(hj_get(l, "Id"), NULL), *path = hj_str(hj_get(l, "Path"), NULL);
        const hj_value *pt = hj_get(l, "PathType");
        if (hj_typeof(l) != HJ_OBJECT || !is_guid(id) || !path || !*path) hr = HCS_E_INVALID_JSON;
        else if (pt && (!hj_str(pt, NULL) || (strcmp(hj_str(pt, NULL), "AbsolutePath") &&
                                              strcmp(hj_str(pt, NULL), "VirtualSmbShareName"))))
            hr = HCS_E_INVALID_JSON;
        else if (!px_is_dir(path)) hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
    }
    if (hr == S_OK && need_parents && hj_count(layers) == 0) hr = E_INVALIDARG;
    if (FAILED(hr)) {
        hj_free(d);
        return hr;
    }
    *out = d;
    return S_OK;
}

static HRESULT options_doc(PCWSTR text, hj_value **out) {
    *out = NULL;
    if (!text) return S_OK;
    hj_value *d = hc_parse(text);
    if (!d || hj_typeof(d) != HJ_OBJECT) {
        hj_free(d);
        return HCS_E_INVALID_JSON;
    }
    *out = d;
    return S_OK;
}

static char *marker_path(const char *dir) {
    size_t n = strlen(dir) + sizeof MARKER + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, MARKER);
    return p;
}

static hj_value *read_marker(const char *dir) {
    char *mp = marker_path(dir), *data = NULL;
    size_t len = 0;
    hj_value *m = NULL;
    if (mp && plat_read_file(mp, &data, &len) == 0) m = hj_parse(data, len);
    free(data);
    free(mp);
    if (m && hj_typeof(m) != HJ_OBJECT) {
        hj_free(m);
        m = NULL;
    }
    return m;
}

static HRESULT write_marker(const char *dir, const char *kind, const hj_value *ld, hj_value *extra) {
    hj_value *m = extra ? extra : hj_new_object();
    hj_set(m, "Kind", hj_new_string(kind));
    hj_set(m, "Parents", hj_get(ld, "Layers") ? hj_clone(hj_get(ld, "Layers")) : hj_new_array());
    size_t len = 0;
    char *text = hj_serialize(m, &len);
    hj_free(m);
    char *mp = marker_path(dir);
    int e = (text && mp) ? plat_write_file(mp, text, len) : 12;
    free(text);
    free(mp);
    return hc_hr_from_errno(e);
}

static HRESULT update_marker(const char *dir, hj_value *m) {
    size_t len = 0;
    char *text = hj_serialize(m, &len);
    char *mp = marker_path(dir);
    int e = (text && mp) ? plat_write_file(mp, text, len) : 12;
    free(text);
    free(mp);
    return hc_hr_from_errno(e);
}

/* ---- VHD "handles" ------------------------------------------------------------------------- */
static HRESULT vhd_fd(HANDLE h, int *fd) {
    if (!h || h == INVALID_HANDLE_VALUE) return E_HANDLE;
    hc_lock();
    int pipe = hc_reg_get(h, K_PIPE) != NULL;
    int ours = hc_reg_known(h);
    hc_unlock();
    if (pipe) return E_INVALIDARG;
    if (ours) return E_HANDLE;
    if (!px_fd_is_regular_file((intptr_t)h)) return E_HANDLE;
    *fd = (int)(intptr_t)h;
    return S_OK;
}

static int vhd_volume(int fd, char guid[37]) {
    char hdr[VHD_HEADER];
    if (px_pread_all(fd, hdr, sizeof hdr, 0) != (int)sizeof hdr) return 0;
    if (memcmp(hdr, VHD_MAGIC, 8) != 0) return 0;
    memcpy(guid, hdr + 8, 36);
    guid[36] = 0;
    return is_guid(guid);
}

/* ---- exports ----------------------------------------------------------------------------- */
#define ENTER(fn)                                  \
    hc_call call_;                                 \
    HRESULT hr = hc_enter(fn, &call_);             \
    if (hr != S_OK) return hr

HRESULT WINAPI HcsImportLayer(PCWSTR layerPath, PCWSTR sourceFolderPath, PCWSTR layerData) {
    ENTER(FN_HcsImportLayer);
    char *dst = NULL, *src = NULL;
    hj_value *ld = NULL, *m = NULL;
    if ((hr = path_arg(layerPath, &dst)) != S_OK || (hr = path_arg(sourceFolderPath, &src)) != S_OK ||
        (hr = layer_data(layerData, 0, &ld)) != S_OK)
        goto out;
    if (!px_is_dir(src)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    if ((m = read_marker(dst)) != NULL) {
        hr = HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
        goto out;
    }
    if ((hr = hc_hr_from_errno(px_copytree(src, dst))) != S_OK) goto out;
    hr = write_marker(dst, "Layer", ld, NULL);
out:
    hj_free(m);
    hj_free(ld);
    free(dst);
    free(src);
    return hr;
}

HRESULT WINAPI HcsExportLayer(PCWSTR layerPath, PCWSTR exportFolderPath, PCWSTR layerData,
                              PCWSTR options) {
    ENTER(FN_HcsExportLayer);
    char *src = NULL, *dst = NULL;
    hj_value *ld = NULL, *opt = NULL, *m = NULL;
    if ((hr = path_arg(layerPath, &src)) != S_OK || (hr = path_arg(exportFolderPath, &dst)) != S_OK ||
        (hr = layer_data(layerData, 0, &ld)) != S_OK || (hr = options_doc(options, &opt)) != S_OK)
        goto out;
    const hj_value *w = hj_get(opt, "IsWritableLayer");
    int b;
    if (w && !hj_bool(w, &b)) {
        hr = HCS_E_INVALID_JSON;
        goto out;
    }
    if (!px_is_dir(src)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    if (!(m = read_marker(src))) {
        hr = HCS_E_INVALID_LAYER;
        goto out;
    }
    if ((hr = hc_hr_from_errno(px_copytree(src, dst))) != S_OK) goto out;
    hr = write_marker(dst, "Export", ld, NULL);
out:
    hj_free(m);
    hj_free(ld);
    hj_free(opt);
    free(src);
    free(dst);
    return hr;
}

HRESULT WINAPI HcsExportLegacyWritableLayer(PCWSTR writableLayerMountPath, PCWSTR writableLayerFolderPath,
                                            PCWSTR exportFolderPath, PCWSTR layerData) {
    ENTER(FN_HcsExportLegacyWritableLayer);
    char *mnt = NULL, *folder = NULL, *dst = NULL;
    hj_value *ld = NULL;
    if ((hr = path_arg(writableLayerMountPath, &mnt)) != S_OK ||
        (hr = path_arg(writableLayerFolderPath, &folder)) != S_OK ||
        (hr = path_arg(exportFolderPath, &dst)) != S_OK || (hr = layer_data(layerData, 0, &ld)) != S_OK)
        goto out;
    if (!px_is_dir(mnt) || !px_is_dir(folder)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    if ((hr = hc_hr_from_errno(px_copytree(folder, dst))) != S_OK) goto out;
    hr = write_marker(dst, "Export", ld, NULL);
out:
    hj_free(ld);
    free(mnt);
    free(folder);
    free(dst);
    return hr;
}

HRESULT WINAPI HcsDestroyLayer(PCWSTR layerPath) {
    ENTER(FN_HcsDestroyLayer);
    char *p = NULL;
    hj_value *m = NULL;
    if ((hr = path_arg(layerPath, &p)) != S_OK) goto out;
    if (!px_is_dir(p)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    if (!(m = read_marker(p))) { /* never delete a directory hcsim did not make a layer */
        hr = HCS_E_INVALID_LAYER;
        goto out;
    }
    hr = hc_hr_from_errno(px_rmtree(p));
out:
    hj_free(m);
    free(p);
    return hr;
}

static HRESULT os_layer_options(PCWSTR options, hj_value **opt) {
    HRESULT hr = options_doc(options, opt);
    if (hr != S_OK) return hr;
    if (!*opt) return E_INVALIDARG;
    const hj_value *t = hj_get(*opt, "Type");
    int b;
    if (t && (!hj_str(t, NULL) || (strcmp(hj_str(t, NULL), "Container") && strcmp(hj_str(t, NULL), "Vm"))))
        return HCS_E_INVALID_JSON;
    static const char *const flags[] = {"DisableCiCacheOptimization", "SkipUpdateBcdForBoot"};
    for (int i = 0; i < 2; i++) {
        const hj_value *v = hj_get(*opt, flags[i]);
        if (v && !hj_bool(v, &b)) return HCS_E_INVALID_JSON;
    }
    return S_OK;
}

static HRESULT setup_base(const char *layer, const hj_value *opt, const char *source) {
    if (!px_is_dir(layer)) return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
    hj_value *m = read_marker(layer);
    if (!m) m = hj_new_object();
    hj_set(m, "Kind", hj_new_string("Layer"));
    if (!hj_get(m, "Parents")) hj_set(m, "Parents", hj_new_array());
    hj_set(m, "BaseOS", hj_new_bool(1));
    const char *t = hj_str(hj_get(opt, "Type"), NULL);
    hj_set(m, "BaseOSType", hj_new_string(t ? t : "Container"));
    hj_set(m, "BaseOSSource", hj_new_string(source));
    HRESULT hr = update_marker(layer, m);
    hj_free(m);
    return hr;
}

HRESULT WINAPI HcsSetupBaseOSLayer(PCWSTR layerPath, HANDLE vhdHandle, PCWSTR options) {
    ENTER(FN_HcsSetupBaseOSLayer);
    char *p = NULL;
    hj_value *opt = NULL;
    int fd = -1;
    char guid[37];
    if ((hr = path_arg(layerPath, &p)) != S_OK || (hr = vhd_fd(vhdHandle, &fd)) != S_OK ||
        (hr = os_layer_options(options, &opt)) != S_OK)
        goto out;
    if (!vhd_volume(fd, guid)) {
        hr = HRESULT_FROM_WIN32(ERROR_INVALID_DATA);
        goto out;
    }
    hr = setup_base(p, opt, guid);
out:
    hj_free(opt);
    free(p);
    return hr;
}

HRESULT WINAPI HcsSetupBaseOSVolume(PCWSTR layerPath, PCWSTR volumePath, PCWSTR options) {
    ENTER(FN_HcsSetupBaseOSVolume);
    char *p = NULL, *vol = NULL;
    hj_value *opt = NULL;
    if ((hr = path_arg(layerPath, &p)) != S_OK || (hr = path_arg(volumePath, &vol)) != S_OK ||
        (hr = os_layer_options(options, &opt)) != S_OK)
        goto out;
    if (!px_is_dir(vol)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    hr = setup_base(p, opt, vol);
out:
    hj_free(opt);
    free(p);
    free(vol);
    return hr;
}

HRESULT WINAPI HcsInitializeWritableLayer(PCWSTR writableLayerPath, PCWSTR layerData, PCWSTR options) {
    ENTER(FN_HcsInitializeWritableLayer);
    char *p = NULL;
    hj_value *ld = NULL, *opt = NULL;
    if ((hr = path_arg(writableLayerPath, &p)) != S_OK || (hr = layer_data(layerData, 1, &ld)) != S_OK ||
        (hr = options_doc(options, &opt)) != S_OK)
        goto out;
    if ((hr = hc_hr_from_errno(px_mkdirs(p))) != S_OK) goto out;
    hj_value *extra = hj_new_object();
    hj_set(extra, "Attached", hj_new_bool(0));
    hr = write_marker(p, "Writable", ld, extra);
out:
    hj_free(ld);
    hj_free(opt);
    free(p);
    return hr;
}

HRESULT WINAPI HcsInitializeLegacyWritableLayer(PCWSTR writableLayerMountPath, PCWSTR writableLayerFolderPath,
                                                PCWSTR layerData, PCWSTR options) {
    ENTER(FN_HcsInitializeLegacyWritableLayer);
    char *mnt = NULL, *folder = NULL;
    hj_value *ld = NULL, *opt = NULL;
    if ((hr = path_arg(writableLayerMountPath, &mnt)) != S_OK ||
        (hr = path_arg(writableLayerFolderPath, &folder)) != S_OK ||
        (hr = layer_data(layerData, 1, &ld)) != S_OK || (hr = options_doc(options, &opt)) != S_OK)
        goto out;
    if (!px_is_dir(mnt)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    if ((hr = hc_hr_from_errno(px_mkdirs(folder))) != S_OK) goto out;
    hj_value *extra = hj_new_object();
    hj_set(extra, "MountPath", hj_new_string(mnt));
    hr = write_marker(folder, "LegacyWritable", ld, extra);
out:
    hj_free(ld);
    hj_free(opt);
    free(mnt);
    free(folder);
    return hr;
}

HRESULT WINAPI HcsAttachLayerStorageFilter(PCWSTR layerPath, PCWSTR layerData) {
    ENTER(FN_HcsAttachLayerStorageFilter);
    char *p = NULL;
    hj_value *ld = NULL, *m = NULL;
    int attached = 0;
    if ((hr = path_arg(layerPath, &p)) != S_OK || (hr = layer_data(layerData, 1, &ld)) != S_OK) goto out;
    if (!px_is_dir(p)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    if (!(m = read_marker(p))) {
        hr = HCS_E_INVALID_LAYER;
        goto out;
    }
    if (hj_bool(hj_get(m, "Attached"), &attached) && attached) {
        hr = HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
        goto out;
    }
    hj_set(m, "Attached", hj_new_bool(1));
    hj_set(m, "AttachedLayers", hj_get(ld, "Layers") ? hj_clone(hj_get(ld, "Layers")) : hj_new_array());
    hr = update_marker(p, m);
out:
    hj_free(m);
    hj_free(ld);
    free(p);
    return hr;
}

HRESULT WINAPI HcsDetachLayerStorageFilter(PCWSTR layerPath) {
    ENTER(FN_HcsDetachLayerStorageFilter);
    char *p = NULL;
    hj_value *m = NULL;
    int attached = 0;
    if ((hr = path_arg(layerPath, &p)) != S_OK) goto out;
    if (!px_is_dir(p)) {
        hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        goto out;
    }
    if (!(m = read_marker(p))) {
        hr = HCS_E_INVALID_LAYER;
        goto out;
    }
    if (!hj_bool(hj_get(m, "Attached"), &attached) || !attached) {
        hr = HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
        goto out;
    }
    hj_set(m, "Attached", hj_new_bool(0));
    hj_remove(m, "AttachedLayers");
    hr = update_marker(p, m);
out:
    hj_free(m);
    free(p);
    return hr;
}

HRESULT WINAPI HcsFormatWritableLayerVhd(HANDLE vhdHandle) {
    ENTER(FN_HcsFormatWritableLayerVhd);
    int fd = -1;
    if ((hr = vhd_fd(vhdHandle, &fd)) != S_OK) return hr;
    char hdr[VHD_HEADER];
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, VHD_MAGIC, 8);
    char guid[37];
    plat_new_guid(guid);
    memcpy(hdr + 8, guid, 36);
    return hc_hr_from_errno(px_pwrite_all(fd, hdr, sizeof hdr, 0));
}

HRESULT WINAPI HcsGetLayerVhdMountPath(HANDLE vhdHandle, PWSTR *mountPath) {
    if (mountPath) *mountPath = NULL;
    ENTER(FN_HcsGetLayerVhdMountPath);
    if (!mountPath) return E_INVALIDARG;
    int fd = -1;
    if ((hr = vhd_fd(vhdHandle, &fd)) != S_OK) return hr;
    char guid[37];
    if (!vhd_volume(fd, guid)) return HRESULT_FROM_WIN32(ERROR_INVALID_DATA);
    char path[64];
    snprintf(path, sizeof path, "\\\\?\\Volume{%s}\\", guid);
    char16_t *u = hj_utf8_to_utf16(path, strlen(path));
    if (!u) return E_OUTOFMEMORY;
    hc_lock();
    *mountPath = hc_doc_from_utf16(u);
    hc_unlock();
    free(u);
    return *mountPath ? S_OK : E_OUTOFMEMORY;
}
