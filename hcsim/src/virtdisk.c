/* hcsim virtdisk: the virtdisk.h calls aiohcs uses, over VHDX files (vhdx.c).
 *
 * A virtual disk handle is an hcsim handle (K_VHD in the registry) owning a descriptor of
 * the file; hcsim's CloseHandle closes it (process.c). On Windows it is a real HANDLE of the
 * file that the caller closes with kernel32's CloseHandle (see open_disks below). Only VHDX is emulated: a
 * VIRTUAL_STORAGE_TYPE must name VHDX (3) or UNKNOWN (0, then the file decides) with the
 * Microsoft (or unknown) vendor; VHD (2) and ISO (1) give ERROR_NOT_SUPPORTED. Calls are
 * synchronous (an OVERLAPPED gives ERROR_NOT_SUPPORTED) and local to the calling process:
 * in client mode they are not forwarded to the service (virtdisk.dll is no service call),
 * but a computestorage call forwards the disk's descriptor (remote.c).
 *
 * Attaching is bookkeeping: no device appears. An attached disk gets the lowest free
 * number N >= 1 (\\.\PhysicalDriveN; drive 0 is the host's system disk); the attachment
 * is the disk file's (by path), so a second handle of an attached file cannot attach it
 * again, and it ends with DetachVirtualDisk (through any handle of the file) or when the
 * handle that attached it is closed (hcsim has no ATTACH_VIRTUAL_DISK_FLAG_PERMANENT_LIFETIME:
 * ERROR_NOT_SUPPORTED). Error codes hcsim had to choose (README "virtdisk"). */
#include "hcsim_internal.h"
#include "vhdx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _WIN32
#include <io.h>
#endif
#ifndef O_BINARY
#define O_BINARY 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

#define ERROR_PATH_NOT_FOUND      3u
#define ERROR_GEN_FAILURE         31u
#define ERROR_SHARING_VIOLATION   32u
#define ERROR_NOT_SUPPORTED       50u
#define ERROR_FILE_EXISTS         80u
#define ERROR_INSUFFICIENT_BUFFER 122u
/* ERROR_VIRTDISK_PROVIDER_NOT_FOUND, ERROR_VHD_INVALID_STATE (winerror.h) */
#define ERROR_VIRTDISK_PROVIDER_NOT_FOUND 0xC03A0014u
#define ERROR_VHD_INVALID_STATE           0xC03A001Cu

#define MAX_DRIVES 64

typedef struct hc_vdisk {
    hc_obj hdr;
    int crt;    /* the C runtime's descriptor of the file */
    plat_fd fd; /* the platform's (POSIX: the same; Win32: its HANDLE) */
    char *path;
    int writable;
#if PLAT_HOST_RELEASES
    /* The HANDLE handed out, which the caller closes with kernel32's CloseHandle. hcsim
     * keeps no handle of its own (fd is this one and crt is closed once it is handed
     * out): a handle of hcsim's would keep the file open, so that a caller could not
     * delete it (nor its folder) after closing the disk. key tells whether out is still
     * an open handle of the same file (its volume and file number). */
    plat_fd out;
    plat_file_key key;
    struct hc_vdisk *next_open; /* in open_disks */
#endif
} hc_vdisk;

#if PLAT_HOST_RELEASES
/* Win32: the caller closes a virtual disk handle with kernel32's CloseHandle, which hcsim
 * does not see. The handle handed out is a duplicate of hcsim's own handle of the file,
 * found again by its value; a disk whose handed-out value no longer names the same file
 * object (the caller closed it) is dropped, its attachment ended, at the next virtdisk call
 * (as Windows detaches a disk whose last handle is closed). Under lock. */
static hc_vdisk *open_disks;
#endif

/* The attached disks, by drive number N (index N; 0 unused): the file's path (NULL: the
 * number is free) and the handle that attached it. Under lock. */
static struct {
    char *path;
    uintptr_t owner;
} drives[MAX_DRIVES];

/* The drive a file is attached as (0: none). The file is compared by identity, so that
 * another name of it (a symbolic or hard link) finds its drive too. */
static uint32_t drive_of(const char *path) {
    plat_file_key key, k;
    int known = plat_file_key_of(path, &key) == 0;
    for (uint32_t n = 1; n < MAX_DRIVES; n++)
        if (drives[n].path &&
            (!strcmp(drives[n].path, path) ||
             (known && !plat_file_key_of(drives[n].path, &k) && !memcmp(&k, &key, sizeof k))))
            return n;
    return 0;
}

/* The leak counters of virtual disks (HCSIM_COUNTS.VirtualDisks, AttachedDisks): kept on
 * POSIX only, where hcsim closes the handles. On Windows kernel32 closes them unseen until
 * the next virtdisk call, so a count there would report closed disks as leaks. */
#if PLAT_HOST_RELEASES
#define COUNT(member, delta) ((void)0)
#else
#define COUNT(member, delta) (G.counts.member += (uint32_t)(delta))
#endif

static void detach_drive(uint32_t n) { /* under lock */
    COUNT(AttachedDisks, -1);
    free(drives[n].path);
    drives[n].path = NULL;
    drives[n].owner = 0;
}

static void detach_owned(const void *owner) { /* under lock */
    for (uint32_t n = 1; n < MAX_DRIVES; n++)
        if (drives[n].path && drives[n].owner == (uintptr_t)owner) detach_drive(n);
}

/* The Win32 code of a failure the entry protocol gives (a fault's HRESULT: its code when
 * it is a FACILITY_WIN32 one, else the HRESULT's value). */
static DWORD w32_of(HRESULT hr) {
    uint32_t v = (uint32_t)hr;
    return (v & 0xFFFF0000u) == 0x80070000u ? (v & 0xFFFFu) : v;
}

/* The Win32 code of a host error while creating or opening a disk file. ENOENT from a
 * create means its folder is missing. Other errors take hcsim's common mapping when it
 * gives a FACILITY_WIN32 HRESULT (its code); an HRESULT of another facility has no Win32
 * code, so an error the mapping does not know is ERROR_GEN_FAILURE (31), never an
 * HRESULT's low word. */
static DWORD w32_errno(int e) {
    switch (e) {
    case 0: return 0;
    case ENOENT: return ERROR_PATH_NOT_FOUND;
    case EEXIST: return ERROR_FILE_EXISTS;
    case ENOMEM: return ERROR_NOT_ENOUGH_MEMORY;
    case EINVAL: return ERROR_INVALID_PARAMETER;
    default: {
        uint32_t hr = (uint32_t)hc_hr_from_errno(e);
        return (hr & 0xFFFF0000u) == 0x80070000u ? (hr & 0xFFFFu) : ERROR_GEN_FAILURE;
    }
    }
}

static DWORD check_type(const VIRTUAL_STORAGE_TYPE *t) {
    if (!t) return ERROR_INVALID_PARAMETER;
    uint8_t ms[16], unknown[16] = {0};
    vhdx_guid_parse("ec984aec-a0f9-47e9-901f-71415a66345b", ms);
    uint8_t vendor[16];
    vendor[0] = (uint8_t)t->VendorId.Data1;
    vendor[1] = (uint8_t)(t->VendorId.Data1 >> 8);
    vendor[2] = (uint8_t)(t->VendorId.Data1 >> 16);
    vendor[3] = (uint8_t)(t->VendorId.Data1 >> 24);
    vendor[4] = (uint8_t)t->VendorId.Data2;
    vendor[5] = (uint8_t)(t->VendorId.Data2 >> 8);
    vendor[6] = (uint8_t)t->VendorId.Data3;
    vendor[7] = (uint8_t)(t->VendorId.Data3 >> 8);
    memcpy(vendor + 8, t->VendorId.Data4, 8);
    if (memcmp(vendor, ms, 16) && memcmp(vendor, unknown, 16))
        return ERROR_VIRTDISK_PROVIDER_NOT_FOUND;
    switch (t->DeviceId) {
    case VIRTUAL_STORAGE_TYPE_DEVICE_VHDX:
    case VIRTUAL_STORAGE_TYPE_DEVICE_UNKNOWN: return 0;
    case VIRTUAL_STORAGE_TYPE_DEVICE_VHD:
    case VIRTUAL_STORAGE_TYPE_DEVICE_ISO: return ERROR_NOT_SUPPORTED;
    default: return ERROR_VIRTDISK_PROVIDER_NOT_FOUND;
    }
}

static void vdisk_free(hc_vdisk *d) {
    if (d->crt >= 0) close(d->crt);
    free(d->path);
    free(d);
}

#if PLAT_HOST_RELEASES
static void prune_closed(void) { /* under lock */
    for (hc_vdisk **pp = &open_disks; *pp;) {
        hc_vdisk *d = *pp;
        plat_file_key now;
        /* (Not the creation time: Wine reports the status-change time there, which a
         * write to the disk moves.) */
        if (plat_fd_key(d->out, &now, NULL) == 0 && now.volume == d->key.volume &&
            now.file == d->key.file) {
            pp = &d->next_open;
            continue;
        }
        *pp = d->next_open;
        detach_owned(d);
        vdisk_free(d);
    }
}
#endif

/* The disk of a handle, under lock; NULL for anything else. */
static hc_vdisk *vdisk_get(const void *h) {
#if PLAT_HOST_RELEASES
    prune_closed();
    for (hc_vdisk *d = open_disks; d; d = d->next_open)
        if (d->out == (plat_fd)h) return d;
    return NULL;
#else
    return hc_reg_get(h, K_VHD);
#endif
}

/* Registers a new disk and gives the caller's handle of it (under lock): 0 or a Win32 code. */
static DWORD vdisk_publish(hc_vdisk *d, HANDLE *out) {
#if PLAT_HOST_RELEASES
    prune_closed();
    d->out = plat_dup(d->fd);
    if (d->out == PLAT_NO_FD) return ERROR_NOT_ENOUGH_MEMORY;
    if (plat_fd_key(d->out, &d->key, NULL) != 0) {
        plat_close(d->out);
        return ERROR_INVALID_HANDLE;
    }
    close(d->crt); /* hcsim's own handle: from now on the caller's is the only one */
    d->crt = -1;
    d->fd = d->out;
    d->next_open = open_disks;
    open_disks = d;
    *out = (HANDLE)d->out;
#else
    if (hc_reg_add(d, K_VHD) != 0) return ERROR_NOT_ENOUGH_MEMORY;
    COUNT(VirtualDisks, 1);
    *out = (HANDLE)HC_HANDLE(d);
#endif
    return 0;
}

/* Closes a handle this file gave out (a create or open that fails after it). */
static void vdisk_discard(HANDLE h) {
    hc_lock();
#if PLAT_HOST_RELEASES
    for (hc_vdisk **pp = &open_disks; *pp; pp = &(*pp)->next_open) {
        hc_vdisk *d = *pp;
        if (d->out != (plat_fd)h) continue;
        *pp = d->next_open;
        plat_close(d->out);
        detach_owned(d);
        vdisk_free(d);
        break;
    }
#else
    hc_vdisk_close(h);
#endif
    hc_unlock();
}

/* A new handle of the file at path (opened with flags): 0, or a Win32 code. */
static DWORD vdisk_open(char *path, int flags, int writable, HANDLE *out) {
    hc_vdisk *d = hc_obj_new(sizeof *d, K_VHD);
    if (!d) {
        free(path);
        return ERROR_NOT_ENOUGH_MEMORY;
    }
    d->path = path;
    d->writable = writable;
    d->crt = open(path, flags | O_BINARY | O_CLOEXEC, 0644);
    if (d->crt < 0) {
        DWORD e = w32_errno(errno);
        vdisk_free(d);
        return e;
    }
#ifdef _WIN32
    d->fd = (plat_fd)_get_osfhandle(d->crt);
#else
    d->fd = d->crt;
#endif
    hc_lock();
    DWORD e = vdisk_publish(d, out);
    hc_unlock();
    if (e) vdisk_free(d);
    return e;
}

/* 1 when path's name ends in ext (".vhd"; ASCII, any case). */
static int has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), m = strlen(ext);
    if (n < m) return 0;
    for (size_t i = 0; i < m; i++) {
        char c = path[n - m + i];
        if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != ext[i]) return 0;
    }
    return 1;
}

static DWORD path_arg(PCWSTR path, char **out) {
    *out = NULL;
    if (hc_path_arg(path, 0, out) != S_OK) return ERROR_INVALID_PARAMETER;
    if (!hc_is_absolute_path(
            *out)) { /* a relative path would be resolved in the caller's directory */
        free(*out);
        *out = NULL;
        return ERROR_INVALID_PARAMETER;
    }
    return 0;
}

DWORD WINAPI CreateVirtualDisk(PVIRTUAL_STORAGE_TYPE VirtualStorageType, PCWSTR Path,
                               VIRTUAL_DISK_ACCESS_MASK VirtualDiskAccessMask,
                               PSECURITY_DESCRIPTOR SecurityDescriptor,
                               CREATE_VIRTUAL_DISK_FLAG Flags, ULONG ProviderSpecificFlags,
                               PCREATE_VIRTUAL_DISK_PARAMETERS Parameters, LPOVERLAPPED Overlapped,
                               PHANDLE Handle) {
    (void)SecurityDescriptor;
    HRESULT hr = hc_enter_sync(FN_CreateVirtualDisk);
    if (hr != S_OK) return w32_of(hr);
    if (Handle) *Handle = NULL;
    DWORD e = check_type(VirtualStorageType);
    if (e) return e;
    if (!Handle || !Parameters || ProviderSpecificFlags) return ERROR_INVALID_PARAMETER;
    if (Overlapped) return ERROR_NOT_SUPPORTED;
    if ((uint32_t)Flags & ~(uint32_t)CREATE_VIRTUAL_DISK_FLAG_FULL_PHYSICAL_ALLOCATION)
        return ERROR_INVALID_PARAMETER;
    uint64_t size;
    uint32_t block, sector;
    if (Parameters->Version == CREATE_VIRTUAL_DISK_VERSION_2) {
        /* version 2 takes its access from the open flags: the mask must be NONE */
        if (VirtualDiskAccessMask != VIRTUAL_DISK_ACCESS_NONE) return ERROR_INVALID_PARAMETER;
        if (Parameters->Version2.ParentPath || Parameters->Version2.SourcePath)
            return ERROR_NOT_SUPPORTED; /* differencing disks and copies */
        size = Parameters->Version2.MaximumSize;
        block = Parameters->Version2.BlockSizeInBytes;
        sector = Parameters->Version2.SectorSizeInBytes;
        uint32_t phys = Parameters->Version2.PhysicalSectorSizeInBytes;
        if (phys && phys != (sector ? sector : VHDX_DEFAULT_SECTOR)) return ERROR_NOT_SUPPORTED;
    } else if (Parameters->Version == CREATE_VIRTUAL_DISK_VERSION_1) {
        if (Parameters->Version1.ParentPath || Parameters->Version1.SourcePath)
            return ERROR_NOT_SUPPORTED;
        size = Parameters->Version1.MaximumSize;
        block = Parameters->Version1.BlockSizeInBytes;
        sector = Parameters->Version1.SectorSizeInBytes;
    } else {
        return ERROR_INVALID_PARAMETER;
    }
    if ((e = vhdx_check_params(size, &block, &sector)) != 0) return e;
    char *path;
    if ((e = path_arg(Path, &path)) != 0) return e;
    if (has_ext(path, ".vhd") || has_ext(path, ".iso")) { /* another format's name (chosen) */
        free(path);
        return ERROR_INVALID_PARAMETER;
    }
    char *keep = hc_strdup(path);
    if (!keep) {
        free(path);
        return ERROR_NOT_ENOUGH_MEMORY;
    }
    HANDLE h = NULL;
    e = vdisk_open(path, O_RDWR | O_CREAT | O_EXCL, 1, &h);
    if (e == 0) {
        hc_lock();
        hc_vdisk *d = vdisk_get(h);
        plat_fd fd = d ? d->fd : PLAT_NO_FD;
        hc_unlock();
        int err = vhdx_create(
            fd, size, block, sector,
            ((uint32_t)Flags & CREATE_VIRTUAL_DISK_FLAG_FULL_PHYSICAL_ALLOCATION) != 0, NULL);
        if (err) {
            vdisk_discard(h);
            unlink(keep);
            e = w32_errno(err);
            h = NULL;
        }
    }
    free(keep);
    *Handle = h;
    return e;
}

DWORD WINAPI OpenVirtualDisk(PVIRTUAL_STORAGE_TYPE VirtualStorageType, PCWSTR Path,
                             VIRTUAL_DISK_ACCESS_MASK VirtualDiskAccessMask,
                             OPEN_VIRTUAL_DISK_FLAG Flags, POPEN_VIRTUAL_DISK_PARAMETERS Parameters,
                             PHANDLE Handle) {
    HRESULT hr = hc_enter_sync(FN_OpenVirtualDisk);
    if (hr != S_OK) return w32_of(hr);
    if (Handle) *Handle = NULL;
    DWORD e = check_type(VirtualStorageType);
    if (e) return e;
    if (!Handle) return ERROR_INVALID_PARAMETER;
    if ((uint32_t)Flags &
        ~(uint32_t)(OPEN_VIRTUAL_DISK_FLAG_NO_PARENTS | OPEN_VIRTUAL_DISK_FLAG_CACHED_IO))
        return ERROR_INVALID_PARAMETER;
    int writable;
    if (Parameters && Parameters->Version == OPEN_VIRTUAL_DISK_VERSION_2) {
        if (VirtualDiskAccessMask != VIRTUAL_DISK_ACCESS_NONE) return ERROR_INVALID_PARAMETER;
        writable = !Parameters->Version2.ReadOnly && !Parameters->Version2.GetInfoOnly;
    } else if (!Parameters || Parameters->Version == OPEN_VIRTUAL_DISK_VERSION_1) {
        if ((uint32_t)VirtualDiskAccessMask & ~(uint32_t)VIRTUAL_DISK_ACCESS_ALL)
            return ERROR_INVALID_PARAMETER;
        writable = ((uint32_t)VirtualDiskAccessMask & (uint32_t)VIRTUAL_DISK_ACCESS_WRITABLE) != 0;
    } else {
        return ERROR_INVALID_PARAMETER;
    }
    char *path;
    if ((e = path_arg(Path, &path)) != 0) return e;
    /* a directory (or any file that is not a regular one) is ERROR_ACCESS_DENIED, as
     * Windows' CreateFile of a directory without backup semantics */
    struct stat st;
    if (stat(path, &st) != 0) {
        int err = errno;
        free(path);
        return err == ENOENT || err == ENOTDIR ? ERROR_FILE_NOT_FOUND : w32_errno(err);
    }
    if (!S_ISREG(st.st_mode)) {
        free(path);
        return ERROR_ACCESS_DENIED;
    }
    HANDLE h = NULL;
    e = vdisk_open(path, writable ? O_RDWR : O_RDONLY, writable, &h);
    if (e) return e;
    hc_lock();
    hc_vdisk *d = vdisk_get(h);
    plat_fd fd = d ? d->fd : PLAT_NO_FD;
    hc_unlock();
    vhdx_info info;
    if ((e = vhdx_read(fd, &info)) != 0) {
        vdisk_discard(h);
        return e;
    }
    *Handle = h;
    return 0;
}

DWORD WINAPI AttachVirtualDisk(HANDLE VirtualDiskHandle, PSECURITY_DESCRIPTOR SecurityDescriptor,
                               ATTACH_VIRTUAL_DISK_FLAG Flags, ULONG ProviderSpecificFlags,
                               PATTACH_VIRTUAL_DISK_PARAMETERS Parameters,
                               LPOVERLAPPED Overlapped) {
    (void)SecurityDescriptor;
    HRESULT hr = hc_enter_sync(FN_AttachVirtualDisk);
    if (hr != S_OK) return w32_of(hr);
    const uint32_t known =
        ATTACH_VIRTUAL_DISK_FLAG_READ_ONLY | ATTACH_VIRTUAL_DISK_FLAG_NO_DRIVE_LETTER |
        ATTACH_VIRTUAL_DISK_FLAG_PERMANENT_LIFETIME | ATTACH_VIRTUAL_DISK_FLAG_NO_LOCAL_HOST;
    if (((uint32_t)Flags & ~known) || ProviderSpecificFlags) return ERROR_INVALID_PARAMETER;
    if (Parameters && Parameters->Version != ATTACH_VIRTUAL_DISK_VERSION_1)
        return ERROR_INVALID_PARAMETER;
    if (Overlapped || ((uint32_t)Flags & ATTACH_VIRTUAL_DISK_FLAG_PERMANENT_LIFETIME))
        return ERROR_NOT_SUPPORTED;
    DWORD e = 0;
    hc_lock();
    hc_vdisk *d = vdisk_get(VirtualDiskHandle);
    if (!d) {
        e = ERROR_INVALID_HANDLE;
    } else if (!d->writable && !((uint32_t)Flags & ATTACH_VIRTUAL_DISK_FLAG_READ_ONLY)) {
        e = ERROR_ACCESS_DENIED; /* opened read-only: only a read-only attach */
    } else if (drive_of(d->path) || hc_sys_vm_uses_file(d->path)) {
        e = ERROR_SHARING_VIOLATION; /* attached already, or a running VM has it open */
    } else {
        uint32_t n = 1;
        while (n < MAX_DRIVES && drives[n].path) n++;
        char *copy = n < MAX_DRIVES ? hc_strdup(d->path) : NULL;
        if (!copy) {
            e = ERROR_NOT_ENOUGH_MEMORY;
        } else {
            drives[n].path = copy;
            drives[n].owner = (uintptr_t)d;
            COUNT(AttachedDisks, 1);
        }
    }
    hc_unlock();
    return e;
}

/* The drive number the disk of handle h is attached as (under the lock), or 0 with *e set
 * (ERROR_INVALID_HANDLE: no such handle; ERROR_VHD_INVALID_STATE: not attached). */
static uint32_t attached_drive(HANDLE h, DWORD *e) {
    hc_vdisk *d = vdisk_get(h);
    uint32_t n = d ? drive_of(d->path) : 0;
    *e = !d ? ERROR_INVALID_HANDLE : !n ? ERROR_VHD_INVALID_STATE : 0;
    return n;
}

DWORD WINAPI DetachVirtualDisk(HANDLE VirtualDiskHandle, DETACH_VIRTUAL_DISK_FLAG Flags,
                               ULONG ProviderSpecificFlags) {
    HRESULT hr = hc_enter_sync(FN_DetachVirtualDisk);
    if (hr != S_OK) return w32_of(hr);
    if (Flags || ProviderSpecificFlags) return ERROR_INVALID_PARAMETER;
    DWORD e;
    hc_lock();
    uint32_t n = attached_drive(VirtualDiskHandle, &e);
    if (n) detach_drive(n);
    hc_unlock();
    return e;
}

DWORD WINAPI GetVirtualDiskPhysicalPath(HANDLE VirtualDiskHandle, PULONG DiskPathSizeInBytes,
                                        PWSTR DiskPath) {
    HRESULT hr = hc_enter_sync(FN_GetVirtualDiskPhysicalPath);
    if (hr != S_OK) return w32_of(hr);
    if (!DiskPathSizeInBytes) return ERROR_INVALID_PARAMETER;
    DWORD e;
    hc_lock();
    uint32_t n = attached_drive(VirtualDiskHandle, &e);
    hc_unlock();
    if (e) return e;
    char text[32];
    int len = snprintf(text, sizeof text, "\\\\.\\PhysicalDrive%u", (unsigned)n);
    ULONG need = (ULONG)(len + 1) * (ULONG)sizeof(WCHAR);
    if (!DiskPath || *DiskPathSizeInBytes < need) {
        *DiskPathSizeInBytes = need;
        return ERROR_INSUFFICIENT_BUFFER;
    }
    for (int i = 0; i <= len; i++) DiskPath[i] = (WCHAR)(unsigned char)text[i];
    *DiskPathSizeInBytes = need;
    return 0;
}

static void put_guid(GUID *g, const uint8_t b[16]) {
    g->Data1 = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    g->Data2 = (uint16_t)(b[4] | b[5] << 8);
    g->Data3 = (uint16_t)(b[6] | b[7] << 8);
    memcpy(g->Data4, b + 8, 8);
}

DWORD WINAPI GetVirtualDiskInformation(HANDLE VirtualDiskHandle, PULONG VirtualDiskInfoSize,
                                       PGET_VIRTUAL_DISK_INFO VirtualDiskInfo, PULONG SizeUsed) {
    HRESULT hr = hc_enter_sync(FN_GetVirtualDiskInformation);
    if (hr != S_OK) return w32_of(hr);
    if (!VirtualDiskInfoSize || !VirtualDiskInfo) return ERROR_INVALID_PARAMETER;
    if (*VirtualDiskInfoSize < sizeof *VirtualDiskInfo) {
        *VirtualDiskInfoSize = (ULONG)sizeof *VirtualDiskInfo;
        return ERROR_INSUFFICIENT_BUFFER;
    }
    hc_lock();
    hc_vdisk *d = vdisk_get(VirtualDiskHandle);
    plat_fd fd = d ? d->fd : PLAT_NO_FD;
    uint32_t n = d ? drive_of(d->path) : 0;
    hc_unlock();
    if (!d) return ERROR_INVALID_HANDLE;
    vhdx_info info;
    DWORD e = vhdx_read(fd, &info);
    if (e) return e;
    GET_VIRTUAL_DISK_INFO *v = VirtualDiskInfo;
    switch (v->Version) {
    case GET_VIRTUAL_DISK_INFO_SIZE: {
        v->Size.VirtualSize = info.virtual_size;
#if PLAT_HOST_RELEASES
        plat_file_key key;
        uint64_t bytes = 0;
        v->Size.PhysicalSize = plat_fd_key(fd, &key, &bytes) == 0 ? bytes : 0;
#else
        struct stat st;
        v->Size.PhysicalSize = fstat((int)fd, &st) == 0 ? (ULONGLONG)st.st_size : 0;
#endif
        v->Size.BlockSize = info.block_size;
        v->Size.SectorSize = info.logical_sector;
        break;
    }
    case GET_VIRTUAL_DISK_INFO_IDENTIFIER:
    case GET_VIRTUAL_DISK_INFO_VIRTUAL_DISK_ID:
        put_guid(v->Version == GET_VIRTUAL_DISK_INFO_IDENTIFIER ? &v->Identifier
                                                                : &v->VirtualDiskId,
                 info.disk_id);
        break;
    case GET_VIRTUAL_DISK_INFO_VIRTUAL_STORAGE_TYPE: {
        uint8_t ms[16];
        vhdx_guid_parse("ec984aec-a0f9-47e9-901f-71415a66345b", ms);
        v->VirtualStorageType.DeviceId = VIRTUAL_STORAGE_TYPE_DEVICE_VHDX;
        put_guid(&v->VirtualStorageType.VendorId, ms);
        break;
    }
    case GET_VIRTUAL_DISK_INFO_PROVIDER_SUBTYPE:
        v->ProviderSubtype = info.fixed ? 2u : 3u; /* 2 fixed, 3 dynamically expandable */
        break;
    case GET_VIRTUAL_DISK_INFO_IS_LOADED: v->IsLoaded = n != 0; break;
    case GET_VIRTUAL_DISK_INFO_VHD_PHYSICAL_SECTOR_SIZE:
        v->VhdPhysicalSectorSize = info.physical_sector;
        break;
    default: return ERROR_NOT_SUPPORTED; /* parents, change tracking, ...: not emulated */
    }
    if (SizeUsed) *SizeUsed = (ULONG)sizeof *VirtualDiskInfo;
    return 0;
}

/* ---- what the rest of hcsim needs ------------------------------------------------------ */
BOOL hc_vdisk_close(HANDLE h) { /* under lock; POSIX (Win32: the caller's kernel32 closes) */
#if PLAT_HOST_RELEASES
    (void)h;
    return FALSE;
#else
    hc_vdisk *d = vdisk_get(h);
    if (!d) return FALSE;
    detach_owned(d);
    hc_reg_del(d);
    vdisk_free(d);
    COUNT(VirtualDisks, -1);
    return TRUE;
#endif
}

int hc_vdisk_fd(const void *h, plat_fd *fd, int *writable) { /* under lock */
    hc_vdisk *d = vdisk_get(h);
    if (!d) return 0;
    *fd = d->fd;
    if (writable) *writable = d->writable;
    return 1;
}

int hc_vdisk_attached(const char *path) {
    plat_file_key key, k;
    if (plat_file_key_of(path, &key)) return 0;
    int found = 0;
    hc_lock();
    for (uint32_t n = 1; n < MAX_DRIVES && !found; n++)
        found =
            drives[n].path && !plat_file_key_of(drives[n].path, &k) && !memcmp(&k, &key, sizeof k);
    hc_unlock();
    return found;
}
