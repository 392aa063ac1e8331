/* hcsim service-level calls: service properties and settings, WER reports, and the VM
 * file utilities (state files, access grants, processor compatibility). All synchronous. */
#include "hcsim_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One file of the access list: its identity (plat_file_key_of: volume, file number and
 * creation time, so the grant follows the file as an ACE on its security descriptor does
 * on Windows, and a file re-created under the same name starts without one), whether
 * the group of all VMs may open it (HcsGrantVmGroupAccess) and the VM ids granted. */
typedef struct hc_grant {
    plat_file_key key;
    int group;
    char **vms;
    size_t nvms, capvms;
} hc_grant;

static void grants_free(void) { /* under lock */
    for (size_t i = 0; i < G.ngrants; i++) {
        for (size_t v = 0; v < G.grants[i].nvms; v++) free(G.grants[i].vms[v]);
        free(G.grants[i].vms);
    }
    free(G.grants);
    G.grants = NULL;
    G.ngrants = G.capgrants = 0;
}

void hc_service_reset(void) {
    grants_free();
    hj_free(G.cpu_groups);
    G.cpu_groups = NULL;
    hj_free(G.ccg);
    G.ccg = NULL;
    G.wer_reports = 0;
}

static HRESULT fail_doc(PWSTR *result, HRESULT hr, const char *msg) { /* under lock */
    if (result) {
        hj_value *e = hc_result_error(hr, msg);
        *result = hc_doc_from_json(e);
        hj_free(e);
    }
    return hr;
}

static hj_value *basic_info(void) {
    hj_value *o = hj_new_object(), *arr = hj_new_array(), *v = hj_new_object();
    hj_set(v, "Major", hj_new_int(2));
    hj_set(v, "Minor", hj_new_int(G.opt_schema_minor));
    hj_push(arr, v);
    hj_set(o, "SupportedSchemaVersions", arr);
    return o;
}

static hj_value *topology(void) {
    hj_value *o = hj_new_object(), *lps = hj_new_array();
    hj_set(o, "LogicalProcessorCount", hj_new_uint((uint64_t)G.opt_lp_count));
    for (int i = 0; i < G.opt_lp_count; i++) {
        hj_value *lp = hj_new_object();
        hj_set(lp, "LpIndex", hj_new_uint((uint64_t)i));
        hj_set(lp, "NodeNumber", hj_new_uint(0));
        hj_set(lp, "PackageId", hj_new_uint(0));
        hj_set(lp, "CoreId", hj_new_uint((uint64_t)i));
        hj_set(lp, "RootVpIndex", hj_new_int(i));
        hj_push(lps, lp);
    }
    hj_set(o, "LogicalProcessors", lps);
    return o;
}

static hj_value *service_property(const char *type) {
    if (!strcmp(type, "Basic")) return basic_info();
    if (!strcmp(type, "ProcessorTopology")) return topology();
    if (!strcmp(type, "CpuGroup")) {
        hj_value *o = hj_new_object();
        hj_set(o, "CpuGroups", G.cpu_groups ? hj_clone(G.cpu_groups) : hj_new_array());
        return o;
    }
    if (!strcmp(type, "ContainerCredentialGuard")) {
        hj_value *o = hj_new_object();
        hj_set(o, "Instances", G.ccg ? hj_clone(G.ccg) : hj_new_array());
        return o;
    }
    if (!strcmp(type, "QoSCapabilities")) {
        hj_value *o = hj_new_object();
        hj_set(o, "ProcessorQoSSupported", hj_new_bool(1));
        return o;
    }
    /* The other types the 1809-2004 schemas' PropertyType names: their results are V1
     * documents no published schema describes, and the emulated host has none of that
     * data (cache and memory-bandwidth allocation, host memory): an empty object. */
    static const char *const v1_only[] = {"Memory", "CacheAllocation", "CacheMonitoring",
                                          "MemoryBwAllocation", "Undefined"};
    for (size_t i = 0; i < sizeof v1_only / sizeof *v1_only; i++)
        if (!strcmp(type, v1_only[i])) return hj_new_object();
    return NULL;
}

HRESULT WINAPI HcsGetServiceProperties(PCWSTR propertyQuery, PWSTR *result) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsGetServiceProperties, propertyQuery, (void *)result);
    if (result) *result = NULL;
    HRESULT hr = hc_enter_sync(FN_HcsGetServiceProperties);
    if (hr != S_OK) return hr;
    if (!result) return E_INVALIDARG;
    propertyQuery = hc_opt(propertyQuery);
    hj_value *q = propertyQuery ? hc_parse(propertyQuery) : NULL, *props = hj_new_array();
    const hj_value *types = hj_get(q, "PropertyTypes");
    const char *msg = NULL;
    if (propertyQuery && (!q || hj_typeof(q) != HJ_OBJECT))
        msg = "The query is not a JSON object.";
    else if (types && hj_typeof(types) != HJ_ARRAY)
        msg = "PropertyTypes must be an array.";
    hc_lock();
    for (size_t i = 0; !msg && i < (types ? hj_count(types) : 1); i++) {
        const char *t = types ? hj_str(hj_at(types, i), NULL) : "Basic";
        hj_value *p = t ? service_property(t) : NULL;
        if (p)
            hj_push(props, p);
        else
            msg = "Unknown service property type.";
    }
    if (msg) {
        hr = fail_doc(result, HCS_E_INVALID_JSON, msg);
    } else {
        hj_value *doc = hj_new_object();
        hj_set(doc, "Properties", props);
        props = NULL;
        *result = hc_doc_from_json(doc);
        hj_free(doc);
        hr = *result ? S_OK : E_OUTOFMEMORY;
    }
    hc_unlock();
    hj_free(props);
    hj_free(q);
    return hr;
}

static int find_by(const hj_value *arr, const char *key, const char *val) {
    for (size_t i = 0; i < hj_count(arr); i++) {
        const char *s = hj_str(hj_get(hj_at(arr, i), key), NULL);
        if (s && !strcmp(s, val)) return (int)i;
    }
    return -1;
}

static void remove_at(hj_value **arr, int idx) {
    hj_value *n = hj_new_array();
    for (size_t i = 0; i < hj_count(*arr); i++)
        if ((int)i != idx) hj_push(n, hj_clone(hj_at(*arr, i)));
    hj_free(*arr);
    *arr = n;
}

static HRESULT modify_cpu_group(const hj_value *st, const char **msg) {
    const char *opn = hj_str(hj_get(st, "Operation"), NULL);
    const hj_value *d = hj_get(st, "OperationDetails");
    const char *gid = hj_str(hj_get(d, "GroupId"), NULL);
    if (!opn || !d || hj_typeof(d) != HJ_OBJECT) {
        *msg = "CpuGroup settings need Operation and OperationDetails.";
        return HCS_E_INVALID_JSON;
    }
    if (!gid) {
        *msg = "OperationDetails.GroupId is required.";
        return HCS_E_INVALID_JSON;
    }
    if (!G.cpu_groups) G.cpu_groups = hj_new_array();
    int at = find_by(G.cpu_groups, "GroupId", gid);
    if (!strcmp(opn, "CreateGroup")) {
        uint64_t count = 0;
        const hj_value *lps = hj_get(d, "LogicalProcessors");
        if (!hj_uint64(hj_get(d, "LogicalProcessorCount"), &count) ||
            (lps && hj_typeof(lps) != HJ_ARRAY)) {
            *msg = "CreateGroup needs LogicalProcessorCount and a LogicalProcessors array.";
            return HCS_E_INVALID_JSON;
        }
        for (size_t i = 0; i < hj_count(lps); i++) {
            uint64_t lp;
            if (!hj_uint64(hj_at(lps, i), &lp) || lp >= (uint64_t)G.opt_lp_count) {
                *msg = "A logical processor index is out of range.";
                return E_INVALIDARG;
            }
        }
        if (at >= 0) {
            *msg = "The CPU group already exists.";
            return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
        }
        hj_value *g = hj_new_object();
        hj_set(g, "GroupId", hj_new_string(gid));
        /* CpuGroupAffinity has exactly these two members (no Mask in any schema). */
        hj_value *aff = hj_new_object();
        hj_set(aff, "LogicalProcessorCount", hj_new_uint(count));
        hj_set(aff, "LogicalProcessors", lps ? hj_clone(lps) : hj_new_array());
        hj_set(g, "Affinity", aff);
        hj_set(g, "GroupProperties", hj_new_array());
        hj_push(G.cpu_groups, g);
        return S_OK;
    }
    if (!strcmp(opn, "DeleteGroup")) {
        if (at < 0) {
            *msg = "The CPU group does not exist.";
            return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
        }
        remove_at(&G.cpu_groups, at);
        return S_OK;
    }
    if (!strcmp(opn, "SetProperty")) {
        uint64_t code = 0, val = 0;
        if (!hj_uint64(hj_get(d, "PropertyCode"), &code) ||
            !hj_uint64(hj_get(d, "PropertyValue"), &val)) {
            *msg = "SetProperty needs PropertyCode and PropertyValue.";
            return HCS_E_INVALID_JSON;
        }
        if (at < 0) {
            *msg = "The CPU group does not exist.";
            return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
        }
        hj_value *g = (hj_value *)hj_at(G.cpu_groups, (size_t)at);
        hj_value *props = (hj_value *)hj_get(g, "GroupProperties");
        hj_value *p = hj_new_object();
        hj_set(p, "PropertyCode", hj_new_uint(code));
        hj_set(p, "PropertyValue", hj_new_uint(val));
        hj_push(props, p);
        return S_OK;
    }
    *msg = "Operation must be CreateGroup, DeleteGroup or SetProperty.";
    return E_INVALIDARG;
}

static HRESULT modify_ccg(const hj_value *st, const char **msg) {
    const char *opn = hj_str(hj_get(st, "Operation"), NULL);
    const hj_value *d = hj_get(st, "OperationDetails");
    const char *id = hj_str(hj_get(d, "Id"), NULL);
    if (!opn || !id) {
        *msg = "ContainerCredentialGuard settings need Operation and OperationDetails.Id.";
        return HCS_E_INVALID_JSON;
    }
    if (!G.ccg) G.ccg = hj_new_array();
    int at = find_by(G.ccg, "Id", id);
    if (!strcmp(opn, "AddInstance")) {
        if (at >= 0) {
            *msg = "The instance already exists.";
            return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
        }
        const char *tr = hj_str(hj_get(d, "Transport"), NULL);
        if (tr && strcmp(tr, "LRPC") && strcmp(tr, "HvSocket")) {
            *msg = "Transport must be LRPC or HvSocket.";
            return E_INVALIDARG;
        }
        hj_value *inst = hj_new_object();
        hj_set(inst, "Id", hj_new_string(id));
        hj_value *cg = hj_new_object();
        hj_set(cg, "Cookie", hj_new_string("aGNzaW0="));
        hj_set(cg, "RpcEndpoint", hj_new_string(id));
        hj_set(cg, "Transport", hj_new_string(tr ? tr : "LRPC"));
        const hj_value *cs = hj_get(d, "CredentialSpec");
        hj_set(cg, "CredentialSpec", cs ? hj_clone(cs) : hj_new_string(""));
        hj_set(inst, "CredentialGuard", cg);
        hj_push(G.ccg, inst);
        return S_OK;
    }
    if (!strcmp(opn, "RemoveInstance")) {
        if (at < 0) {
            *msg = "The instance does not exist.";
            return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
        }
        remove_at(&G.ccg, at);
        return S_OK;
    }
    *msg = "Operation must be AddInstance or RemoveInstance.";
    return E_INVALIDARG;
}

HRESULT WINAPI HcsModifyServiceSettings(PCWSTR settings, PWSTR *result) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsModifyServiceSettings, settings, (void *)result);
    if (result) *result = NULL;
    HRESULT hr = hc_enter_sync(FN_HcsModifyServiceSettings);
    if (hr != S_OK) return hr;
    settings = hc_opt(settings);
    hc_lock();
    const char *msg = NULL;
    hj_value *req = settings ? hc_parse(settings) : NULL;
    if (!settings) {
        hr = E_INVALIDARG;
        msg = "A ModificationRequest is required.";
    } else if (!req || hj_typeof(req) != HJ_OBJECT) {
        hr = HCS_E_INVALID_JSON;
        msg = "The ModificationRequest is not a JSON object.";
    } else {
        const char *pt = hj_str(hj_get(req, "PropertyType"), NULL);
        const hj_value *st = hj_get(req, "Settings");
        if (!pt) {
            hr = HCS_E_INVALID_JSON;
            msg = "PropertyType is required.";
        } else if (!st || hj_typeof(st) != HJ_OBJECT) {
            hr = HCS_E_INVALID_JSON;
            msg = "Settings must be an object.";
        } else if (!strcmp(pt, "CpuGroup")) {
            hr = modify_cpu_group(st, &msg);
        } else if (!strcmp(pt, "ContainerCredentialGuard")) {
            hr = modify_ccg(st, &msg);
        } else {
            hr = E_INVALIDARG;
            msg = "PropertyType must be CpuGroup or ContainerCredentialGuard.";
        }
    }
    if (FAILED(hr)) fail_doc(result, hr, msg);
    hc_unlock();
    hj_free(req);
    return hr;
}

HRESULT WINAPI HcsSubmitWerReport(PCWSTR settings) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsSubmitWerReport, settings);
    HRESULT hr = hc_enter_sync(FN_HcsSubmitWerReport);
    if (hr != S_OK) return hr;
    if (!settings) return E_INVALIDARG;
    hj_value *r = hc_parse(settings);
    if (!r || hj_typeof(r) != HJ_OBJECT) hr = HCS_E_INVALID_JSON;
    const hj_value *sid = hj_get(r, "SystemId"), *cp = hj_get(r, "CrashParameters");
    const hj_value *wci = hj_get(r, "WindowsCrashInfo");
    if (hr == S_OK && (!sid || !hj_str(sid, NULL))) hr = E_INVALIDARG;
    if (hr == S_OK && cp) {
        if (hj_typeof(cp) != HJ_ARRAY) hr = HCS_E_INVALID_JSON;
        for (size_t i = 0; hr == S_OK && i < hj_count(cp); i++) {
            uint64_t v;
            if (!hj_uint64(hj_at(cp, i), &v)) hr = HCS_E_INVALID_JSON;
        }
    }
    if (hr == S_OK && wci && hj_typeof(wci) != HJ_OBJECT) hr = HCS_E_INVALID_JSON;
    hj_free(r);
    if (hr == S_OK) {
        hc_lock();
        G.wer_reports++;
        hc_unlock();
    }
    return hr;
}

/* ---- VM file utilities ------------------------------------------------------------------ */
static HRESULT create_empty(fn_id fn, PCWSTR path) {
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    char *p;
    if ((hr = hc_path_arg(path, 0, &p)) != S_OK) return hr;
    if (plat_file_exists(p))
        hr = HRESULT_FROM_WIN32(80u); /* ERROR_FILE_EXISTS */
    else { /* a missing folder is ERROR_PATH_NOT_FOUND, as Windows' CreateFile says */
        int e = plat_write_file(p, "", 0);
        hr = e == ENOENT ? HC_E_PATH_NOT_FOUND : hc_hr_from_errno(e);
    }
    free(p);
    return hr;
}

HRESULT WINAPI HcsCreateEmptyGuestStateFile(PCWSTR guestStateFilePath) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsCreateEmptyGuestStateFile, guestStateFilePath);
    return create_empty(FN_HcsCreateEmptyGuestStateFile, guestStateFilePath);
}

HRESULT WINAPI HcsCreateEmptyRuntimeStateFile(PCWSTR runtimeStateFilePath) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsCreateEmptyRuntimeStateFile, runtimeStateFilePath);
    return create_empty(FN_HcsCreateEmptyRuntimeStateFile, runtimeStateFilePath);
}

static int key_eq(const plat_file_key *a, const plat_file_key *b) {
    return a->volume == b->volume && a->file == b->file && a->birth == b->birth;
}

static hc_grant *grant_find(const plat_file_key *key) { /* under lock */
    for (size_t i = 0; i < G.ngrants; i++)
        if (key_eq(&G.grants[i].key, key)) return &G.grants[i];
    return NULL;
}

static hc_grant *grant_add(const plat_file_key *key) { /* under lock; NULL: out of memory */
    hc_grant *g = grant_find(key);
    if (g) return g;
    if (G.ngrants == G.capgrants) {
        size_t cap = G.capgrants ? 2 * G.capgrants : 8;
        hc_grant *n = realloc(G.grants, cap * sizeof *n);
        if (!n) return NULL;
        G.grants = n;
        G.capgrants = cap;
    }
    g = &G.grants[G.ngrants++];
    memset(g, 0, sizeof *g);
    g->key = *key;
    return g;
}

static size_t vm_index(const hc_grant *g, const char *vm) {
    for (size_t v = 0; v < g->nvms; v++)
        if (!strcmp(g->vms[v], vm)) return v;
    return (size_t)-1;
}

/* Adds (grant) or removes vm (NULL: the group) to the entry of key. Under lock. */
static HRESULT grant_change(const plat_file_key *key, const char *vm, int grant) {
    hc_grant *g = grant ? grant_add(key) : grant_find(key);
    if (!g) return grant ? E_OUTOFMEMORY : S_OK; /* revoking what was never granted: S_OK */
    if (!vm) {
        g->group = grant;
    } else {
        size_t at = vm_index(g, vm);
        if (grant && at == (size_t)-1) {
            if (g->nvms == g->capvms) {
                size_t cap = g->capvms ? 2 * g->capvms : 4;
                char **n = realloc(g->vms, cap * sizeof *n);
                if (!n) return E_OUTOFMEMORY;
                g->vms = n;
                g->capvms = cap;
            }
            char *copy = hc_strdup(vm);
            if (!copy) return E_OUTOFMEMORY;
            g->vms[g->nvms++] = copy;
        } else if (!grant && at != (size_t)-1) {
            free(g->vms[at]);
            g->vms[at] = g->vms[--g->nvms];
        }
    }
    if (!g->group && !g->nvms) { /* an entry that grants nothing goes */
        free(g->vms);
        *g = G.grants[--G.ngrants];
    }
    return S_OK;
}

int hc_access_granted(const char *vm_id, const char *path) {
    plat_file_key key;
    if (plat_file_key_of(path, &key)) return 1; /* no such file: not this check's to report */
    hc_lock();
    const hc_grant *g = grant_find(&key);
    int ok = g && (g->group || vm_index(g, vm_id) != (size_t)-1);
    hc_unlock();
    return ok;
}

/* The four access calls: vmId (need_vm) and filePath must be non-empty strings
 * (E_INVALIDARG) and the file must exist (ERROR_FILE_NOT_FOUND; the host's error mapped
 * as under Errors); then the grant or revoke. */
static HRESULT access_call(fn_id fn, PCWSTR vmId, int need_vm, PCWSTR filePath, int grant) {
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    char *vm = NULL;
    if (need_vm && (hr = hc_path_arg(vmId, 0, &vm)) != S_OK) return hr;
    char *p;
    if ((hr = hc_path_arg(filePath, 0, &p)) != S_OK) {
        free(vm);
        return hr;
    }
    plat_file_key key;
    int e = plat_file_key_of(p, &key);
    free(p);
    if (e) {
        free(vm);
        return hc_hr_from_errno(e);
    }
    hc_lock();
    hr = grant_change(&key, vm, grant);
    hc_unlock();
    free(vm);
    return hr;
}

HRESULT WINAPI HcsGrantVmAccess(PCWSTR vmId, PCWSTR filePath) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsGrantVmAccess, vmId, filePath);
    return access_call(FN_HcsGrantVmAccess, vmId, 1, filePath, 1);
}
HRESULT WINAPI HcsRevokeVmAccess(PCWSTR vmId, PCWSTR filePath) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsRevokeVmAccess, vmId, filePath);
    return access_call(FN_HcsRevokeVmAccess, vmId, 1, filePath, 0);
}
HRESULT WINAPI HcsGrantVmGroupAccess(PCWSTR filePath) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsGrantVmGroupAccess, filePath);
    return access_call(FN_HcsGrantVmGroupAccess, NULL, 0, filePath, 1);
}
HRESULT WINAPI HcsRevokeVmGroupAccess(PCWSTR filePath) {
    if (hc_remote_active()) return hc_remote_call(FN_HcsRevokeVmGroupAccess, filePath);
    return access_call(FN_HcsRevokeVmGroupAccess, NULL, 0, filePath, 0);
}

HRESULT WINAPI HcsGetProcessorCompatibilityFromSavedState(PCWSTR RuntimeFileName,
                                                          PCWSTR *ProcessorFeaturesString) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsGetProcessorCompatibilityFromSavedState, RuntimeFileName,
                              (void *)ProcessorFeaturesString);
    if (ProcessorFeaturesString) *ProcessorFeaturesString = NULL;
    HRESULT hr = hc_enter_sync(FN_HcsGetProcessorCompatibilityFromSavedState);
    if (hr != S_OK) return hr;
    char *p;
    if ((hr = hc_path_arg(RuntimeFileName, 0, &p)) != S_OK) return hr;
    hj_value *d = hc_read_saved_state(p, &hr);
    free(p);
    if (FAILED(hr)) return hr;
    if (ProcessorFeaturesString) {
        hc_lock();
        *ProcessorFeaturesString = hc_doc_from_json(hj_get(d, "ProcessorRequirements"));
        hc_unlock();
    }
    hj_free(d);
    return S_OK;
}
