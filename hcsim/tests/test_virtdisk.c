/* hcsim's virtdisk (src/virtdisk.c): virtual disk handles over VHDX files, attachment
 * bookkeeping, and computestorage's VHD calls on them. */
#include "test_core_util.h"
#include "test_port.h"
#include "vhdx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifndef _WIN32
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#endif

/* Windows runs these calls through tests/test_vhd.py under Wine (real HANDLEs closed with
 * kernel32's CloseHandle); these C tests use POSIX paths and hcsim's POSIX CloseHandle. */
#define POSIX_PATHS                                                                         \
    "POSIX paths and hcsim's POSIX CloseHandle (on Windows virtdisk takes drive paths and " \
    "the caller closes with kernel32: tests/test_vhd.py under Wine)"
#define ERROR_PATH_NOT_FOUND      3u
#define ERROR_SHARING_VIOLATION   32u
#define ERROR_FILE_TOO_LARGE      223u
#define ERROR_NOT_SUPPORTED       50u
#define ERROR_FILE_EXISTS         80u
#define ERROR_INSUFFICIENT_BUFFER 122u
#define ERROR_VHD_INVALID_STATE   0xC03A001Cu
#define ERROR_PROVIDER_NOT_FOUND  0xC03A0014u

static VIRTUAL_STORAGE_TYPE vhdx_type(void) {
    VIRTUAL_STORAGE_TYPE t;
    memset(&t, 0, sizeof t);
    t.DeviceId = VIRTUAL_STORAGE_TYPE_DEVICE_VHDX;
    t.VendorId.Data1 = 0xEC984AECu;
    t.VendorId.Data2 = 0xA0F9;
    t.VendorId.Data3 = 0x47e9;
    const uint8_t d4[8] = {0x90, 0x1F, 0x71, 0x41, 0x5A, 0x66, 0x34, 0x5B};
    memcpy(t.VendorId.Data4, d4, 8);
    return t;
}

static DWORD create(const char *path, uint64_t size, int fixed, HANDLE *h) {
    VIRTUAL_STORAGE_TYPE t = vhdx_type();
    CREATE_VIRTUAL_DISK_PARAMETERS p = {.Version = CREATE_VIRTUAL_DISK_VERSION_2,
                                        .Version2 = {.MaximumSize = size}};
    char16_t *w = tc_w(path);
    DWORD e = CreateVirtualDisk(&t, w, VIRTUAL_DISK_ACCESS_NONE, NULL,
                                fixed ? CREATE_VIRTUAL_DISK_FLAG_FULL_PHYSICAL_ALLOCATION
                                      : CREATE_VIRTUAL_DISK_FLAG_NONE,
                                0, &p, NULL, h);
    free(w);
    return e;
}

static DWORD open_disk(const char *path, int read_only, HANDLE *h) {
    VIRTUAL_STORAGE_TYPE t = vhdx_type();
    OPEN_VIRTUAL_DISK_PARAMETERS p = {.Version = OPEN_VIRTUAL_DISK_VERSION_2,
                                      .Version2 = {.ReadOnly = read_only}};
    char16_t *w = tc_w(path);
    DWORD e = OpenVirtualDisk(&t, w, VIRTUAL_DISK_ACCESS_NONE, OPEN_VIRTUAL_DISK_FLAG_NONE, &p, h);
    free(w);
    return e;
}

static uint64_t virtual_size(HANDLE h) {
    GET_VIRTUAL_DISK_INFO info;
    memset(&info, 0, sizeof info);
    info.Version = GET_VIRTUAL_DISK_INFO_SIZE;
    ULONG size = sizeof info, used = 0;
    if (GetVirtualDiskInformation(h, &size, &info, &used) != 0) return 0;
    return info.Size.VirtualSize;
}

static int physical_path(HANDLE h, char *out, size_t cap) {
    WCHAR buf[64];
    ULONG bytes = sizeof buf;
    DWORD e = GetVirtualDiskPhysicalPath(h, &bytes, buf);
    if (e) return (int)e;
    size_t i = 0;
    for (; buf[i] && i + 1 < cap; i++) out[i] = (char)buf[i];
    out[i] = 0;
    return 0;
}

/* A test's files: a new temporary directory and the paths of two files in it. */
typedef struct {
    char dir[sizeof "/tmp/hcsim-vd-XXXXXX"];
    char a[128], b[128];
} vd_files;

/* Reset hcsim and make f's directory, with the files a and b named so (b may be NULL). */
static int vd_begin(vd_files *f, const char *a, const char *b) {
    HcsimReset();
    memcpy(f->dir, "/tmp/hcsim-vd-XXXXXX", sizeof f->dir);
    if (!tp_mkdtemp(f->dir)) return 0;
    snprintf(f->a, sizeof f->a, "%s/%s", f->dir, a);
    snprintf(f->b, sizeof f->b, "%s/%s", f->dir, b ? b : "(none)");
    return 1;
}

TEST(virtdisk_create_open_attach_detach) {
    TP_POSIX_ONLY(POSIX_PATHS);
    vd_files files;
    REQUIRE(vd_begin(&files, "a.vhdx", "b.vhdx"));
    const char *path = files.a, *other = files.b;
    HANDLE h = NULL, h2 = NULL, h3 = NULL;
    CHECK(create(path, 64u << 20, 0, &h) == 0 && h != NULL);
    CHECK(virtual_size(h) == 64u << 20);
    CHECK(create(path, 64u << 20, 0, &h2) == ERROR_FILE_EXISTS && h2 == NULL);
    char pp[64];
    CHECK(physical_path(h, pp, sizeof pp) == (int)ERROR_VHD_INVALID_STATE);
    CHECK(DetachVirtualDisk(h, DETACH_VIRTUAL_DISK_FLAG_NONE, 0) == ERROR_VHD_INVALID_STATE);
    CHECK(AttachVirtualDisk(h, NULL, ATTACH_VIRTUAL_DISK_FLAG_NO_DRIVE_LETTER, 0, NULL, NULL) == 0);
    CHECK(physical_path(h, pp, sizeof pp) == 0 && strcmp(pp, "\\\\.\\PhysicalDrive1") == 0);
    /* a too small buffer: the size needed */
    WCHAR small[4];
    ULONG bytes = sizeof small;
    CHECK(GetVirtualDiskPhysicalPath(h, &bytes, small) == ERROR_INSUFFICIENT_BUFFER);
    CHECK(bytes == (strlen("\\\\.\\PhysicalDrive1") + 1) * sizeof(WCHAR));
    /* the attachment is the file's: a second handle cannot attach it again */
    CHECK(open_disk(path, 0, &h2) == 0);
    CHECK(AttachVirtualDisk(h2, NULL, ATTACH_VIRTUAL_DISK_FLAG_NONE, 0, NULL, NULL) ==
          ERROR_SHARING_VIOLATION);
    CHECK(physical_path(h2, pp, sizeof pp) == 0 && strcmp(pp, "\\\\.\\PhysicalDrive1") == 0);
    /* another disk gets the next number */
    CHECK(create(other, 3u << 20, 1, &h3) == 0);
    CHECK(AttachVirtualDisk(h3, NULL, ATTACH_VIRTUAL_DISK_FLAG_READ_ONLY, 0, NULL, NULL) == 0);
    CHECK(physical_path(h3, pp, sizeof pp) == 0 && strcmp(pp, "\\\\.\\PhysicalDrive2") == 0);
    /* detached through the other handle; closing the attaching handle detaches too */
    CHECK(DetachVirtualDisk(h2, DETACH_VIRTUAL_DISK_FLAG_NONE, 0) == 0);
    CHECK(physical_path(h, pp, sizeof pp) == (int)ERROR_VHD_INVALID_STATE);
    CHECK(CloseHandle(h3) == TRUE);
    CHECK(CloseHandle(h3) == FALSE);
    CHECK(AttachVirtualDisk(h3, NULL, ATTACH_VIRTUAL_DISK_FLAG_NONE, 0, NULL, NULL) ==
          ERROR_INVALID_HANDLE);
    CHECK(open_disk(other, 1, &h3) == 0);
    CHECK(AttachVirtualDisk(h3, NULL, ATTACH_VIRTUAL_DISK_FLAG_NONE, 0, NULL, NULL) ==
          ERROR_ACCESS_DENIED); /* opened read-only */
    CHECK(AttachVirtualDisk(h3, NULL, ATTACH_VIRTUAL_DISK_FLAG_READ_ONLY, 0, NULL, NULL) == 0);
    CHECK(CloseHandle(h3) == TRUE);
    CHECK(open_disk(other, 1, &h3) == 0);
    CHECK(physical_path(h3, pp, sizeof pp) == (int)ERROR_VHD_INVALID_STATE);
    CHECK(AttachVirtualDisk(h3, NULL, ATTACH_VIRTUAL_DISK_FLAG_PERMANENT_LIFETIME, 0, NULL, NULL) ==
          ERROR_NOT_SUPPORTED);
    CHECK(CloseHandle(h3) && CloseHandle(h2) && CloseHandle(h));
    tp_rmtree(files.dir);
}

TEST(virtdisk_bad_arguments) {
    TP_POSIX_ONLY(POSIX_PATHS);
    vd_files files;
    REQUIRE(vd_begin(&files, "a.vhdx", "junk.vhdx"));
    const char *path = files.a, *junk = files.b;
    HANDLE h = NULL;
    VIRTUAL_STORAGE_TYPE t = vhdx_type();
    CREATE_VIRTUAL_DISK_PARAMETERS p;
    memset(&p, 0, sizeof p);
    p.Version = CREATE_VIRTUAL_DISK_VERSION_2;
    p.Version2.MaximumSize = 64u << 20;
    char16_t *w = tc_w(path), *rel = tc_w("a.vhdx");
    /* the storage type */
    t.DeviceId = VIRTUAL_STORAGE_TYPE_DEVICE_VHD;
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0, 0, &p, NULL, &h) == ERROR_NOT_SUPPORTED);
    t = vhdx_type();
    t.VendorId.Data1 = 1;
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0, 0, &p, NULL, &h) == ERROR_PROVIDER_NOT_FOUND);
    CHECK(CreateVirtualDisk(NULL, w, 0, NULL, 0, 0, &p, NULL, &h) == ERROR_INVALID_PARAMETER);
    t = vhdx_type();
    /* parameters */
    CHECK(CreateVirtualDisk(&t, w, VIRTUAL_DISK_ACCESS_ALL, NULL, 0, 0, &p, NULL, &h) ==
          ERROR_INVALID_PARAMETER); /* version 2 wants VIRTUAL_DISK_ACCESS_NONE */
    CHECK(CreateVirtualDisk(&t, rel, 0, NULL, 0, 0, &p, NULL, &h) == ERROR_INVALID_PARAMETER);
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0, 0, NULL, NULL, &h) == ERROR_INVALID_PARAMETER);
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0x80, 0, &p, NULL, &h) == ERROR_INVALID_PARAMETER);
    p.Version2.MaximumSize = (64u << 20) + 1;
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0, 0, &p, NULL, &h) == VHDX_ERROR_INVALID_SIZE);
    p.Version2.MaximumSize = 64u << 20;
    p.Version2.BlockSizeInBytes = 3u << 20;
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0, 0, &p, NULL, &h) == VHDX_ERROR_INVALID_BLOCK_SIZE);
    p.Version2.BlockSizeInBytes = 0;
    p.Version2.SectorSizeInBytes = 520;
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0, 0, &p, NULL, &h) == VHDX_ERROR_SECTOR_SIZE);
    /* a VHDX under another format's name (hcsim's choice: Windows does not document it) */
    for (int i = 0; i < 2; i++) {
        char other[160];
        snprintf(other, sizeof other, "%s/x.%s", files.dir, i ? "ISO" : "vhd");
        char16_t *wo = tc_w(other);
        p.Version2.SectorSizeInBytes = 0;
        CHECK(CreateVirtualDisk(&t, wo, 0, NULL, 0, 0, &p, NULL, &h) == ERROR_INVALID_PARAMETER);
        CHECK(access(other, F_OK) != 0);
        free(wo);
    }
    CHECK(access(path, F_OK) != 0); /* nothing was created */
    p.Version2.SectorSizeInBytes = 0;
    p.Version = (CREATE_VIRTUAL_DISK_VERSION)7;
    CHECK(CreateVirtualDisk(&t, w, 0, NULL, 0, 0, &p, NULL, &h) == ERROR_INVALID_PARAMETER);
    /* opening: missing, not a disk */
    CHECK(open_disk(path, 0, &h) == ERROR_FILE_NOT_FOUND && h == NULL);
    FILE *f = fopen(junk, "w");
    REQUIRE(f != NULL);
    fputs("not a disk", f);
    fclose(f);
    CHECK(open_disk(junk, 0, &h) == VHDX_ERROR_NOT_VIRTUAL_DISK && h == NULL);
    /* handles that are none */
    CHECK(DetachVirtualDisk(NULL, 0, 0) == ERROR_INVALID_HANDLE);
    CHECK(DetachVirtualDisk((HANDLE)(intptr_t)12345, 0, 0) == ERROR_INVALID_HANDLE);
    /* faults: an HRESULT of FACILITY_WIN32 is its Win32 code */
    CHECK_HR(S_OK, HcsimFailNext("OpenVirtualDisk", 1, HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED),
                                 HcsimFaultSync));
    CHECK(open_disk(junk, 0, &h) == ERROR_ACCESS_DENIED);
    free(w);
    free(rel);
    HcsimReset();
    tp_rmtree(files.dir);
}

TEST(virtdisk_handles_in_computestorage) {
    TP_POSIX_ONLY(POSIX_PATHS);
    vd_files files;
    REQUIRE(vd_begin(&files, "scratch.vhdx", NULL));
    const char *path = files.a;
    HANDLE h = NULL, ro = NULL;
    REQUIRE(create(path, 256u << 20, 0, &h) == 0);
    PWSTR mount = NULL;
    CHECK_HR(HRESULT_FROM_WIN32(13), HcsGetLayerVhdMountPath(h, &mount)); /* not formatted */
    CHECK_HR(S_OK, HcsFormatWritableLayerVhd(h));
    CHECK_HR(S_OK, HcsGetLayerVhdMountPath(h, &mount));
    REQUIRE(mount != NULL);
    const char *want = "\\\\?\\Volume{";
    for (size_t i = 0; want[i]; i++) CHECK(mount[i] == (char16_t)want[i]);
    LocalFree(mount);
    /* still a valid VHDX with its size */
    CHECK(virtual_size(h) == 256u << 20);
    CHECK(open_disk(path, 1, &ro) == 0);
    CHECK(virtual_size(ro) == 256u << 20);
    CHECK_HR(E_ACCESSDENIED, HcsFormatWritableLayerVhd(ro));
    CHECK_HR(S_OK, HcsGetLayerVhdMountPath(ro, &mount)); /* the same volume */
    LocalFree(mount);
    CHECK(CloseHandle(ro) && CloseHandle(h));
    CHECK_HR(E_HANDLE, HcsFormatWritableLayerVhd(h)); /* closed */
    tp_rmtree(files.dir);
}

/* A host error becomes its own Win32 code, never the low word of an HRESULT: a file over
 * the file system's size limit (EFBIG, here through RLIMIT_FSIZE) is ERROR_FILE_TOO_LARGE. */
TEST(virtdisk_create_too_large) {
    TP_POSIX_ONLY(POSIX_PATHS);
#ifndef _WIN32
    vd_files files;
    REQUIRE(vd_begin(&files, "big.vhdx", NULL));
    struct rlimit old, small;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = 16u << 20;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    HANDLE h = NULL;
    DWORD e = create(files.a, 64u << 20, 1, &h);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    CHECK(e == ERROR_FILE_TOO_LARGE && h == NULL);
    CHECK(access(files.a, F_OK) != 0); /* the partial file is removed */
    tp_rmtree(files.dir);
#endif
}

/* Opening a directory is ERROR_ACCESS_DENIED whatever errno a failure before left. */
TEST(virtdisk_open_directory) {
    TP_POSIX_ONLY(POSIX_PATHS);
#ifndef _WIN32
    vd_files files;
    REQUIRE(vd_begin(&files, "missing.vhdx", NULL));
    HANDLE h = NULL;
    CHECK(open_disk(files.dir, 0, &h) == ERROR_ACCESS_DENIED && h == NULL);
    CHECK(open_disk(files.a, 0, &h) == ERROR_FILE_NOT_FOUND && h == NULL);
    errno = ENOENT;
    CHECK(open_disk(files.dir, 0, &h) == ERROR_ACCESS_DENIED && h == NULL);
    tp_rmtree(files.dir);
#endif
}

/* A missing folder: ERROR_PATH_NOT_FOUND from CreateVirtualDisk and from the state file
 * calls alike (Windows' CreateFile). */
TEST(virtdisk_missing_folder) {
    TP_POSIX_ONLY(POSIX_PATHS);
    vd_files files;
    REQUIRE(vd_begin(&files, "no/a.vhdx", "no/a.vmgs"));
    HANDLE h = NULL;
    CHECK(create(files.a, 64u << 20, 0, &h) == ERROR_PATH_NOT_FOUND && h == NULL);
    char16_t *w = tc_w(files.b);
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), HcsCreateEmptyGuestStateFile(w));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), HcsCreateEmptyRuntimeStateFile(w));
    free(w);
    tp_rmtree(files.dir);
}

/* A disk file is the host's or a running VM's, not both (Windows opens it exclusively):
 * the start of a VM whose SCSI disk is attached on the host fails with
 * ERROR_SHARING_VIOLATION naming the file, and attaching a disk a running VM uses fails
 * the same way; once the VM is off, the file can be attached. */
TEST(virtdisk_shared_with_vm) {
    TP_POSIX_ONLY(POSIX_PATHS);
    vd_files files;
    REQUIRE(vd_begin(&files, "vm.vhdx", NULL));
    HANDLE h = NULL, h2 = NULL;
    REQUIRE(create(files.a, 64u << 20, 0, &h) == 0);
    char16_t *w = tc_w(files.a);
    CHECK_HR(S_OK, HcsGrantVmGroupAccess(w));
    free(w);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"t\",\"VirtualMachine\":"
             "{\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}},"
             "\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{\"Type\":\"VirtualDisk\","
             "\"Path\":\"%s\"}}}}}}}",
             files.a);
    HCS_SYSTEM sys = NULL;
    REQUIRE(tc_create("vd-share", cfg, 0, &sys) == S_OK);
    CHECK(AttachVirtualDisk(h, NULL, ATTACH_VIRTUAL_DISK_FLAG_NO_DRIVE_LETTER, 0, NULL, NULL) == 0);
    hj_value *doc = NULL;
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_SHARING_VIOLATION),
             tc_call(HcsStartComputeSystem, sys, NULL, &doc));
    const char *msg = hj_str(hj_get(doc, "ErrorMessage"), NULL);
    CHECK(msg && strstr(msg, files.a) && strstr(msg, "being used by another process"));
    hj_free(doc);
    CHECK(DetachVirtualDisk(h, DETACH_VIRTUAL_DISK_FLAG_NONE, 0) == 0);
    CHECK_HR(S_OK, tc_call(HcsStartComputeSystem, sys, NULL, NULL));
    /* the VM runs: neither handle can attach its disk */
    REQUIRE(open_disk(files.a, 0, &h2) == 0);
    CHECK(AttachVirtualDisk(h2, NULL, ATTACH_VIRTUAL_DISK_FLAG_NO_DRIVE_LETTER, 0, NULL, NULL) ==
          ERROR_SHARING_VIOLATION);
    CHECK(AttachVirtualDisk(h, NULL, ATTACH_VIRTUAL_DISK_FLAG_READ_ONLY, 0, NULL, NULL) ==
          ERROR_SHARING_VIOLATION);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, sys, NULL, NULL));
    CHECK(AttachVirtualDisk(h2, NULL, ATTACH_VIRTUAL_DISK_FLAG_NO_DRIVE_LETTER, 0, NULL, NULL) ==
          0);
    HcsCloseComputeSystem(sys);
    CHECK(CloseHandle(h2) && CloseHandle(h));
    HcsimReset();
    tp_rmtree(files.dir);
}

/* The leak counters see virtual disk handles and attachments (POSIX). */
TEST(virtdisk_counted) {
    TP_POSIX_ONLY(POSIX_PATHS);
    vd_files files;
    REQUIRE(vd_begin(&files, "c.vhdx", NULL));
    HCSIM_COUNTS before, now;
    HcsimGetCounts(&before);
    HANDLE h = NULL, h2 = NULL;
    REQUIRE(create(files.a, 16u << 20, 0, &h) == 0);
    REQUIRE(open_disk(files.a, 0, &h2) == 0);
    HANDLE none = NULL;
    CHECK(open_disk(files.b, 0, &none) == ERROR_FILE_NOT_FOUND); /* a failure counts nothing */
    CHECK(AttachVirtualDisk(h, NULL, ATTACH_VIRTUAL_DISK_FLAG_NONE, 0, NULL, NULL) == 0);
    HcsimGetCounts(&now);
    CHECK(now.VirtualDisks == before.VirtualDisks + 2);
    CHECK(now.AttachedDisks == before.AttachedDisks + 1);
    CHECK(CloseHandle(h)); /* detaches */
    HcsimGetCounts(&now);
    CHECK(now.VirtualDisks == before.VirtualDisks + 1 && now.AttachedDisks == before.AttachedDisks);
    CHECK(CloseHandle(h2));
    HcsimGetCounts(&now);
    CHECK(now.VirtualDisks == before.VirtualDisks);
    tp_rmtree(files.dir);
}

/* The review's findings: a second name of an attached file (a hard link) finds its drive;
 * a read-only raw descriptor is not formatted; a VHDX that cannot be read is never
 * overwritten with hcsim's header. */
TEST(virtdisk_links_read_only_descriptors_and_damaged_vhdx) {
    TP_POSIX_ONLY(POSIX_PATHS);
    vd_files files;
    REQUIRE(vd_begin(&files, "a.vhdx", "link.vhdx"));
    HANDLE h = NULL;
    CHECK(create(files.a, 16u << 20, 0, &h) == 0);
    CHECK(AttachVirtualDisk(h, NULL, ATTACH_VIRTUAL_DISK_FLAG_NO_DRIVE_LETTER, 0, NULL, NULL) == 0);
#ifndef _WIN32
    HANDLE h2 = NULL;
    CHECK(link(files.a, files.b) == 0);
    CHECK(open_disk(files.b, 0, &h2) == 0);
    CHECK(AttachVirtualDisk(h2, NULL, ATTACH_VIRTUAL_DISK_FLAG_NONE, 0, NULL, NULL) ==
          ERROR_SHARING_VIOLATION);
    CHECK(CloseHandle(h2) == TRUE);
    /* a raw descriptor opened read-only: E_ACCESSDENIED, as a read-only virtual disk */
    int ro = open(files.a, O_RDONLY);
    CHECK(ro >= 0);
    CHECK_HR(E_ACCESSDENIED, HcsFormatWritableLayerVhd((HANDLE)(intptr_t)ro));
    close(ro);
    CHECK(CloseHandle(h) == TRUE);
    /* a VHDX whose first header copy is damaged and second is gone is not a readable disk,
     * but it is a VHDX: formatting fails and leaves its identifier alone */
    int rw = open(files.a, O_RDWR);
    CHECK(rw >= 0);
    char zeros[4096];
    memset(zeros, 0, sizeof zeros);
    CHECK(pwrite(rw, zeros, sizeof zeros, 64 * 1024) == (ssize_t)sizeof zeros);
    CHECK(pwrite(rw, zeros, sizeof zeros, 128 * 1024) == (ssize_t)sizeof zeros);
    CHECK_HR(HRESULT_FROM_WIN32(13u), HcsFormatWritableLayerVhd((HANDLE)(intptr_t)rw));
    char sig[8];
    CHECK(pread(rw, sig, sizeof sig, 0) == (ssize_t)sizeof sig && !memcmp(sig, "vhdxfile", 8));
    close(rw);
#endif
    HcsimReset();
    tp_rmtree(files.dir);
}
