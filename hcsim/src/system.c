/* hcsim compute systems: the namespace table, HCS_SYSTEM handles, the state machine of
 * HCS contract §7.2, save/restore/templates and system exit. Every lifecycle call's work
 * runs on the system's strand, in issue order, after the configured completion delay. */
#include "hcsim_internal.h"
#include "network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAVE_MAGIC   "hcsim-saved-state"
#define SAVE_VERSION 1

static const char *ns_or_default(const char *ns) { return ns ? ns : ""; }

hc_sysh *hc_sysh_get(HCS_SYSTEM h) { return hc_reg_get(h, K_SYSH); }

hc_system *hc_sys_find(const char *ns, const char *id) {
    ns = ns_or_default(ns);
    for (hc_system *s = G.table; s; s = s->tnext)
        if (!strcmp(s->id, id) && !strcmp(s->ns, ns)) return s;
    return NULL;
}

static void table_add(hc_system *s) {
    s->tnext = G.table;
    G.table = s;
    s->in_table = 1;
    hc_ref(s);
    G.counts.Systems++;
}

static void table_del(hc_system *s) {
    if (!s->in_table) return;
    for (hc_system **pp = &G.table; *pp; pp = &(*pp)->tnext) {
        if (*pp == s) {
            *pp = s->tnext;
            break;
        }
    }
    s->in_table = 0;
    s->tnext = NULL;
    G.counts.Systems--;
    hc_unref(s);
}

void hc_sys_free(hc_system *s) {
    free(s->ns);
    free(s->id);
    hj_free(s->config);
    free(s->owner);
    free(s->hosting_id);
    free(s->template_id);
    free(s->restore_path);
    hj_free(s->exit_status);
    free(s->sess); /* swept at exit; a system that never ran has none */
    hc_mig_end(s);
    free(s);
}

void hc_sysh_free(hc_sysh *h) {
    hc_unref(h->sys);
    free(h);
}

static const char *state_name(sys_state st) {
    switch (st) {
    case SS_CREATED: return "Created";
    case SS_RUNNING: return "Running";
    case SS_PAUSED: return "Paused";
    case SS_TEMPLATE: return "SavedAsTemplate";
    case SS_STOPPED: return "Stopped";
    default: return "Unknown";
    }
}

/* Sets of states, for state_gate. */
#define ST(x)   (1u << (x))
#define ST_LIVE (ST(SS_CREATED) | ST(SS_RUNNING) | ST(SS_PAUSED) | ST(SS_TEMPLATE))

/* Gate of the calls that need an existing, live system in one of the states `from`. */
static HRESULT state_gate(hc_system *s, unsigned from) {
    if (s->state == SS_FAILED || s->state == SS_CREATING) return HCS_E_SYSTEM_NOT_FOUND;
    if (s->state == SS_STOPPED) return HCS_E_SYSTEM_ALREADY_STOPPED;
    if (!(from & ST(s->state))) return HCS_E_INVALID_STATE;
    return S_OK;
}

/* ---- properties ---------------------------------------------------------------------- */
hj_value *hc_sys_properties(hc_system *s, int basic_only) {
    (void)basic_only;
    hj_value *o = hj_new_object();
    if (!o) return NULL;
    hj_set(o, "Id", hj_new_string(s->id));
    hj_set(o, "SystemType", hj_new_string(s->is_vm ? "VirtualMachine" : "Container"));
    hj_set(o, "Name", hj_new_string(s->id));
    if (s->owner) hj_set(o, "Owner", hj_new_string(s->owner));
    hj_set(o, "RuntimeId", hj_new_string(s->runtime_id));
    hj_set(o, "RuntimeOsType", hj_new_string(s->is_linux ? "Linux" : "Windows"));
    hj_set(o, "State", hj_new_string(state_name(s->state)));
    hj_set(o, "Stopped", hj_new_bool(s->state == SS_STOPPED));
    if (s->state == SS_STOPPED && s->exit_type) hj_set(o, "ExitType", hj_new_string(s->exit_type));
    if (s->hosting_id) hj_set(o, "HostingSystemId", hj_new_string(s->hosting_id));
    if (s->template_id) hj_set(o, "RuntimeTemplateId", hj_new_string(s->template_id));
    return o;
}

static hj_value *memory_props(hc_system *s) {
    hj_value *m = hj_new_object();
    uint64_t pages = s->mem_mb * 256u; /* 4 KiB pages */
    hj_set(m, "VirtualNodeCount", hj_new_uint(1));
    hj_value *vm = hj_new_object();
    hj_set(vm, "AvailableMemory", hj_new_uint(pages / 2));
    hj_set(vm, "AvailableMemoryBuffer", hj_new_int(0));
    hj_set(vm, "ReservedMemory", hj_new_uint(0));
    hj_set(vm, "AssignedMemory", hj_new_uint(pages));
    hj_set(vm, "SlpActive", hj_new_bool(0));
    hj_set(vm, "BalancingEnabled", hj_new_bool(0));
    hj_set(vm, "DmOperationInProgress", hj_new_bool(0));
    hj_set(m, "VirtualMachineMemory", vm);
    hj_value *nodes = hj_new_array();
    hj_value *n0 = hj_new_object();
    hj_set(n0, "VirtualNodeIndex", hj_new_uint(0));
    hj_set(n0, "PhysicalNodeNumber", hj_new_uint(0));
    hj_set(n0, "VirtualProcessorCount", hj_new_uint(s->cpu_count));
    hj_set(n0, "MemoryUsageInPages", hj_new_uint(pages / 2));
    hj_push(nodes, n0);
    hj_set(m, "VirtualNodes", nodes);
    return m;
}

static hj_value *statistics_props(hc_system *s) {
    hj_value *st = hj_new_object();
    char now[40];
    hc_wall_time(now);
    uint64_t up100ns = 0;
    if (s->start_ms && s->state != SS_STOPPED) up100ns = (plat_now_ms() - s->start_ms) * 10000u;
    hj_set(st, "Timestamp", hj_new_string(now));
    hj_set(st, "ContainerStartTime", hj_new_string(s->start_time[0] ? s->start_time : now));
    hj_set(st, "Uptime100ns", hj_new_uint(up100ns));
    hj_value *p = hj_new_object();
    hj_set(p, "TotalRuntime100ns", hj_new_uint(up100ns / 10));
    hj_set(p, "RuntimeUser100ns", hj_new_uint(up100ns / 20));
    hj_set(p, "RuntimeKernel100ns", hj_new_uint(up100ns / 20));
    hj_set(st, "Processor", p);
    hj_value *m = hj_new_object();
    hj_set(m, "MemoryUsageCommitBytes", hj_new_uint(s->mem_mb * 1048576u / 2));
    hj_set(m, "MemoryUsageCommitPeakBytes", hj_new_uint(s->mem_mb * 1048576u / 2));
    hj_set(m, "MemoryUsagePrivateWorkingSetBytes", hj_new_uint(s->mem_mb * 1048576u / 4));
    hj_set(st, "Memory", m);
    hj_value *io = hj_new_object();
    hj_set(io, "ReadCountNormalized", hj_new_uint(0));
    hj_set(io, "ReadSizeBytes", hj_new_uint(0));
    hj_set(io, "WriteCountNormalized", hj_new_uint(0));
    hj_set(io, "WriteSizeBytes", hj_new_uint(0));
    hj_set(st, "Storage", io);
    return st;
}

/* Every system property type a published schema names (System_PropertyType of 2104/21H2,
 * PropertyType_2 of 1809-2004) and those hcsshim queries besides (SystemGUID; the v1
 * MappedVirtualDisk). What each adds: README, "Compute systems". */
static const char *const prop_types[] = {"Memory",
                                         "Statistics",
                                         "ProcessList",
                                         "TerminateOnLastHandleClosed",
                                         "SharedMemoryRegion",
                                         "GuestConnection",
                                         "GuestMemory",
                                         "ICHeartbeatStatus",
                                         "SystemGUID",
                                         "MappedVirtualDisk"};

/* ICHeartbeatStatus (IntegrationComponentStatus): a running VM's heartbeat is healthy;
 * a VM that does not run has no contact; a container has no integration components. */
static hj_value *heartbeat_props(hc_system *s) {
    hj_value *o = hj_new_object();
    int running = s->state == SS_RUNNING;
    hj_set(o, "IsEnabled", hj_new_bool(s->is_vm));
    hj_set(o, "State", hj_new_string(!s->is_vm ? "Unknown" : running ? "Ok" : "NoContact"));
    hj_set(o, "Reason", hj_new_string(s->is_vm && running ? "HealthyApps" : "Unknown"));
    return o;
}

static void add_property(hj_value *o, hc_system *s, const char *type) {
    /* Memory and GuestConnection describe a VM (and its guest): a container's answer
     * has neither member. */
    if (!s->is_vm && (!strcmp(type, "Memory") || !strcmp(type, "GuestConnection"))) return;
    if (!strcmp(type, "Memory")) {
        hj_set(o, "Memory", memory_props(s));
    } else if (!strcmp(type, "Statistics")) {
        hj_set(o, "Statistics", statistics_props(s));
    } else if (!strcmp(type, "ProcessList")) {
        hj_set(o, "ProcessList", hc_proc_list(s));
    } else if (!strcmp(type, "TerminateOnLastHandleClosed")) {
        hj_set(o, "TerminateOnLastHandleClosed", hj_new_bool(s->terminate_on_close));
    } else if (!strcmp(type, "SharedMemoryRegion")) {
        hj_set(o, "SharedMemoryRegionInfo", hj_new_array());
    } else if (!strcmp(type, "ICHeartbeatStatus")) {
        hj_set(o, "ICHeartbeatStatus", heartbeat_props(s));
    } else if (!strcmp(type, "SystemGUID")) {
        hj_set(o, "SystemGUID", hj_new_string(s->system_guid));
    } else if (!strcmp(type, "MappedVirtualDisk")) {
        hj_set(o, "MappedVirtualDiskControllers", hj_new_object());
    } else if (!strcmp(type, "GuestConnection") && s->has_guest) {
        hj_value *g = hj_new_object();
        hj_value *vers = hj_new_array();
        hj_value *v = hj_new_object();
        hj_set(v, "Major", hj_new_int(2));
        hj_set(v, "Minor", hj_new_int(G.opt_schema_minor));
        hj_push(vers, v);
        hj_set(g, "SupportedSchemaVersions", vers);
        hj_set(g, "ProtocolVersion", hj_new_int(4));
        hj_value *caps = hj_new_object();
        hj_set(caps, "NamespaceAddRequestSupported", hj_new_bool(1));
        hj_set(caps, "SignalProcessSupported", hj_new_bool(1));
        hj_set(caps, "DumpStacksSupported", hj_new_bool(0));
        hj_set(caps, "DeleteContainerStateSupported", hj_new_bool(1));
        hj_set(g, "GuestDefinedCapabilities", caps);
        hj_set(o, "GuestConnectionInfo", g);
    }
}

/* ---- state ----------------------------------------------------------------------------- */
void hc_sys_set_state(hc_system *s, sys_state st) {
    if (s->state == st) return;
    sys_state previous = s->state;
    s->state = st;
    if (!s->is_vm) return;
    hj_value *d = hj_new_object();
    hj_set(d, "State", hj_new_string(state_name(st)));
    hj_set(d, "PreviousState", hj_new_string(state_name(previous)));
    hc_event_list_json(s->handles, HcsEventGroupVmLifecycle, d);
    hj_free(d);
}

/* ---- exit ------------------------------------------------------------------------------ */
void hc_sys_exit(hc_system *s, hc_op *except, const char *exit_type, HRESULT status,
                 const char *detail, const char *initiator, int worker) {
    if (s->state == SS_STOPPED || s->state == SS_FAILED || s->state == SS_CREATING) return;
    hc_ref(s);
    hc_sys_set_state(s, SS_STOPPED);
    hc_mig_end(s);
    s->exit_type = exit_type;
    hj_value *es = hj_new_object();
    hj_set(es, "Status", hj_new_int((int32_t)status));
    hj_set(es, "ExitType", hj_new_string(exit_type));
    hj_value *attr = hj_new_array();
    hj_value *rec = hj_new_object();
    if (worker) {
        hj_value *we = hj_new_object();
        hj_set(we, "ExitCode", hj_new_uint((uint32_t)status)); /* schema: uint32 */
        hj_set(we, "Type", hj_new_string("UnexpectedStop"));
        hj_set(we, "Initiator", hj_new_string(initiator));
        hj_set(rec, "WorkerExit", we);
    } else {
        hj_value *se = hj_new_object();
        hj_set(se, "Detail", hj_new_string(detail));
        hj_set(se, "Initiator", hj_new_string(initiator));
        hj_set(rec, "SystemExit", se);
    }
    hj_push(attr, rec);
    hj_set(es, "Attribution", attr);
    hj_free(s->exit_status);
    s->exit_status = es;
    table_del(s);
    hc_proc_sweep_sessions(s); /* its process trees: frozen now, killed by a pool task */
    hc_event_terminal(s->handles, HcsEventSystemExited, es);
    hc_op_fail_pending(s, except, HCS_E_SYSTEM_ALREADY_STOPPED);
    /* systems hosted by this one go down with it */
    for (;;) {
        hc_system *h = NULL;
        for (hc_system *t = G.table; t; t = t->tnext)
            if (t->hosting_id && !strcmp(t->hosting_id, s->id) && !strcmp(t->ns, s->ns)) {
                h = t;
                break;
            }
        if (!h) break;
        hc_sys_exit(h, NULL, "UnexpectedExit", HCS_E_UNEXPECTED_EXIT, "UnexpectedExit", "Internal",
                    0);
    }
    plat_cond_broadcast(&G.exit_cond);
    hc_unref(s);
}

/* ---- work functions ------------------------------------------------------------------ */
static int json_get_uint(const hj_value *root, const char *const *path, uint64_t *out) {
    const hj_value *v = root;
    for (; *path && v; path++) v = hj_get(v, *path);
    return v ? hj_uint64(v, out) : 0;
}

static const hj_value *json_path(const hj_value *root, const char *const *path) {
    const hj_value *v = root;
    for (; *path && v; path++) v = hj_get(v, *path);
    return v;
}

/* Whether the directory holding path exists (either separator ends a component). */
static int parent_exists(const char *path) {
    const char *cut = NULL;
    for (const char *c = path; *c; c++)
        if (*c == '/' || *c == '\\') cut = c;
    if (!cut) return 1;
    if (cut == path) return 1;
    char *dir = hc_strdup(path);
    if (!dir) return 1;
    dir[cut - path] = 0;
    int ok = plat_is_dir(dir);
    free(dir);
    return ok;
}

/* The files a VM's configuration names and Windows opens when it constructs the VM: each
 * SCSI attachment of type VirtualDisk (the default) or Iso, and the guest state and
 * runtime state files (README, "Strict where Windows is strict"). Returns the first that
 * does not exist or is relative, with *hr ERROR_FILE_NOT_FOUND (or ERROR_PATH_NOT_FOUND
 * when its directory is missing too); NULL when all exist. */
static const char *missing_file(const char *path, HRESULT *hr) {
    if (!path || !*path || (hc_is_absolute_path(path) && plat_file_exists(path))) return NULL;
    *hr = !hc_is_absolute_path(path) || parent_exists(path)
              ? HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
              : HC_E_PATH_NOT_FOUND;
    return path;
}

/* The file of a SCSI Attachment of type VirtualDisk (the default) or Iso; NULL for a
 * PassThru attachment, which names a host disk, not a file. */
static const char *attachment_file(const hj_value *a) {
    const char *type = hj_str(hj_get(a, "Type"), NULL);
    if (type && strcmp(type, "VirtualDisk") && strcmp(type, "Iso")) return NULL;
    return hj_str(hj_get(a, "Path"), NULL);
}

/* The file of an attachment (attachment_file), if missing. */
static const char *missing_attachment(const hj_value *a, HRESULT *hr) {
    return missing_file(attachment_file(a), hr);
}

/* Each file a VM's configuration names and its worker process opens: the file of every
 * SCSI attachment (attachment_file), then the guest state and runtime state files.
 * Returns the first path for which check(path, ctx) is nonzero, NULL when there is none. */
typedef int (*vm_file_check)(const char *path, void *ctx);

static const char *first_vm_file(const hj_value *vm, vm_file_check check, void *ctx) {
    const hj_value *scsi = hj_get(hj_get(vm, "Devices"), "Scsi");
    for (size_t c = 0; hj_typeof(scsi) == HJ_OBJECT && c < hj_count(scsi); c++) {
        const hj_value *att = hj_get(hj_at(scsi, c), "Attachments");
        for (size_t l = 0; hj_typeof(att) == HJ_OBJECT && l < hj_count(att); l++) {
            const char *path = attachment_file(hj_at(att, l));
            if (path && *path && check(path, ctx)) return path;
        }
    }
    static const char *const gs_files[] = {"GuestStateFilePath", "RuntimeStateFilePath", NULL};
    const hj_value *gs = hj_get(vm, "GuestState");
    for (const char *const *k = gs_files; *k; k++) {
        const char *path = hj_str(hj_get(gs, *k), NULL);
        if (path && *path && check(path, ctx)) return path;
    }
    return NULL;
}

static int is_missing(const char *path, void *hr) { return missing_file(path, hr) != NULL; }

static const char *missing_vm_file(const hj_value *vm, HRESULT *hr) {
    return first_vm_file(vm, is_missing, hr);
}

/* "<what>: '<path>': <the Win32 text of hr>" for a missing file (and why, if relative). */
static hj_value *missing_file_error(HRESULT hr, const char *what, const char *path,
                                    const char *detail) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s: '%s': %s%s", what, path,
             hr == HC_E_PATH_NOT_FOUND ? "The system cannot find the path specified."
                                       : "The system cannot find the file specified.",
             hc_is_absolute_path(path) ? ""
                                       : " The path is relative: a virtual machine's files must be "
                                         "named by absolute paths.");
    return hc_result_error_attributed(hr, msg, detail);
}

static hj_value *work_create(hc_work *w, HRESULT *hr) {
    hc_system *s = w->sys;
    hj_value *cfg = hj_parse_utf16(w->raw);
    const char *bad = NULL;
    if (!cfg || hj_typeof(cfg) != HJ_OBJECT) bad = "The configuration is not a JSON object.";
    int kinds = 0;
    const hj_value *vm = NULL, *ct = NULL, *hs = NULL;
    if (!bad) {
        vm = hj_get(cfg, "VirtualMachine");
        ct = hj_get(cfg, "Container");
        hs = hj_get(cfg, "HostedSystem");
        kinds = (vm != NULL) + (ct != NULL) + (hs != NULL);
        if (kinds != 1)
            bad = "The configuration must set exactly one of Container, VirtualMachine, "
                  "HostedSystem.";
        else if ((vm && hj_typeof(vm) != HJ_OBJECT) || (ct && hj_typeof(ct) != HJ_OBJECT))
            bad = "Container/VirtualMachine must be objects.";
    }
    const hj_value *owner = hj_get(cfg, "Owner"),
                   *stlc = hj_get(cfg, "ShouldTerminateOnLastHandleClosed");
    const hj_value *hid = hj_get(cfg, "HostingSystemId");
    int terminate = 0;
    if (!bad && owner && !hj_str(owner, NULL)) bad = "Owner must be a string.";
    if (!bad && stlc && !hj_bool(stlc, &terminate))
        bad = "ShouldTerminateOnLastHandleClosed must be a boolean.";
    if (!bad && hid && !hj_str(hid, NULL)) bad = "HostingSystemId must be a string.";
    const char *hosting = hid ? hj_str(hid, NULL) : NULL;
    if (hosting && !*hosting) hosting = NULL;
    if (!bad && hs && !hosting) bad = "HostedSystem requires HostingSystemId.";
    const char *restore_path = NULL, *template_id = NULL;
    if (!bad && vm) {
        const hj_value *rs = hj_get(vm, "RestoreState");
        if (rs) {
            const hj_value *p = hj_get(rs, "SaveStateFilePath"),
                           *t = hj_get(rs, "TemplateSystemId");
            if ((p && !hj_str(p, NULL)) || (t && !hj_str(t, NULL)))
                bad = "RestoreState members must be strings.";
            restore_path = hj_str(p, NULL);
            template_id = hj_str(t, NULL);
            if (restore_path && !*restore_path) restore_path = NULL;
            if (template_id && !*template_id) template_id = NULL;
        }
    }
    if (bad) {
        hj_free(cfg);
        hc_lock();
        s->state = SS_FAILED;
        hc_unlock();
        *hr = HCS_E_INVALID_JSON;
        return hc_result_error(*hr, bad);
    }
    if (vm) {
        HRESULT fr = S_OK;
        const char *missing = missing_vm_file(vm, &fr);
        if (!missing && restore_path &&
            !hc_is_absolute_path(restore_path)) /* read at start if not */
            missing = missing_file(restore_path, &fr);
        if (missing) {
            hj_value *doc = missing_file_error(fr, "The virtual machine could not be constructed",
                                               missing, "Construct");
            hj_free(cfg);
            hc_lock();
            s->state = SS_FAILED;
            hc_unlock();
            *hr = fr;
            return doc;
        }
    }
    uint64_t mem = 0, cpus = 0;
    static const char *const vm_mem[] = {"VirtualMachine", "ComputeTopology", "Memory", "SizeInMB",
                                         NULL};
    static const char *const vm_cpu[] = {"VirtualMachine", "ComputeTopology", "Processor", "Count",
                                         NULL};
    static const char *const ct_mem[] = {"Container", "Memory", "SizeInMB", NULL};
    static const char *const ct_cpu[] = {"Container", "Processor", "Count", NULL};
    static const char *const lkd[] = {"VirtualMachine", "Chipset", "LinuxKernelDirect", NULL};
    if (!json_get_uint(cfg, vm ? vm_mem : ct_mem, &mem) || mem == 0) mem = vm ? 1024 : 512;
    if (!json_get_uint(cfg, vm ? vm_cpu : ct_cpu, &cpus) || cpus == 0) cpus = 2;

    hc_lock();
    HRESULT r = S_OK;
    const char *msg = NULL;
    hc_system *host = NULL, *tmpl = NULL;
    if (s->state != SS_CREATING) {
        r = HCS_E_SYSTEM_NOT_FOUND;
    } else if (hc_sys_find(s->ns, s->id)) {
        r = HCS_E_SYSTEM_ALREADY_EXISTS;
    } else if (hosting && !(host = hc_sys_find(s->ns, hosting))) {
        r = HCS_E_SYSTEM_NOT_FOUND;
        msg = "The hosting system does not exist.";
    } else if (template_id &&
               (!(tmpl = hc_sys_find(s->ns, template_id)) || tmpl->state != SS_TEMPLATE)) {
        r = tmpl ? HCS_E_INVALID_STATE : HCS_E_SYSTEM_NOT_FOUND;
        msg = "The template system does not exist or is not saved as a template.";
    }
    if (FAILED(r)) {
        s->state = SS_FAILED;
        hc_unlock();
        hj_free(cfg);
        *hr = r;
        return hc_result_error(r, msg);
    }
    s->config = cfg;
    s->is_vm = vm != NULL;
    s->has_guest = !vm || hj_get(vm, "GuestConnection") != NULL || (tmpl && tmpl->has_guest);
    s->is_linux = (vm && json_path(cfg, lkd) != NULL) || (host && host->is_linux);
    s->terminate_on_close = terminate;
    s->owner = hc_strdup(hj_str(owner, NULL));
    s->hosting_id = hc_strdup(hosting);
    s->template_id = hc_strdup(template_id);
    s->restore_path = hc_strdup(restore_path);
    s->mem_mb = mem;
    s->cpu_count = (uint32_t)cpus;
    if (tmpl) {
        s->mem_mb = tmpl->mem_mb;
        s->cpu_count = tmpl->cpu_count;
        s->is_linux = tmpl->is_linux;
    }
    plat_new_guid(s->runtime_id);
    plat_new_guid(s->system_guid);
    table_add(s);
    hc_sys_set_state(s, SS_CREATED);
    if (!s->handles && s->terminate_on_close)
        hc_sys_exit(s, w->op, "ForcedExit", S_OK, "Terminate", "Client", 0);
    hc_unlock();
    *hr = S_OK;
    return NULL;
}

static hj_value *save_state_doc(hc_system *s) {
    hj_value *d = hj_new_object();
    hj_value *m = hj_new_object();
    hj_set(m, "Magic", hj_new_string(SAVE_MAGIC));
    hj_set(m, "Version", hj_new_int(SAVE_VERSION));
    hj_set(d, "HcsimSavedState", m);
    hj_set(d, "SystemId", hj_new_string(s->id));
    hj_set(d, "SystemType", hj_new_string(s->is_vm ? "VirtualMachine" : "Container"));
    hj_set(d, "RuntimeOsType", hj_new_string(s->is_linux ? "Linux" : "Windows"));
    char now[40];
    hc_wall_time(now);
    hj_set(d, "SavedAt", hj_new_string(now));
    hj_set(d, "State", hj_new_string(state_name(s->state)));
    hj_set(d, "MemorySizeInMB", hj_new_uint(s->mem_mb));
    hj_set(d, "ProcessorCount", hj_new_uint(s->cpu_count));
    hj_value *req = hj_new_object();
    hj_set(req, "ProcessorCount", hj_new_uint(s->cpu_count));
    hj_set(req, "Architecture", hj_new_string("x64"));
    hj_value *feat = hj_new_array();
    hj_push(feat, hj_new_string("sse2"));
    hj_push(feat, hj_new_string("sse4.2"));
    hj_push(feat, hj_new_string("x2apic"));
    hj_set(req, "ProcessorFeatures", feat);
    hj_set(d, "ProcessorRequirements", req);
    if (s->config) hj_set(d, "Configuration", hj_clone(s->config));
    return d;
}

hj_value *hc_read_saved_state(const char *path, HRESULT *hr) {
    char *data = NULL;
    size_t len = 0;
    int e = plat_read_file(path, &data, &len);
    if (e) {
        *hr = hc_hr_from_errno(e);
        return NULL;
    }
    hj_value *d = hj_parse(data, len);
    free(data);
    const hj_value *m = hj_get(hj_get(d, "HcsimSavedState"), "Magic");
    int64_t ver = 0;
    if (!d || !m || strcmp(hj_str(m, NULL) ? hj_str(m, NULL) : "", SAVE_MAGIC) ||
        !hj_int64(hj_get(hj_get(d, "HcsimSavedState"), "Version"), &ver) || ver != SAVE_VERSION) {
        hj_free(d);
        *hr = HRESULT_FROM_WIN32(13u); /* ERROR_INVALID_DATA */
        return NULL;
    }
    *hr = S_OK;
    return d;
}

static int not_granted(const char *path, void *vm_id) { return !hc_access_granted(vm_id, path); }
static int attached_on_host(const char *path, void *ctx) {
    return (void)ctx, hc_vdisk_attached(path);
}

static int same_file(const char *path, void *key) {
    plat_file_key k;
    return !plat_file_key_of(path, &k) && !memcmp(&k, key, sizeof k);
}

int hc_sys_vm_uses_file(const char *path) { /* under lock */
    plat_file_key key;
    if (plat_file_key_of(path, &key)) return 0;
    for (hc_system *s = G.table; s; s = s->tnext)
        if (s->is_vm && (s->state == SS_RUNNING || s->state == SS_PAUSED) &&
            first_vm_file(hj_get(s->config, "VirtualMachine"), same_file, &key))
            return 1;
    return 0;
}

/* The access check of a start (README, "VM access"): each file of the VM's configuration
 * (first_vm_file) and the save state it restores from must have been granted to the VM's
 * id or to the group (HcsGrantVmAccess, HcsGrantVmGroupAccess), as the worker process
 * Windows runs the VM in opens them under the VM's own account. NULL when all were; else
 * E_ACCESSDENIED in *hr and a ResultError naming the first file that was not. A file
 * attached on the host (AttachVirtualDisk) is ERROR_SHARING_VIOLATION likewise. */
static hj_value *access_denied(hc_system *s, HRESULT *hr) {
    hc_lock();
    char *id = hc_strdup(s->id), *restore = hc_strdup(s->restore_path);
    hj_value *vm = s->is_vm ? hj_clone(hj_get(s->config, "VirtualMachine")) : NULL;
    hc_unlock();
    const char *denied = NULL, *busy = NULL;
    if (id && vm) denied = first_vm_file(vm, not_granted, id);
    if (id && !denied && restore && !hc_access_granted(id, restore)) denied = restore;
    if (id && vm && !denied) busy = first_vm_file(vm, attached_on_host, NULL);
    hj_value *doc = NULL;
    char msg[900];
    if (denied) {
        snprintf(msg, sizeof msg,
                 "The virtual machine '%s' could not open '%s': Access is denied. Grant the VM "
                 "access to the file first (HcsGrantVmAccess or HcsGrantVmGroupAccess).",
                 id, denied);
        *hr = E_ACCESSDENIED;
        doc = hc_result_error_attributed(*hr, msg, "Start");
    } else if (busy) { /* attached on the host (virtdisk.c): ERROR_SHARING_VIOLATION */
        snprintf(msg, sizeof msg,
                 "The virtual machine '%s' could not open '%s': The process cannot access the "
                 "file because it is being used by another process.",
                 id, busy);
        *hr = HRESULT_FROM_WIN32(32u);
        doc = hc_result_error_attributed(*hr, msg, "Start");
    }
    hj_free(vm);
    free(id);
    free(restore);
    return doc;
}

/* The access check of a disk hot-added to a running or paused VM (README, "VM access"):
 * its worker process opens the file under the VM's account, so it must have been granted
 * to the VM's id or to the group (E_ACCESSDENIED), and not be attached on the host
 * (ERROR_SHARING_VIOLATION). A VM that has not started is checked at its start. */
static hj_value *hot_add_denied(hc_system *s, const hj_value *attachment, HRESULT *hr) {
    const char *type = hj_str(hj_get(attachment, "Type"), NULL);
    const char *file = hj_str(hj_get(attachment, "Path"), NULL);
    if (!file || !*file || (type && strcmp(type, "VirtualDisk") && strcmp(type, "Iso")))
        return NULL;
    hc_lock();
    int running = s->is_vm && (s->state == SS_RUNNING || s->state == SS_PAUSED);
    char *id = running ? hc_strdup(s->id) : NULL;
    hc_unlock();
    if (!id) return NULL;
    hj_value *doc = NULL;
    char msg[900];
    if (!hc_access_granted(id, file)) {
        snprintf(msg, sizeof msg,
                 "The disk could not be attached: the virtual machine '%s' could not open '%s': "
                 "Access is denied. Grant the VM access to the file first (HcsGrantVmAccess or "
                 "HcsGrantVmGroupAccess).",
                 id, file);
        *hr = E_ACCESSDENIED;
        doc = hc_result_error_attributed(*hr, msg, "Modify");
    } else if (hc_vdisk_attached(file)) {
        snprintf(msg, sizeof msg,
                 "The disk could not be attached: the virtual machine '%s' could not open '%s': "
                 "The process cannot access the file because it is being used by another "
                 "process.",
                 id, file);
        *hr = HRESULT_FROM_WIN32(32u);
        doc = hc_result_error_attributed(*hr, msg, "Modify");
    }
    free(id);
    return doc;
}

/* The network check of a start (README "Host Compute Network"), under the lock: every
 * endpoint the configuration names (a VM's Devices.NetworkAdapters.<name>.EndpointId, a
 * container's Networking.NetworkAdapters) must exist (HCN_E_ENDPOINT_NOT_FOUND), and a
 * container's Networking.Namespace too (ERROR_NOT_FOUND). NULL when they do, else the
 * ResultError naming the first that does not. */
static hj_value *network_missing(const hj_value *config, const char *call, HRESULT *hr) {
    const hj_value *adapters =
        hj_get(hj_get(hj_get(config, "VirtualMachine"), "Devices"), "NetworkAdapters");
    const hj_value *net = hj_get(hj_get(config, "Container"), "Networking");
    char msg[300];
    for (size_t i = 0; i < hj_count(adapters); i++) {
        const char *ep = hj_str(hj_get(hj_at(adapters, i), "EndpointId"), NULL);
        if (ep && !hc_network_endpoint_exists(ep)) {
            snprintf(msg, sizeof msg,
                     "The network adapter '%s' names the endpoint %s, which does not exist.",
                     hj_key_at(adapters, i), ep);
            *hr = HCSIM_HR(0x803B0002u); /* HCN_E_ENDPOINT_NOT_FOUND */
            return hc_result_error_attributed(*hr, msg, call);
        }
    }
    const hj_value *list = hj_get(net, "NetworkAdapters");
    for (size_t i = 0; i < hj_count(list); i++) {
        const char *ep = hj_str(hj_at(list, i), NULL);
        if (ep && !hc_network_endpoint_exists(ep)) {
            snprintf(msg, sizeof msg,
                     "Networking.NetworkAdapters names the endpoint %s, which does not exist.", ep);
            *hr = HCSIM_HR(0x803B0002u);
            return hc_result_error_attributed(*hr, msg, call);
        }
    }
    const char *ns = hj_str(hj_get(net, "Namespace"), NULL);
    if (ns && *ns && !hc_network_namespace_exists(ns)) {
        snprintf(msg, sizeof msg,
                 "Networking.Namespace names the namespace %s, which does not exist.", ns);
        *hr = HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
        return hc_result_error_attributed(*hr, msg, call);
    }
    return NULL;
}

static hj_value *work_start(hc_work *w, HRESULT *hr) {
    hc_system *s = w->sys;
    hj_value *options = w->raw ? hj_parse_utf16(w->raw) : NULL;
    if (hj_get(options, "DestinationMigrationOptions")) { /* a live migration's destination */
        hj_value *doc = access_denied(s, hr);
        if (!doc) doc = hc_mig_start_destination(w, options, hr);
        hj_free(options);
        return doc;
    }
    hj_free(options);
    hc_lock();
    HRESULT r = state_gate(s, ST(SS_CREATED));
    if (r == S_OK && s->mig) r = HCS_E_INVALID_STATE;
    if (r == S_OK && s->hosting_id) {
        hc_system *host = hc_sys_find(s->ns, s->hosting_id);
        if (!host)
            r = HCS_E_SYSTEM_NOT_FOUND;
        else if (host->state != SS_RUNNING)
            r = HCS_E_INVALID_STATE;
    }
    hj_value *missing = r == S_OK ? network_missing(s->config, "Start", hr) : NULL;
    char *restore = (r == S_OK && !missing) ? hc_strdup(s->restore_path) : NULL;
    hc_unlock();
    if (missing) return missing; /* (the system stays Created) */
    if (FAILED(r)) {
        *hr = r;
        return NULL;
    }
    hj_value *denied = access_denied(s, hr);
    if (denied) {
        free(restore);
        return denied;
    }
    hj_value *saved = NULL;
    if (restore) {
        saved = hc_read_saved_state(restore, &r);
        if (FAILED(r)) {
            char msg[768];
            snprintf(msg, sizeof msg, "The saved state file could not be restored: '%s'.", restore);
            free(restore);
            *hr = r;
            return hc_result_error_attributed(r, msg, "Start");
        }
        free(restore);
    }
    hc_lock();
    r = state_gate(s, ST(SS_CREATED));
    if (r == S_OK) {
        if (saved) {
            uint64_t v;
            if (hj_uint64(hj_get(saved, "MemorySizeInMB"), &v) && v) s->mem_mb = v;
            if (hj_uint64(hj_get(saved, "ProcessorCount"), &v) && v) s->cpu_count = (uint32_t)v;
            const hj_value *os = hj_get(saved, "RuntimeOsType");
            if (os && hj_str(os, NULL)) s->is_linux = !strcmp(hj_str(os, NULL), "Linux");
        }
        hc_sys_set_state(s, SS_RUNNING);
        s->start_ms = plat_now_ms();
        hc_wall_time(s->start_time);
    }
    hc_unlock();
    hj_free(saved);
    *hr = r;
    return NULL;
}

/* Validates an optional options document: NULL is fine, otherwise a JSON object. */
static HRESULT parse_options(hc_work *w) {
    if (!w->raw) return S_OK;
    w->args = hj_parse_utf16(w->raw);
    if (!w->args || hj_typeof(w->args) != HJ_OBJECT) return HCS_E_INVALID_JSON;
    return S_OK;
}

static int str_in(const hj_value *v, const char *const *set) {
    const char *s = hj_str(v, NULL);
    if (!s) return 0;
    for (; *set; set++)
        if (!strcmp(s, *set)) return 1;
    return 0;
}

/* A member of an options document that, when present, must be one of values. */
typedef struct option_rule {
    const char *key;
    const char *const *values;
} option_rule;

/* Shared body of the simple lifecycle calls: optional options (a JSON object, whose
 * members named in rules take one of the listed values, E_INVALIDARG otherwise), then,
 * under the lock, a live system in one of the states `from`, to which apply is done.
 * With needs_guest, a system without a guest HCS can reach is refused with
 * ERROR_NOT_SUPPORTED: a graceful shutdown asks the guest, over the guest connection, to
 * power off, and a VM without one (e.g. one that boots to the firmware) cannot be asked
 * (README, "Strict where Windows is strict"). */
static hj_value *transition(hc_work *w, HRESULT *hr, const option_rule *rules, unsigned from,
                            void (*apply)(hc_work *w), int needs_guest) {
    HRESULT r = parse_options(w);
    for (; r == S_OK && w->args && rules && rules->key; rules++) {
        const hj_value *v = hj_get(w->args, rules->key);
        if (v && !str_in(v, rules->values)) r = E_INVALIDARG;
    }
    int guestless = 0;
    hc_lock();
    if (r == S_OK) r = state_gate(w->sys, from);
    if (r == S_OK && needs_guest && !w->sys->has_guest) {
        r = HC_E_NOT_SUPPORTED;
        guestless = 1;
    }
    if (r == S_OK) apply(w);
    hc_unlock();
    *hr = r;
    if (!guestless) return NULL;
    return hc_result_error_attributed(
        r, "The virtual machine has no guest connection: its guest cannot be asked to shut down.",
        "Shutdown");
}

static void apply_shutdown(hc_work *w) {
    hc_sys_exit(w->sys, w->op, "GracefulExit", S_OK, "Shutdown", "Client", 0);
}

static hj_value *work_shutdown(hc_work *w, HRESULT *hr) {
    static const char *const types[] = {"Shutdown", "Hibernate", "Reboot", NULL};
    static const char *const mech[] = {"GuestConnection", "IntegrationService", NULL};
    static const option_rule rules[] = {{"Type", types}, {"Mechanism", mech}, {NULL, NULL}};
    return transition(w, hr, rules, ST(SS_RUNNING), apply_shutdown, 1);
}

static void apply_terminate(hc_work *w) {
    hc_sys_exit(w->sys, w->op, "ForcedExit", S_OK, "Terminate", "Client", 0);
}

static hj_value *work_terminate(hc_work *w, HRESULT *hr) {
    return transition(w, hr, NULL, ST_LIVE, apply_terminate, 0);
}

static hj_value *crash_report(hc_system *s, int final) {
    hj_value *c = hj_new_object();
    char act[37];
    plat_new_guid(act);
    hj_set(c, "SystemId", hj_new_string(s->id));
    hj_set(c, "ActivityId", hj_new_string(act));
    hj_value *p = hj_new_array();
    hj_push(p, hj_new_uint(0x80)); /* NMI_HARDWARE_FAILURE: the crash was an injected NMI */
    hj_push(p, hj_new_uint(0x004F4454));
    hj_push(p, hj_new_uint(0));
    hj_push(p, hj_new_uint(0));
    hj_push(p, hj_new_uint(0));
    hj_set(c, "CrashParameters", p);
    if (final) {
        static const char *const gcr[] = {"VirtualMachine", "Devices", "GuestCrashReporting", NULL};
        if (s->is_linux) {
            hj_set(c, "CrashLog",
                   hj_new_string("hcsim: kernel panic - not syncing: NMI received (emulated)"));
        } else if (json_path(s->config, gcr)) {
            hj_value *wci = hj_new_object();
            hj_set(wci, "DumpFile", hj_new_string(""));
            hj_set(wci, "OsMajorVersion", hj_new_uint(10));
            hj_set(wci, "OsMinorVersion", hj_new_uint(0));
            hj_set(wci, "OsBuildNumber", hj_new_uint(20348));
            hj_set(wci, "OsServicePackMajorVersion", hj_new_uint(0));
            hj_set(wci, "OsServicePackMinorVersion", hj_new_uint(0));
            hj_set(wci, "OsSuiteMask", hj_new_uint(272));
            hj_set(wci, "OsProductType", hj_new_uint(3));
            hj_set(wci, "Status", hj_new_int(0));
            hj_set(wci, "FinalPhase", hj_new_string("Inactive"));
            hj_set(c, "WindowsCrashInfo", wci);
        }
    }
    hj_set(c, "Status", hj_new_int(0));
    hj_set(c, "PreOSId", hj_new_uint(0));
    hj_set(c, "CrashStackUnavailable", hj_new_bool(0));
    return c;
}

static void apply_crash(hc_work *w) {
    hc_system *s = w->sys;
    hj_value *c1 = crash_report(s, 0), *c2 = crash_report(s, 1);
    hc_event_list_json(s->handles, HcsEventSystemCrashInitiated, c1);
    hc_event_list_json(s->handles, HcsEventSystemCrashReport, c2);
    hj_free(c1);
    hj_free(c2);
    hc_sys_exit(s, w->op, "UnexpectedExit", HCS_E_UNEXPECTED_EXIT, "UnexpectedExit", "GuestOS", 0);
}

static hj_value *work_crash(hc_work *w, HRESULT *hr) {
    static const char *const types[] = {"CrashGuest", NULL};
    static const option_rule rules[] = {{"Type", types}, {NULL, NULL}};
    return transition(w, hr, rules, ST(SS_RUNNING), apply_crash, 0);
}

static void apply_pause(hc_work *w) {
    hc_sys_set_state(w->sys, SS_PAUSED);
    hc_proc_kill_all(w->sys, PLAT_SIGSTOP);
}

static hj_value *work_pause(hc_work *w, HRESULT *hr) {
    static const char *const levels[] = {"Suspend", "MemoryLow", "MemoryMedium", "MemoryHigh",
                                         NULL};
    static const option_rule rules[] = {{"SuspensionLevel", levels}, {NULL, NULL}};
    return transition(w, hr, rules, ST(SS_RUNNING), apply_pause, 0);
}

static void apply_resume(hc_work *w) {
    hc_sys_set_state(w->sys, SS_RUNNING);
    hc_proc_kill_all(w->sys, PLAT_SIGCONT);
}

static hj_value *work_resume(hc_work *w, HRESULT *hr) {
    return transition(w, hr, NULL, ST(SS_PAUSED), apply_resume, 0);
}

static hj_value *work_save(hc_work *w, HRESULT *hr) {
    HRESULT r = S_OK;
    const char *msg = NULL;
    if (!w->raw) {
        r = E_INVALIDARG;
        msg = "SaveOptions are required.";
    } else if ((r = parse_options(w)) != S_OK) {
        msg = "SaveOptions are not a JSON object.";
    }
    int as_template = 0;
    const char *path = NULL;
    if (r == S_OK) {
        const hj_value *t = hj_get(w->args, "SaveType"), *p = hj_get(w->args, "SaveStateFilePath");
        const char *ts = t ? hj_str(t, NULL) : "ToFile";
        if (!ts || (strcmp(ts, "ToFile") && strcmp(ts, "AsTemplate"))) {
            r = E_INVALIDARG;
            msg = "SaveType must be ToFile or AsTemplate.";
        } else if (p && !hj_str(p, NULL)) {
            r = HCS_E_INVALID_JSON;
            msg = "SaveStateFilePath must be a string.";
        } else {
            as_template = !strcmp(ts, "AsTemplate");
            path = hj_str(p, NULL);
            if (path && !*path) path = NULL;
            if (!as_template && !path) {
                r = E_INVALIDARG;
                msg = "SaveType ToFile needs SaveStateFilePath.";
            }
        }
    }
    hc_lock();
    hc_system *s = w->sys;
    if (r == S_OK) r = state_gate(s, ST(SS_PAUSED));
    hj_value *doc = NULL;
    if (r == S_OK && path) doc = save_state_doc(s);
    hc_unlock();
    if (FAILED(r)) {
        *hr = r;
        return msg ? hc_result_error(r, msg) : NULL;
    }
    if (doc) {
        size_t len = 0;
        char *text = hj_serialize(doc, &len);
        hj_free(doc);
        int e = text ? plat_write_file(path, text, len) : 12;
        free(text);
        if (e) {
            *hr = hc_hr_from_errno(e);
            return hc_result_error(*hr, "The saved state file could not be written.");
        }
    }
    if (as_template) {
        hc_lock();
        r = state_gate(s, ST(SS_PAUSED));
        if (r == S_OK) hc_sys_set_state(s, SS_TEMPLATE);
        hc_unlock();
    }
    *hr = r;
    return NULL;
}

static hj_value *work_properties(hc_work *w, HRESULT *hr) {
    const hj_value *types = NULL;
    if (w->raw) {
        w->args = hj_parse_utf16(w->raw);
        if (!w->args || hj_typeof(w->args) != HJ_OBJECT) {
            *hr = HCS_E_INVALID_JSON;
            return hc_result_error(*hr, "The property query is not a JSON object.");
        }
        types = hj_get(w->args, "PropertyTypes");
        if (types && hj_typeof(types) != HJ_ARRAY && hj_typeof(types) != HJ_NULL) {
            *hr = HCS_E_INVALID_JSON;
            return hc_result_error(*hr, "PropertyTypes must be an array.");
        }
        for (size_t i = 0; i < hj_count(types); i++) {
            const char *t = hj_str(hj_at(types, i), NULL);
            int known = 0;
            for (size_t k = 0; t && k < sizeof prop_types / sizeof *prop_types; k++)
                if (!strcmp(t, prop_types[k])) known = 1;
            if (!known) {
                *hr = HCS_E_INVALID_JSON;
                return hc_result_error(*hr, "Unknown property type in PropertyTypes.");
            }
        }
    }
    hc_lock();
    hc_system *s = w->sys;
    if (s->state == SS_FAILED || s->state == SS_CREATING) {
        hc_unlock();
        *hr = HCS_E_SYSTEM_NOT_FOUND;
        return NULL;
    }
    hj_value *o = hc_sys_properties(s, 0);
    for (size_t i = 0; i < hj_count(types); i++) add_property(o, s, hj_str(hj_at(types, i), NULL));
    hc_unlock();
    *hr = S_OK;
    return o;
}

/* ---- modify ------------------------------------------------------------------------------ */
enum { RT_ADD = 1, RT_REMOVE = 2, RT_UPDATE = 4, RT_ANY = 7 };
enum { SET_OBJECT, SET_INTEGER, SET_EMPTY, SET_ANY };

typedef struct modify_rule {
    const char *pattern; /* '*' matches one path segment */
    int allowed;
    int settings;
} modify_rule;

static const modify_rule modify_rules[] = {
    {"VirtualMachine/ComputeTopology/Processor/CpuGroup", RT_ANY, SET_OBJECT},
    {"VirtualMachine/ComputeTopology/Processor/IdledProcessors", RT_UPDATE, SET_OBJECT},
    {"VirtualMachine/ComputeTopology/Processor/CpuFrequencyPowerCap", RT_ANY, SET_INTEGER},
    {"VirtualMachine/Devices/FlexibleIov/*", RT_ADD, SET_OBJECT},
    {"VirtualMachine/ComputeTopology/Gpu", RT_UPDATE, SET_OBJECT},
    {"VirtualMachine/Devices/MappedPipes/*", RT_ADD | RT_REMOVE, SET_EMPTY},
    {"VirtualMachine/ComputeTopology/Memory/SizeInMB", RT_ANY, SET_INTEGER},
    {"VirtualMachine/Devices/NetworkAdapters/*", RT_ANY, SET_OBJECT},
    {"VirtualMachine/Devices/Plan9/Shares", RT_ANY, SET_OBJECT},
    {"VirtualMachine/Devices/Scsi/*/Attachments/*", RT_ANY, SET_OBJECT},
    {"VirtualMachine/Devices/ComPorts/*", RT_ANY, SET_OBJECT},
    {"VirtualMachine/Devices/SharedMemory/Regions", RT_ANY, SET_OBJECT},
    {"VirtualMachine/Devices/VirtualPMem/Devices/*", RT_ADD | RT_REMOVE, SET_OBJECT},
    {"VirtualMachine/Devices/VirtualPMem/Devices/*/Mappings/*", RT_ADD | RT_REMOVE, SET_OBJECT},
    {"VirtualMachine/Devices/VirtualSmb/Shares", RT_ANY, SET_OBJECT},
    {"VirtualMachine/Devices/VirtualPci/*", RT_ADD | RT_REMOVE, SET_OBJECT},
};

static int path_match(const char *pattern, const char *path) {
    while (*pattern && *path) {
        if (*pattern == '*') {
            const char *seg = path;
            while (*path && *path != '/') path++;
            if (path == seg) return 0;
            pattern++;
        } else if (*pattern == *path) {
            pattern++;
            path++;
        } else {
            return 0;
        }
    }
    return !*pattern && !*path;
}

/* Records the change in the configuration document under the resource path. */
static void config_apply(hj_value *cfg, const char *path, int rt, const hj_value *settings) {
    char buf[512];
    if (!cfg || strlen(path) >= sizeof buf) return;
    strcpy(buf, path);
    hj_value *cur = cfg;
    char *save = NULL;
    char *seg = strtok_r(buf, "/", &save);
    while (seg) {
        char *next = strtok_r(NULL, "/", &save);
        if (!next) {
            if (rt == RT_REMOVE)
                hj_remove(cur, seg);
            else
                hj_set(cur, seg, settings ? hj_clone(settings) : hj_new_object());
            return;
        }
        hj_value *child = (hj_value *)hj_get(cur, seg);
        if (!child || hj_typeof(child) != HJ_OBJECT) {
            if (rt == RT_REMOVE) return;
            child = hj_new_object();
            if (hj_set(cur, seg, child) != 0) return;
        }
        cur = child;
        seg = next;
    }
}

static hj_value *work_modify(hc_work *w, HRESULT *hr) {
    const char *msg = NULL;
    HRESULT r = S_OK;
    if (!w->raw) {
        r = E_INVALIDARG;
        msg = "A ModifySettingRequest is required.";
    } else if (parse_options(w) != S_OK) {
        r = HCS_E_INVALID_JSON;
        msg = "The ModifySettingRequest is not a JSON object.";
    }
    const hj_value *rp = hj_get(w->args, "ResourcePath"), *rtv = hj_get(w->args, "RequestType");
    const hj_value *settings = hj_get(w->args, "Settings"),
                   *guest = hj_get(w->args, "GuestRequest");
    int rt = RT_ADD;
    const char *path = NULL;
    if (r == S_OK) {
        if (rtv) {
            const char *t = hj_str(rtv, NULL);
            if (t && !strcmp(t, "Add"))
                rt = RT_ADD;
            else if (t && !strcmp(t, "Remove"))
                rt = RT_REMOVE;
            else if (t && !strcmp(t, "Update"))
                rt = RT_UPDATE;
            else {
                r = E_INVALIDARG;
                msg = "RequestType must be Add, Remove or Update.";
            }
        }
        if (r == S_OK && rp && !(path = hj_str(rp, NULL))) {
            r = HCS_E_INVALID_JSON;
            msg = "ResourcePath must be a string.";
        }
        if (r == S_OK && !path && !guest) {
            r = E_INVALIDARG;
            msg = "The request names neither a ResourcePath nor a GuestRequest.";
        }
    }
    /* A disk hot-added to a VM must exist, as at create (README, "Strict where Windows
     * is strict"). */
    if (r == S_OK && path && rt == RT_ADD &&
        path_match("VirtualMachine/Devices/Scsi/*/Attachments/*", path)) {
        HRESULT fr = S_OK;
        const char *missing = missing_attachment(settings, &fr);
        if (missing) {
            *hr = fr;
            return missing_file_error(fr, "The disk could not be attached", missing, "Modify");
        }
        hj_value *denied = hot_add_denied(w->sys, settings, hr);
        if (denied) return denied;
    }
    hc_lock();
    hc_system *s = w->sys;
    /* A network adapter hot-added names an endpoint that exists (README "Host Compute
     * Network"). */
    if (r == S_OK && path && rt == RT_ADD && s->is_vm &&
        path_match("VirtualMachine/Devices/NetworkAdapters/*", path)) {
        const char *ep = hj_str(hj_get(settings, "EndpointId"), NULL);
        if (ep && !hc_network_endpoint_exists(ep)) {
            char text[200];
            snprintf(text, sizeof text,
                     "The network adapter could not be added: the endpoint %s does not exist.", ep);
            hc_unlock();
            *hr = HCSIM_HR(0x803B0002u); /* HCN_E_ENDPOINT_NOT_FOUND */
            return hc_result_error_attributed(*hr, text, "Modify");
        }
    }
    const modify_rule *rule = NULL;
    if (r == S_OK && path) {
        if (s->is_vm) {
            for (size_t i = 0; i < sizeof modify_rules / sizeof *modify_rules; i++)
                if (path_match(modify_rules[i].pattern, path)) rule = &modify_rules[i];
            if (!rule) {
                r = E_INVALIDARG;
                msg = "Unknown ResourcePath.";
            }
        } else if (strncmp(path, "Container/", 10) != 0) {
            r = E_INVALIDARG;
            msg = "A container's ResourcePath must start with Container/.";
        }
    }
    if (r == S_OK && rule) {
        if (!(rule->allowed & rt)) {
            r = E_INVALIDARG;
            msg = "RequestType not allowed for this ResourcePath.";
        } else if (rt != RT_REMOVE) {
            int64_t n;
            if (rule->settings == SET_INTEGER && !(settings && hj_int64(settings, &n) && n >= 0)) {
                r = HCS_E_INVALID_JSON;
                msg = "Settings must be a non-negative integer for this ResourcePath.";
            } else if (rule->settings == SET_OBJECT &&
                       (!settings || hj_typeof(settings) != HJ_OBJECT)) {
                r = HCS_E_INVALID_JSON;
                msg = "Settings must be an object for this ResourcePath.";
            } else if (rule->settings == SET_EMPTY && settings && hj_typeof(settings) != HJ_NULL &&
                       !(hj_typeof(settings) == HJ_OBJECT && hj_count(settings) == 0)) {
                r = E_INVALIDARG;
                msg = "Settings must be empty for this ResourcePath.";
            }
        }
    }
    if (r == S_OK) r = state_gate(s, ST(SS_CREATED) | ST(SS_RUNNING));
    if (r == S_OK && path) {
        if (!strcmp(path, "VirtualMachine/ComputeTopology/Memory/SizeInMB") && rt != RT_REMOVE) {
            uint64_t mb = 0;
            hj_uint64(settings, &mb);
            if (mb == 0) {
                r = E_INVALIDARG;
                msg = "The memory size must be positive.";
            } else {
                s->mem_mb = mb;
            }
        }
        if (r == S_OK) config_apply(s->config, path, rt, settings);
    }
    hc_unlock();
    *hr = r;
    return FAILED(r) && msg ? hc_result_error(r, msg) : NULL;
}

static hj_value *work_enumerate(hc_work *w, HRESULT *hr) {
    static const char *const fields[] = {"Ids", "Names", "Types", "Owners"};
    if (w->raw) {
        w->args = hj_parse_utf16(w->raw);
        if (!w->args || hj_typeof(w->args) != HJ_OBJECT) {
            *hr = HCS_E_INVALID_JSON;
            return hc_result_error(*hr, "The query is not a JSON object.");
        }
        for (int f = 0; f < 4; f++) {
            const hj_value *l = hj_get(w->args, fields[f]);
            if (!l || hj_typeof(l) == HJ_NULL) continue;
            int ok = hj_typeof(l) == HJ_ARRAY;
            for (size_t i = 0; ok && i < hj_count(l); i++) ok = hj_str(hj_at(l, i), NULL) != NULL;
            if (!ok) {
                *hr = HCS_E_INVALID_JSON;
                return hc_result_error(*hr, "SystemQuery lists must be arrays of strings.");
            }
        }
    }
    hj_value *arr = hj_new_array();
    hc_lock();
    for (hc_system *s = G.table; s; s = s->tnext) {
        if (strcmp(s->ns, w->s1 ? w->s1 : "")) continue;
        const char *vals[4] = {s->id, s->id, s->is_vm ? "VirtualMachine" : "Container", s->owner};
        int match = 1;
        for (int f = 0; match && f < 4; f++) {
            const hj_value *l = hj_get(w->args, fields[f]);
            if (!l || hj_count(l) == 0) continue;
            int any = 0;
            for (size_t i = 0; !any && i < hj_count(l); i++)
                any = vals[f] && !strcmp(hj_str(hj_at(l, i), NULL), vals[f]);
            match = any;
        }
        if (match) hj_push(arr, hc_sys_properties(s, 1));
    }
    hc_unlock();
    *hr = S_OK;
    return arr;
}

/* ---- exports ------------------------------------------------------------------------------ */
static HRESULT enumerate_common(fn_id fn, PCWSTR ns, PCWSTR query, HCS_OPERATION operation) {
    hc_call call;
    HRESULT hr = hc_enter(fn, &call);
    if (hr != S_OK) return hr;
    char *ns8 = ns ? hc_u8(ns) : NULL;
    if (ns && !ns8) return E_INVALIDARG;
    query = hc_opt(query);
    hc_lock();
    hc_op *op = hc_reg_get(operation, K_OP);
    hr = hc_op_check(op, NULL);
    hc_work *w = NULL;
    if (hr == S_OK && !(w = hc_work_new(work_enumerate, NULL, NULL, NULL))) hr = E_OUTOFMEMORY;
    if (w)
        w->s1 = ns8;
    else
        free(ns8);
    if (hr == S_OK && query && !(w->raw = aiohcs_utf16_dup(query, NULL))) hr = E_OUTOFMEMORY;
    if (hr == S_OK)
        hc_op_begin(op, HcsOperationTypeEnumerate, &call, w);
    else
        hc_work_free(w);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcsEnumerateComputeSystems(PCWSTR query, HCS_OPERATION operation) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsEnumerateComputeSystems, query, (const void *)operation);
    return enumerate_common(FN_HcsEnumerateComputeSystems, NULL, query, operation);
}

HRESULT WINAPI HcsEnumerateComputeSystemsInNamespace(PCWSTR idNamespace, PCWSTR query,
                                                     HCS_OPERATION operation) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsEnumerateComputeSystemsInNamespace, idNamespace, query,
                              (const void *)operation);
    return enumerate_common(FN_HcsEnumerateComputeSystemsInNamespace, idNamespace, query,
                            operation);
}

static hc_sysh *sysh_new(hc_system *s) { /* under lock */
    hc_sysh *h = hc_evh_new(sizeof *h, K_SYSH, &s->handles, &G.counts.SystemHandles);
    if (h) {
        h->sys = s;
        hc_ref(s);
    }
    return h;
}

static void abandon_create(hc_work *w) {
    if (w->sys->state == SS_CREATING) {
        w->sys->state = SS_FAILED;
        plat_cond_broadcast(&G.exit_cond);
    }
}

static HRESULT create_common(fn_id fn, PCWSTR ns, PCWSTR id, PCWSTR configuration,
                             HCS_OPERATION operation, const HCS_CREATE_OPTIONS_1 *opts,
                             const SECURITY_DESCRIPTOR *sd, HCS_SYSTEM *out) {
    if (out) *out = NULL;
    if (hc_remote_active() && fn == FN_HcsCreateComputeSystem)
        return sd ? E_INVALIDARG
                  : hc_remote_call(fn, id, configuration, (const void *)operation, (void *)out);
    if (hc_remote_active())
        return hc_remote_call(
            fn, ns, id, configuration, (const void *)operation, (uint32_t)(opts && opts->Callback),
            opts ? (uint32_t)opts->CallbackOptions : 0u, (void *)out, (const void *)opts);
    hc_call call;
    HRESULT hr = hc_enter(fn, &call);
    if (hr != S_OK) return hr;
    if (!id || !configuration || !out || sd) return E_INVALIDARG;
    if (opts && (opts->Version != HcsCreateOptions_1 ||
                 !hc_event_options_valid((uint32_t)opts->CallbackOptions)))
        return E_INVALIDARG;
    char *id8 = hc_u8(id), *ns8 = hc_strdup("");
    if (ns) {
        free(ns8);
        ns8 = hc_u8(ns);
    }
    char16_t *raw = aiohcs_utf16_dup(configuration, NULL);
    if (!id8 || !*id8 || !ns8 || !raw) {
        free(id8);
        free(ns8);
        free(raw);
        return E_INVALIDARG;
    }
    hc_lock();
    hc_op *op = hc_reg_get(operation, K_OP);
    hr = hc_op_check(op, NULL);
    if (hr == S_OK && op->cb && opts && opts->Callback &&
        (opts->CallbackOptions & HcsEventOptionEnableOperationCallbacks))
        hr = HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    hc_system *s = NULL;
    hc_sysh *h = NULL;
    hc_work *w = NULL;
    if (hr == S_OK) {
        s = hc_obj_new(sizeof *s, K_SYSTEM);
        if (!s) hr = E_OUTOFMEMORY;
    }
    if (hr == S_OK) {
        hc_strand_init(&s->work, &s->hdr);
        s->ns = ns8;
        s->id = id8;
        ns8 = id8 = NULL;
        s->state = SS_CREATING;
        h = sysh_new(s);
        if (!h) hr = E_OUTOFMEMORY;
    }
    if (hr == S_OK && !(w = hc_work_new(work_create, s, h, NULL))) hr = E_OUTOFMEMORY;
    if (hr == S_OK) w->abandon = abandon_create;
    if (hr != S_OK) {
        if (h) {
            hc_evh_unlink(&h->ev);
            hc_evh_release(&h->ev);
        }
        hc_unref(s);
        hc_unlock();
        free(id8);
        free(ns8);
        free(raw);
        return hr;
    }
    if (opts && opts->Callback) {
        h->ev.cb = opts->Callback;
        h->ev.ctx = opts->CallbackContext;
        h->ev.opts = (uint32_t)opts->CallbackOptions;
        h->ev.cb_set = 1;
    }
    w->raw = raw;
    hc_op_begin(op, HcsOperationTypeCreate, &call, w);
    hc_unref(s); /* the handle, the work and (later) the table keep it */
    *out = (HCS_SYSTEM)HC_HANDLE(h);
    hc_unlock();
    return S_OK;
}

HRESULT WINAPI HcsCreateComputeSystem(PCWSTR id, PCWSTR configuration, HCS_OPERATION operation,
                                      const SECURITY_DESCRIPTOR *securityDescriptor,
                                      HCS_SYSTEM *computeSystem) {
    return create_common(FN_HcsCreateComputeSystem, NULL, id, configuration, operation, NULL,
                         securityDescriptor, computeSystem);
}

HRESULT WINAPI HcsCreateComputeSystemInNamespace(PCWSTR idNamespace, PCWSTR id,
                                                 PCWSTR configuration, HCS_OPERATION operation,
                                                 const HCS_CREATE_OPTIONS *options,
                                                 HCS_SYSTEM *computeSystem) {
    return create_common(FN_HcsCreateComputeSystemInNamespace, idNamespace, id, configuration,
                         operation, (const HCS_CREATE_OPTIONS_1 *)(const void *)options, NULL,
                         computeSystem);
}

static HRESULT open_common(fn_id fn, PCWSTR ns, PCWSTR id, DWORD access, HCS_SYSTEM *out) {
    if (out) *out = NULL;
    if (hc_remote_active() && fn == FN_HcsOpenComputeSystem)
        return hc_remote_call(fn, id, (uint32_t)access, (void *)out);
    if (hc_remote_active()) return hc_remote_call(fn, ns, id, (uint32_t)access, (void *)out);
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    if (!id || !out) return E_INVALIDARG;
    char *id8 = hc_u8(id), *ns8 = ns ? hc_u8(ns) : NULL;
    if (!id8 || (ns && !ns8)) {
        free(id8);
        free(ns8);
        return E_INVALIDARG;
    }
    hc_lock();
    hc_system *s = hc_sys_find(ns8, id8);
    hc_sysh *h = NULL;
    if (!s)
        hr = HCS_E_SYSTEM_NOT_FOUND;
    else if (!(h = sysh_new(s)))
        hr = E_OUTOFMEMORY;
    else
        *out = (HCS_SYSTEM)HC_HANDLE(h);
    hc_unlock();
    free(id8);
    free(ns8);
    return hr;
}

HRESULT WINAPI HcsOpenComputeSystem(PCWSTR id, DWORD requestedAccess, HCS_SYSTEM *computeSystem) {
    return open_common(FN_HcsOpenComputeSystem, NULL, id, requestedAccess, computeSystem);
}

HRESULT WINAPI HcsOpenComputeSystemInNamespace(PCWSTR idNamespace, PCWSTR id, DWORD requestedAccess,
                                               HCS_SYSTEM *computeSystem) {
    return open_common(FN_HcsOpenComputeSystemInNamespace, idNamespace, id, requestedAccess,
                       computeSystem);
}

/* The last handle of a ShouldTerminateOnLastHandleClosed system is gone. */
static void terminate_on_last_close(hc_evh *h) {
    hc_system *s = ((hc_sysh *)h)->sys;
    if (!s->handles && s->terminate_on_close && s->in_table)
        hc_sys_exit(s, NULL, "ForcedExit", S_OK, "Terminate", "Client", 0);
}

void WINAPI HcsCloseComputeSystem(HCS_SYSTEM computeSystem) {
    if (hc_remote_active()) {
        hc_remote_close(FN_HcsCloseComputeSystem, computeSystem, K_SYSH);
        return;
    }
    hc_evh_close(FN_HcsCloseComputeSystem, computeSystem, K_SYSH, terminate_on_last_close);
}

#define SYSTEM_CALL(name, type, work) HC_OP_EXPORT(name, HCS_SYSTEM, K_SYSH, type, work)
SYSTEM_CALL(HcsStartComputeSystem, HcsOperationTypeStart, work_start)
SYSTEM_CALL(HcsShutDownComputeSystem, HcsOperationTypeShutdown, work_shutdown)
SYSTEM_CALL(HcsTerminateComputeSystem, HcsOperationTypeTerminate, work_terminate)
SYSTEM_CALL(HcsCrashComputeSystem, HcsOperationTypeCrash, work_crash)
SYSTEM_CALL(HcsPauseComputeSystem, HcsOperationTypePause, work_pause)
SYSTEM_CALL(HcsResumeComputeSystem, HcsOperationTypeResume, work_resume)
SYSTEM_CALL(HcsSaveComputeSystem, HcsOperationTypeSave, work_save)
SYSTEM_CALL(HcsGetComputeSystemProperties, HcsOperationTypeGetProperties, work_properties)

HRESULT WINAPI HcsModifyComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                      PCWSTR configuration, HANDLE identity) {
    (void)identity;
    return hc_op_call(FN_HcsModifyComputeSystem, HcsOperationTypeModify, work_modify, K_SYSH,
                      computeSystem, operation, configuration);
}

static HRESULT system_exited(hc_evh *h, PWSTR *result) {
    hc_system *s = ((hc_sysh *)h)->sys;
    if (s->state == SS_FAILED) return HCS_E_SYSTEM_NOT_FOUND;
    if (s->state != SS_STOPPED) return S_FALSE;
    if (result) *result = hc_doc_from_json(s->exit_status);
    return S_OK;
}

HRESULT WINAPI HcsWaitForComputeSystemExit(HCS_SYSTEM computeSystem, DWORD timeoutMs,
                                           PWSTR *result) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsWaitForComputeSystemExit, (const void *)computeSystem,
                              (uint32_t)timeoutMs, (void *)result);
    return hc_evh_wait_exit(FN_HcsWaitForComputeSystemExit, computeSystem, K_SYSH, timeoutMs,
                            result, system_exited);
}

/* A registration after the exit gets SystemExited once (see README, "late registration"). */
static hj_value *system_terminal(hc_evh *h, HCS_EVENT_TYPE *type) {
    hc_system *s = ((hc_sysh *)h)->sys;
    if (s->state != SS_STOPPED || !s->exit_status) return NULL;
    *type = HcsEventSystemExited;
    return hj_clone(s->exit_status);
}

HRESULT WINAPI HcsSetComputeSystemCallback(HCS_SYSTEM computeSystem,
                                           HCS_EVENT_OPTIONS callbackOptions, const void *context,
                                           HCS_EVENT_CALLBACK callback) {
    if (hc_remote_active())
        return hc_remote_set_callback(FN_HcsSetComputeSystemCallback, computeSystem, K_SYSH,
                                      callbackOptions, context, callback);
    return hc_evh_set_callback(FN_HcsSetComputeSystemCallback, computeSystem, K_SYSH,
                               callbackOptions, context, callback, system_terminal);
}

/* Used by HcsimReset: every system ends, the table empties. */
void hc_sys_reset_all(void) {
    while (G.table) {
        hc_system *s = G.table;
        if (s->state == SS_STOPPED)
            table_del(s);
        else
            hc_sys_exit(s, NULL, "ForcedExit", S_OK, "Terminate", "Internal", 0);
    }
}
