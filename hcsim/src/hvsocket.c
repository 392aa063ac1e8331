/* hcsim: Hyper-V sockets as Unix sockets, on Windows as loopback TCP sockets whose ports
 * are in files (README "Hyper-V sockets").
 *
 * A running system gets a private directory <base>/<RuntimeId> (made on first use: a
 * process created in it, or a path asked for with HcsimHvSocketPath) that goes away with
 * the system. In it, "<service id>.g" is where a guest program listens (the host
 * connects: host -> guest) and "<service id>.h" where the host listens (a guest program
 * connects: guest -> host); on Windows these are files holding the port of a loopback TCP
 * socket (CPython on Windows has no AF_UNIX). hcsim only names the paths and applies the system's HvSocket
 * configuration; the sockets themselves are the programs' own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcsim_internal.h"
#include "hvsock.h"
#include "wire.h"

#define GUID_LEN 36
#ifdef _WIN32
#define HV_SEP "\\"
#else
#define HV_SEP "/"
#endif

/* The directories made, by the RuntimeId of their system (under the emulator's lock). The
 * base names this process's pid: a child of fork() computes another one and starts
 * afresh (the parent's entries are dropped, not freed: they are the parent's). */
typedef struct hv_dir {
    char rid[GUID_LEN + 1];
    int gone; /* its system went away but the directory could not be removed (yet) */
    struct hv_dir *next;
} hv_dir;

static struct {
    char base[260];
    hv_dir *dirs;
} HV;

/* in, a GUID with or without braces in any case, as canonical lowercase text; 1 if valid. */
static int guid_norm(const char *in, char out[GUID_LEN + 1]) {
    size_t n = in ? strlen(in) : 0;
    if (n == GUID_LEN + 2 && in[0] == '{' && in[n - 1] == '}') {
        in++;
        n -= 2;
    }
    if (n != GUID_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (c >= 'A' && c <= 'F') {
            c = (char)(c - 'A' + 'a');
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
        out[i] = c;
    }
    out[GUID_LEN] = 0;
    return 1;
}

static void retry_gone(void);

/* The base directory, made if needed (0 or errno); a changed base (after fork()) forgets
 * the directories of the old one. */
static int base_dir(void) {
    char base[sizeof HV.base];
    int e = plat_hvsock_base(base, sizeof base);
    if (e) return e;
    if (strcmp(base, HV.base) != 0) {
        memcpy(HV.base, base, sizeof base);
        HV.dirs = NULL;
        plat_hvsock_sweep(HV.base); /* what dead processes left */
    }
    retry_gone();
    return plat_private_dir(HV.base);
}

static hv_dir **find_dir(const char *rid) {
    hv_dir **d = &HV.dirs;
    while (*d && strcmp((*d)->rid, rid) != 0) d = &(*d)->next;
    return d;
}

int hc_hvsock_dir(hc_system *s, char *out, size_t n) {
    int e = base_dir();
    if (e) return e;
    int w = snprintf(out, n, "%s" HV_SEP "%s", HV.base, s->runtime_id);
    if (w < 0 || (size_t)w >= n) return ENAMETOOLONG;
    hv_dir **d = find_dir(s->runtime_id);
    if (*d) return 0;
    if ((e = plat_private_dir(out)) != 0) return e;
    hv_dir *nd = calloc(1, sizeof *nd);
    if (!nd) {
        plat_rmdir(out);
        return ENOMEM;
    }
    memcpy(nd->rid, s->runtime_id, sizeof nd->rid);
    *d = nd;
    return 0;
}

/* Removes the directory of *d and, when that worked, the entry (and the base once no
 * directory is left); a failure (out of descriptors, ...) keeps it, marked gone, for the
 * next call to try again. */
static void remove_dir(hv_dir **d) {
    hv_dir *gone = *d;
    char path[sizeof HV.base + GUID_LEN + 2];
    snprintf(path, sizeof path, "%s" HV_SEP "%s", HV.base, gone->rid);
    int e = plat_rmtree(path); /* the sockets in it too */
    if (e && e != ENOENT) {
        gone->gone = 1;
        return;
    }
    *d = gone->next;
    free(gone);
    if (!HV.dirs) (void)plat_rmdir(HV.base);
}

/* Tries again to remove the directories of systems that went away. */
static void retry_gone(void) {
    for (hv_dir **d = &HV.dirs; *d;) {
        hv_dir *was = *d;
        if (was->gone) remove_dir(d);
        if (*d == was) d = &was->next;
    }
}

/* Whether HV describes this process's base (not the parent's, after fork()). */
static int base_is_ours(void) {
    char base[sizeof HV.base];
    return HV.dirs && !plat_hvsock_base(base, sizeof base) && !strcmp(base, HV.base);
}

void hc_hvsock_system_gone(hc_system *s) {
    if (!base_is_ours()) return;
    hv_dir **d = find_dir(s->runtime_id);
    if (*d) remove_dir(d);
    retry_gone();
}

void hc_hvsock_reset(void) {
    if (!base_is_ours()) return;
    for (hv_dir *d = HV.dirs; d; d = d->next) d->gone = 1;
    retry_gone();
}

/* ---- the HvSocket configuration ------------------------------------------------------ */

/* Whether the caller (hcsim's user, taken to be an administrator: HCS clients are) is one
 * of the trustees of an ACE: Everyone, Authenticated Users, Users, Administrators,
 * SYSTEM, Interactive. */
static int caller_is(const char *sid, size_t n) {
    static const char *const mine[] = {"WD", "AU", "BU", "BA", "SY", "IU"};
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
        if (n == 2 && !memcmp(sid, mine[i], 2)) return 1;
    return 0;
}

/* Whether the security descriptor (SDDL) denies the caller: no DACL ("D:" absent) allows
 * everyone; otherwise the first ACE naming one of the caller's trustees decides (A allows,
 * D denies), and none denies (so an empty DACL, "D:" or "D:P", denies everyone). */
static int sddl_denies(const char *sd) {
    const char *p = strstr(sd, "D:");
    if (!p) return 0;
    const char *flags = p += 2;
    while (*p && *p != '(' && *p != ':') p++; /* the DACL's flags (P, AI, ...) */
    if (p - flags >= 17 && strstr(flags, "NO_ACCESS_CONTROL") &&
        strstr(flags, "NO_ACCESS_CONTROL") < p)
        return 0; /* a NULL DACL */
    while (*p == '(') {
        const char *end = strchr(p, ')');
        if (!end) return 1; /* malformed: refuse */
        /* (type;flags;rights;object;inherited;sid) */
        const char *f[6];
        size_t k = 0;
        f[k++] = p + 1;
        for (const char *c = p + 1; c < end && k < 6; c++)
            if (*c == ';') f[k++] = c + 1;
        if (k == 6 && f[1] - f[0] == 2 && caller_is(f[5], (size_t)(end - f[5]))) {
            if (f[0][0] == 'A') return 0;
            if (f[0][0] == 'D') return 1;
        }
        p = end + 1;
    }
    return 1;
}

/* The HvSocketSystemConfig of a system's configuration (a VM's
 * VirtualMachine.Devices.HvSocket.HvSocketConfig, a container's Container.HvSocket.Config),
 * or NULL. */
static const hj_value *hvsocket_config(const hj_value *cfg) {
    const hj_value *vm = hj_get(cfg, "VirtualMachine");
    if (vm) return hj_get(hj_get(hj_get(vm, "Devices"), "HvSocket"), "HvSocketConfig");
    return hj_get(hj_get(hj_get(cfg, "Container"), "HvSocket"), "Config");
}

/* S_OK when the configuration lets the host reach service svc of s in that direction,
 * else E_ACCESSDENIED (README "Hyper-V sockets": the rule). */
static HRESULT config_allows(const hc_system *s, const char *svc, uint32_t endpoint) {
    const hj_value *sc = hvsocket_config(s->config);
    if (!sc) return S_OK;
    const char *member = endpoint == HcsimHvSocketGuestListener ? "ConnectSecurityDescriptor"
                                                                : "BindSecurityDescriptor";
    const char *fallback = endpoint == HcsimHvSocketGuestListener
                               ? "DefaultConnectSecurityDescriptor"
                               : "DefaultBindSecurityDescriptor";
    const hj_value *table = hj_get(sc, "ServiceTable"), *entry = NULL;
    for (size_t i = 0; i < hj_count(table); i++) {
        char key[GUID_LEN + 1];
        if (guid_norm(hj_key_at(table, i), key) && !strcmp(key, svc)) entry = hj_at(table, i);
    }
    int disabled = 0;
    if (entry && hj_bool(hj_get(entry, "Disabled"), &disabled) && disabled) return E_ACCESSDENIED;
    const char *sd = entry ? hj_str(hj_get(entry, member), NULL) : NULL;
    if (!sd) sd = hj_str(hj_get(sc, fallback), NULL);
    return sd && sddl_denies(sd) ? E_ACCESSDENIED : S_OK;
}

/* The running system whose RuntimeId (or id) is the GUID vm, or NULL (under lock). */
static hc_system *find_system(const char *vm) {
    for (hc_system *s = G.table; s; s = s->tnext) {
        char id[GUID_LEN + 1];
        if (!strcmp(s->runtime_id, vm) || (guid_norm(s->id, id) && !strcmp(id, vm))) return s;
    }
    return NULL;
}

HRESULT HcsimHvSocketPath(PCWSTR vmId, PCWSTR serviceId, uint32_t endpoint, PWSTR *path) {
    if (!path) return E_POINTER;
    *path = NULL;
    if (hc_remote_active())
        return hc_remote_call(HCW_CTL_HcsimHvSocketPath, vmId, serviceId, endpoint, (void *)path);
    hc_init();
    char *vm8 = vmId ? hc_u8(vmId) : NULL, *svc8 = serviceId ? hc_u8(serviceId) : NULL;
    char vm[GUID_LEN + 1], svc[GUID_LEN + 1];
    int need_svc = endpoint != HcsimHvSocketSystemDirectory;
    HRESULT hr = S_OK;
    if (endpoint > HcsimHvSocketSystemDirectory || !guid_norm(vm8, vm) ||
        (need_svc && !guid_norm(svc8, svc)))
        hr = E_INVALIDARG;
    free(vm8);
    free(svc8);
    if (FAILED(hr)) return hr;
    hc_lock();
    hc_system *s = find_system(vm);
    char dir[sizeof HV.base + GUID_LEN + 2], full[sizeof dir + GUID_LEN + 3];
    if (!s)
        hr = HCS_E_SYSTEM_NOT_FOUND;
    else if (s->state != SS_RUNNING && s->state != SS_PAUSED)
        hr = HCS_E_INVALID_STATE;
    else if (need_svc)
        hr = config_allows(s, svc, endpoint);
    if (SUCCEEDED(hr)) {
        int e = hc_hvsock_dir(s, dir, sizeof dir);
        if (e) hr = hc_hr_from_errno(e);
    }
    if (SUCCEEDED(hr)) {
        if (need_svc)
            snprintf(full, sizeof full, "%s" HV_SEP "%s.%c", dir, svc,
                     endpoint == HcsimHvSocketGuestListener ? 'g' : 'h');
        else
            memcpy(full, dir, sizeof dir);
        char16_t *w = hj_utf8_to_utf16(full, strlen(full));
        *path = w ? hc_doc_from_utf16(w) : NULL;
        if (!*path) hr = E_OUTOFMEMORY;
        free(w);
    }
    hc_unlock();
    return hr;
}
