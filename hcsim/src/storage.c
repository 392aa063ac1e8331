/* hcsim computestorage: container layers emulated as real directories. Every call is
 * synchronous, validates its arguments and JSON strictly, and never invokes a callback.
 * A directory becomes a layer by carrying a marker file (MARKER) describing it; hcsim
 * only ever deletes directories that carry one.
 *
 * VHD handles: a vhdHandle is a virtual disk handle of hcsim's virtdisk (virtdisk.c:
 * CreateVirtualDisk / OpenVirtualDisk), or a POSIX file descriptor of an open regular file
 * cast to HANDLE (e.g. (HANDLE)(intptr_t)os.open(path)). NULL, INVALID_HANDLE_VALUE and
 * anything that is not an open regular file give E_HANDLE; an hcsim pipe HANDLE gives
 * E_INVALIDARG (it is not a disk). The volume GUID HcsFormatWritableLayerVhd gives a disk
 * is kept where it leaves the file valid: in a VHDX file (by its content, whichever kind of
 * handle), a user metadata item of hcsim's own GUID (VOLUME_ITEM); in any other file, a
 * small header at its start. A disk opened read-only cannot be formatted (E_ACCESSDENIED). */
#include "hcsim_internal.h"
#include "vhdx.h"

#include <errno.h>
#if !PLAT_HOST_RELEASES
#include <fcntl.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKER     ".hcsim-layer.json"
#define VHD_MAGIC  "HCSIMVHD"
#define VHD_HEADER 64
/* The VHDX user metadata item holding the volume GUID (36 characters): hcsim's own GUID. */
#define VOLUME_ITEM "8a3c5f1e-68c3-4d2b-9e51-6863736d766f"

#define ERROR_PATH_NOT_FOUND    3u
#define ERROR_INVALID_DATA      13u
#define ERROR_SHARING_VIOLATION 32u
#define ERROR_DIR_NOT_EMPTY     145u

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
        if (hj_typeof(l) != HJ_OBJECT || !is_guid(id) || !path || !*path)
            hr = HCS_E_INVALID_JSON;
        else if (pt && (!hj_str(pt, NULL) || (strcmp(hj_str(pt, NULL), "AbsolutePath") &&
                                              strcmp(hj_str(pt, NULL), "VirtualSmbShareName"))))
            hr = HCS_E_INVALID_JSON;
        else if (!plat_is_dir(path))
            hr = HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
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
    if (!(text = hc_opt(text))) return S_OK;
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

static HRESULT save_marker(const char *dir, const hj_value *m) {
    size_t len = 0;
    char *text = hj_serialize(m, &len);
    char *mp = marker_path(dir);
    int e = (text && mp) ? plat_write_file(mp, text, len) : 12;
    free(text);
    free(mp);
    return hc_hr_from_errno(e);
}

/* Makes dir a layer of the given kind whose parents are LayerData's layers; extra (taken,
 * may be NULL) holds further members. */
static HRESULT write_marker(const char *dir, const char *kind, const hj_value *ld,
                            hj_value *extra) {
    hj_value *m = extra ? extra : hj_new_object();
    hj_set(m, "Kind", hj_new_string(kind));
    hj_set(m, "Parents", hj_get(ld, "Layers") ? hj_clone(hj_get(ld, "Layers")) : hj_new_array());
    HRESULT hr = save_marker(dir, m);
    hj_free(m);
    return hr;
}

static HRESULT need_dir(const char *path) {
    return plat_is_dir(path) ? S_OK : HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
}

/* An existing directory that is a layer: its marker in *marker. */
static HRESULT open_layer(const char *dir, hj_value **marker) {
    HRESULT hr = need_dir(dir);
    if (hr == S_OK && !(*marker = read_marker(dir))) hr = HCS_E_INVALID_LAYER;
    return hr;
}

/* Copies src's tree to dst, but a layer's marker: what is copied is content, and only the
 * call that makes dst a layer gives it a marker. */
static HRESULT copy_tree(const char *src, const char *dst) {
    return hc_hr_from_errno(plat_copytree_skip(src, dst, MARKER));
}

/* A folder a call creates (a layer, a writable layer, an export): missing or empty. A
 * layer there already is ERROR_ALREADY_EXISTS, any other non-empty folder
 * ERROR_DIR_NOT_EMPTY (hcsim's choice: never merge into, nor mark, a user's folder). */
static HRESULT fresh_target(const char *dir) {
    hj_value *m = read_marker(dir);
    if (m) {
        hj_free(m);
        return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
    }
    return plat_is_dir(dir) && !plat_dir_is_empty(dir) ? HRESULT_FROM_WIN32(ERROR_DIR_NOT_EMPTY)
                                                       : S_OK;
}

/* 1 when a layer's storage filter or an overlay filter is attached: the layer is in use
 * (hcsim's choice: its destruction fails with ERROR_SHARING_VIOLATION, as deleting an
 * open file does on Windows, until the filters are detached). */
static int filter_attached(const hj_value *marker) {
    int attached = 0;
    const hj_value *overlays = hj_get(marker, "Overlays");
    return (hj_bool(hj_get(marker, "Attached"), &attached) && attached) || hj_count(overlays) > 0;
}

/* A copy into its own source (or onto it) is refused before anything is copied. */
static HRESULT not_within(const char *dst, const char *src) {
    return plat_is_within(dst, src) ? E_INVALIDARG : S_OK;
}

/* Deletes a layer, its marker last: a layer whose deletion failed half way is still a
 * layer, which a later HcsDestroyLayer deletes. */
static HRESULT remove_layer(const char *dir) {
    char *mp = marker_path(dir);
    int e = mp ? plat_empty_dir(dir, MARKER) : ENOMEM;
    if (e == 0) e = plat_remove_file(mp);
    if (e == 0) e = plat_rmtree(dir);
    free(mp);
    return hc_hr_from_errno(e);
}

/* ---- VHD "handles" ------------------------------------------------------------------------- */
/* The descriptor of a vhdHandle; *writable is 0 for a virtual disk opened read-only. */
static HRESULT vhd_fd(HANDLE h, plat_fd *fd, int *writable) {
    *writable = 1;
    if (!h || h == INVALID_HANDLE_VALUE) return E_HANDLE;
    hc_lock();
    int vdisk = hc_vdisk_fd(h, fd, writable);
    hc_unlock();
    if (vdisk) return S_OK;
    hc_lock();
    int pipe = hc_reg_get(h, K_PIPE) != NULL;
#if PLAT_HOST_RELEASES
    pipe = pipe || hc_stream_of(h); /* a real pipe HANDLE of one of our streams */
#endif
    int ours = hc_reg_known(h);
    hc_unlock();
    if (pipe) return E_INVALIDARG;
    if (ours) return E_HANDLE;
    if (!plat_fd_is_regular_file((intptr_t)h)) return E_HANDLE;
    *fd = (plat_fd)(intptr_t)h;
#if !PLAT_HOST_RELEASES
    /* a descriptor opened read-only cannot be formatted (as a read-only virtual disk) */
    int flags = fcntl((int)(intptr_t)h, F_GETFL);
    *writable = flags >= 0 && (flags & O_ACCMODE) != O_RDONLY;
#endif
    return S_OK;
}

/* The volume GUID of a formatted disk (1), or 0. */
static int vhd_volume(plat_fd fd, char guid[37]) {
    vhdx_info info;
    if (vhdx_read(fd, &info) == 0) {
        uint8_t item[16];
        uint32_t len = 0;
        vhdx_guid_parse(VOLUME_ITEM, item);
        if (vhdx_get_item(fd, &info, item, guid, 36, &len) != 1 || len != 36) return 0;
        guid[36] = 0;
        return is_guid(guid);
    }
    char hdr[VHD_HEADER];
    if (plat_pread_all(fd, hdr, sizeof hdr, 0) != (int)sizeof hdr) return 0;
    if (memcmp(hdr, VHD_MAGIC, 8) != 0) return 0;
    memcpy(guid, hdr + 8, 36);
    guid[36] = 0;
    return is_guid(guid);
}

/* ---- exports ----------------------------------------------------------------------------- */
/* What one call owns; sto_end releases it. */
typedef struct sto_args {
    char *path[3]; /* the path arguments, converted */
    hj_value *ld, *opt, *marker;
} sto_args;

/* Entry of the exports: the entry protocol, then the first n of p0..p2 as path
 * arguments (each non-empty; trailing '/' removed). */
static HRESULT sto_begin(fn_id fn, sto_args *a, int n, PCWSTR p0, PCWSTR p1, PCWSTR p2) {
    memset(a, 0, sizeof *a);
    HRESULT hr = hc_enter_sync(fn);
    const PCWSTR in[3] = {p0, p1, p2};
    for (int i = 0; hr == S_OK && i < n; i++) hr = hc_path_arg(in[i], 1, &a->path[i]);
    return hr;
}

static HRESULT sto_end(sto_args *a, HRESULT hr) {
    for (int i = 0; i < 3; i++) free(a->path[i]);
    hj_free(a->ld);
    hj_free(a->opt);
    hj_free(a->marker);
    return hr;
}

HRESULT WINAPI HcsImportLayer(PCWSTR layerPath, PCWSTR sourceFolderPath, PCWSTR layerData) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsImportLayer, layerPath, sourceFolderPath, layerData);
    sto_args a;
    HRESULT hr = sto_begin(FN_HcsImportLayer, &a, 2, layerPath, sourceFolderPath, NULL);
    if (hr == S_OK) hr = layer_data(layerData, 0, &a.ld);
    if (hr == S_OK) hr = need_dir(a.path[1]);
    if (hr == S_OK) hr = not_within(a.path[0], a.path[1]);
    if (hr == S_OK) hr = fresh_target(a.path[0]);
    if (hr == S_OK) hr = copy_tree(a.path[1], a.path[0]);
    if (hr == S_OK) hr = write_marker(a.path[0], "Layer", a.ld, NULL);
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsExportLayer(PCWSTR layerPath, PCWSTR exportFolderPath, PCWSTR layerData,
                              PCWSTR options) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsExportLayer, layerPath, exportFolderPath, layerData, options);
    sto_args a;
    HRESULT hr = sto_begin(FN_HcsExportLayer, &a, 2, layerPath, exportFolderPath, NULL);
    if (hr == S_OK) hr = layer_data(layerData, 0, &a.ld);
    if (hr == S_OK) hr = options_doc(options, &a.opt);
    const hj_value *w = hj_get(a.opt, "IsWritableLayer");
    int b;
    if (hr == S_OK && w && !hj_bool(w, &b)) hr = HCS_E_INVALID_JSON;
    if (hr == S_OK) hr = open_layer(a.path[0], &a.marker);
    if (hr == S_OK) hr = not_within(a.path[1], a.path[0]);
    if (hr == S_OK) hr = fresh_target(a.path[1]);
    if (hr == S_OK) hr = copy_tree(a.path[0], a.path[1]); /* a transport folder, no layer */
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsExportLegacyWritableLayer(PCWSTR writableLayerMountPath,
                                            PCWSTR writableLayerFolderPath, PCWSTR exportFolderPath,
                                            PCWSTR layerData) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsExportLegacyWritableLayer, writableLayerMountPath,
                              writableLayerFolderPath, exportFolderPath, layerData);
    sto_args a;
    HRESULT hr = sto_begin(FN_HcsExportLegacyWritableLayer, &a, 3, writableLayerMountPath,
                           writableLayerFolderPath, exportFolderPath);
    if (hr == S_OK) hr = layer_data(layerData, 0, &a.ld);
    if (hr == S_OK) hr = need_dir(a.path[0]);
    if (hr == S_OK) hr = need_dir(a.path[1]);
    if (hr == S_OK) hr = not_within(a.path[2], a.path[1]);
    if (hr == S_OK) hr = fresh_target(a.path[2]);
    if (hr == S_OK) hr = copy_tree(a.path[1], a.path[2]); /* a transport folder, no layer */
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsDestroyLayer(PCWSTR layerPath) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsDestroyLayer, layerPath);
    sto_args a;
    HRESULT hr = sto_begin(FN_HcsDestroyLayer, &a, 1, layerPath, NULL, NULL);
    /* never delete a directory hcsim did not make a layer */
    if (hr == S_OK) hr = open_layer(a.path[0], &a.marker);
    if (hr == S_OK && filter_attached(a.marker)) hr = HRESULT_FROM_WIN32(ERROR_SHARING_VIOLATION);
    if (hr == S_OK) hr = remove_layer(a.path[0]);
    return sto_end(&a, hr);
}

static HRESULT os_layer_options(PCWSTR options, hj_value **opt) {
    HRESULT hr = options_doc(options, opt);
    if (hr != S_OK) return hr;
    if (!*opt) return E_INVALIDARG;
    const hj_value *t = hj_get(*opt, "Type");
    int b;
    if (t && (!hj_str(t, NULL) ||
              (strcmp(hj_str(t, NULL), "Container") && strcmp(hj_str(t, NULL), "Vm"))))
        return HCS_E_INVALID_JSON;
    static const char *const flags[] = {"DisableCiCacheOptimization", "SkipUpdateBcdForBoot"};
    for (int i = 0; i < 2; i++) {
        const hj_value *v = hj_get(*opt, flags[i]);
        if (v && !hj_bool(v, &b)) return HCS_E_INVALID_JSON;
    }
    return S_OK;
}

static HRESULT setup_base(const char *layer, const hj_value *opt, const char *source) {
    if (!plat_is_dir(layer)) return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
    hj_value *m = read_marker(layer);
    if (!m) m = hj_new_object();
    hj_set(m, "Kind", hj_new_string("Layer"));
    if (!hj_get(m, "Parents")) hj_set(m, "Parents", hj_new_array());
    hj_set(m, "BaseOS", hj_new_bool(1));
    const char *t = hj_str(hj_get(opt, "Type"), NULL);
    hj_set(m, "BaseOSType", hj_new_string(t ? t : "Container"));
    hj_set(m, "BaseOSSource", hj_new_string(source));
    HRESULT hr = save_marker(layer, m);
    hj_free(m);
    return hr;
}

HRESULT WINAPI HcsSetupBaseOSLayer(PCWSTR layerPath, HANDLE vhdHandle, PCWSTR options) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsSetupBaseOSLayer, layerPath, vhdHandle, options);
    sto_args a;
    plat_fd fd = PLAT_NO_FD;
    char guid[37];
    HRESULT hr = sto_begin(FN_HcsSetupBaseOSLayer, &a, 1, layerPath, NULL, NULL);
    int writable;
    if (hr == S_OK) hr = vhd_fd(vhdHandle, &fd, &writable);
    if (hr == S_OK) hr = os_layer_options(options, &a.opt);
    /* hcsshim hands over an empty file (a container's base layer) or the layer's
     * SystemTemplateBase.vhdx (a VM's): any disk, formatted or not, is accepted. */
    if (hr == S_OK && !vhd_volume(fd, guid)) snprintf(guid, sizeof guid, "%s", "unformatted");
    if (hr == S_OK) hr = setup_base(a.path[0], a.opt, guid);
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsSetupBaseOSVolume(PCWSTR layerPath, PCWSTR volumePath, PCWSTR options) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsSetupBaseOSVolume, layerPath, volumePath, options);
    sto_args a;
    HRESULT hr = sto_begin(FN_HcsSetupBaseOSVolume, &a, 2, layerPath, volumePath, NULL);
    if (hr == S_OK) hr = os_layer_options(options, &a.opt);
    if (hr == S_OK) hr = need_dir(a.path[1]);
    if (hr == S_OK) hr = setup_base(a.path[0], a.opt, a.path[1]);
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsInitializeWritableLayer(PCWSTR writableLayerPath, PCWSTR layerData,
                                          PCWSTR options) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsInitializeWritableLayer, writableLayerPath, layerData, options);
    sto_args a;
    HRESULT hr = sto_begin(FN_HcsInitializeWritableLayer, &a, 1, writableLayerPath, NULL, NULL);
    if (hr == S_OK) hr = layer_data(layerData, 1, &a.ld);
    if (hr == S_OK) hr = options_doc(options, &a.opt);
    if (hr == S_OK) hr = fresh_target(a.path[0]);
    if (hr == S_OK) hr = hc_hr_from_errno(plat_mkdirs(a.path[0]));
    if (hr == S_OK) {
        hj_value *extra = hj_new_object();
        hj_set(extra, "Attached", hj_new_bool(0));
        hr = write_marker(a.path[0], "Writable", a.ld, extra);
    }
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsInitializeLegacyWritableLayer(PCWSTR writableLayerMountPath,
                                                PCWSTR writableLayerFolderPath, PCWSTR layerData,
                                                PCWSTR options) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsInitializeLegacyWritableLayer, writableLayerMountPath,
                              writableLayerFolderPath, layerData, options);
    sto_args a;
    HRESULT hr = sto_begin(FN_HcsInitializeLegacyWritableLayer, &a, 2, writableLayerMountPath,
                           writableLayerFolderPath, NULL);
    if (hr == S_OK) hr = layer_data(layerData, 1, &a.ld);
    if (hr == S_OK) hr = options_doc(options, &a.opt);
    if (hr == S_OK) hr = need_dir(a.path[0]);
    if (hr == S_OK) hr = fresh_target(a.path[1]);
    if (hr == S_OK) hr = hc_hr_from_errno(plat_mkdirs(a.path[1]));
    if (hr == S_OK) {
        hj_value *extra = hj_new_object();
        hj_set(extra, "MountPath", hj_new_string(a.path[0]));
        hr = write_marker(a.path[1], "LegacyWritable", a.ld, extra);
    }
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsAttachLayerStorageFilter(PCWSTR layerPath, PCWSTR layerData) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsAttachLayerStorageFilter, layerPath, layerData);
    sto_args a;
    int attached = 0;
    HRESULT hr = sto_begin(FN_HcsAttachLayerStorageFilter, &a, 1, layerPath, NULL, NULL);
    if (hr == S_OK) hr = layer_data(layerData, 1, &a.ld);
    if (hr == S_OK) hr = open_layer(a.path[0], &a.marker);
    /* only a writable layer takes a storage filter (hcsim's choice of error) */
    const char *kind = hj_str(hj_get(a.marker, "Kind"), NULL);
    if (hr == S_OK && (!kind || strcmp(kind, "Writable"))) hr = HCS_E_INVALID_LAYER;
    if (hr == S_OK && hj_bool(hj_get(a.marker, "Attached"), &attached) && attached)
        hr = HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
    if (hr == S_OK) {
        const hj_value *layers = hj_get(a.ld, "Layers");
        hj_set(a.marker, "Attached", hj_new_bool(1));
        hj_set(a.marker, "AttachedLayers", layers ? hj_clone(layers) : hj_new_array());
        hr = save_marker(a.path[0], a.marker);
    }
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsDetachLayerStorageFilter(PCWSTR layerPath) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsDetachLayerStorageFilter, layerPath);
    sto_args a;
    int attached = 0;
    HRESULT hr = sto_begin(FN_HcsDetachLayerStorageFilter, &a, 1, layerPath, NULL, NULL);
    if (hr == S_OK) hr = open_layer(a.path[0], &a.marker);
    if (hr == S_OK && !(hj_bool(hj_get(a.marker, "Attached"), &attached) && attached))
        hr = HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    if (hr == S_OK) {
        hj_set(a.marker, "Attached", hj_new_bool(0));
        hj_remove(a.marker, "AttachedLayers");
        hr = save_marker(a.path[0], a.marker);
    }
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsFormatWritableLayerVhd(HANDLE vhdHandle) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsFormatWritableLayerVhd, vhdHandle);
    HRESULT hr = hc_enter_sync(FN_HcsFormatWritableLayerVhd);
    plat_fd fd = PLAT_NO_FD;
    int writable;
    if (hr == S_OK) hr = vhd_fd(vhdHandle, &fd, &writable);
    if (hr != S_OK) return hr;
    if (!writable) return E_ACCESSDENIED;
    char guid[37];
    plat_new_guid(guid);
    vhdx_info info;
    uint32_t read = vhdx_read(fd, &info);
    if (read == 0) { /* a VHDX file stays one */
        uint8_t item[16];
        vhdx_guid_parse(VOLUME_ITEM, item);
        return vhdx_set_item(fd, &info, item, guid, 36) == 0
                   ? S_OK
                   : HRESULT_FROM_WIN32(ERROR_INVALID_DATA);
    }
    /* Only a file that is no virtual disk at all gets hcsim's header: a VHDX that could
     * not be read (dirty, damaged, a read fault) is never overwritten. */
    if (read != VHDX_ERROR_NOT_VIRTUAL_DISK) return HRESULT_FROM_WIN32(ERROR_INVALID_DATA);
    char hdr[VHD_HEADER];
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, VHD_MAGIC, 8);
    memcpy(hdr + 8, guid, 36);
    return hc_hr_from_errno(plat_pwrite_all(fd, hdr, sizeof hdr, 0));
}

HRESULT WINAPI HcsGetLayerVhdMountPath(HANDLE vhdHandle, PWSTR *mountPath) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsGetLayerVhdMountPath, vhdHandle, (void *)mountPath);
    if (mountPath) *mountPath = NULL;
    HRESULT hr = hc_enter_sync(FN_HcsGetLayerVhdMountPath);
    if (hr != S_OK) return hr;
    if (!mountPath) return E_INVALIDARG;
    plat_fd fd = PLAT_NO_FD;
    int writable;
    if ((hr = vhd_fd(vhdHandle, &fd, &writable)) != S_OK) return hr;
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

/* Overlay filters (computestorage.h of the newest SDK; microsoft/hcsshim's computestorage
 * client is the evidence for the documents): VolumeMountPoint is where a writable layer is
 * mounted, LayerData names the filter ("FilterType": "UnionFS" or "WCIFS") and, to attach,
 * the read-only parents. hcsim keeps the attached filters in the writable layer's marker
 * ("Overlays": filter type -> parents). Inferred, as for the layer storage filter: a
 * second attach of the same type is ERROR_ALREADY_EXISTS, a detach of a filter that is not
 * attached ERROR_NOT_FOUND, a volume that is no layer HCS_E_INVALID_LAYER. */
static HRESULT overlay_type(const hj_value *ld, const char **type) {
    *type = hj_str(hj_get(ld, "FilterType"), NULL);
    if (*type && (!strcmp(*type, "UnionFS") || !strcmp(*type, "WCIFS"))) return S_OK;
    return E_INVALIDARG;
}

static HRESULT overlay_begin(fn_id fn, sto_args *a, PCWSTR volume, PCWSTR data, int attach,
                             const char **type) {
    HRESULT hr = sto_begin(fn, a, 1, volume, NULL, NULL);
    if (hr == S_OK) hr = layer_data(data, attach, &a->ld);
    if (hr == S_OK) hr = overlay_type(a->ld, type);
    if (hr == S_OK) hr = open_layer(a->path[0], &a->marker);
    return hr;
}

/* Records (parents, taken) or removes (NULL) the overlay of the given type and saves. */
static HRESULT set_overlay(sto_args *a, const char *type, hj_value *parents) {
    const hj_value *old = hj_get(a->marker, "Overlays");
    hj_value *overlays = old ? hj_clone(old) : hj_new_object();
    if (!overlays) {
        hj_free(parents);
        return E_OUTOFMEMORY;
    }
    if (parents) {
        if (hj_set(overlays, type, parents) != 0) {
            hj_free(overlays);
            return E_OUTOFMEMORY;
        }
    } else {
        hj_remove(overlays, type);
    }
    if (hj_set(a->marker, "Overlays", overlays) != 0) return E_OUTOFMEMORY;
    return save_marker(a->path[0], a->marker);
}

HRESULT WINAPI HcsAttachOverlayFilter(PCWSTR VolumeMountPoint, PCWSTR LayerData) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsAttachOverlayFilter, VolumeMountPoint, LayerData);
    sto_args a;
    const char *type = NULL;
    HRESULT hr =
        overlay_begin(FN_HcsAttachOverlayFilter, &a, VolumeMountPoint, LayerData, 1, &type);
    if (hr == S_OK && hj_get(hj_get(a.marker, "Overlays"), type))
        hr = HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
    if (hr == S_OK) hr = set_overlay(&a, type, hj_clone(hj_get(a.ld, "Layers")));
    return sto_end(&a, hr);
}

HRESULT WINAPI HcsDetachOverlayFilter(PCWSTR VolumeMountPoint, PCWSTR LayerData) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsDetachOverlayFilter, VolumeMountPoint, LayerData);
    sto_args a;
    const char *type = NULL;
    HRESULT hr =
        overlay_begin(FN_HcsDetachOverlayFilter, &a, VolumeMountPoint, LayerData, 0, &type);
    if (hr == S_OK && !hj_get(hj_get(a.marker, "Overlays"), type))
        hr = HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    if (hr == S_OK) hr = set_overlay(&a, type, NULL);
    return sto_end(&a, hr);
}
