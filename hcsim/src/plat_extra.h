/* hcsim: the few OS services the emulator needs beyond plat.h (whose API is fixed):
 * descriptor duplication, the host environment, and directory trees for the
 * computestorage emulation. A Win32 port replaces plat_extra_posix.c as well. */
#ifndef HCSIM_PLAT_EXTRA_H
#define HCSIM_PLAT_EXTRA_H

#include <stddef.h>
#include <stdint.h>

/* A close-on-exec duplicate of fd, or -1. */
int px_dup(int fd);
/* Atomically replaces what fd refers to by /dev/null (so the previous object loses this
 * reference) while the descriptor number stays valid. 0 or errno. */
int px_null_over(int fd);
/* Writes all of buf; 0 or errno. */
int px_write_all(int fd, const void *buf, size_t len);
/* The host environment (NULL-terminated), read-only. */
char *const *px_environ(void);
/* Directories. 0 or errno. */
int px_is_dir(const char *path);
int px_mkdirs(const char *path);            /* like mkdir -p */
int px_rmtree(const char *path);
int px_copytree(const char *src, const char *dst); /* dst created; files copied */
/* A descriptor that refers to an open regular file (used for VHD "handles"). */
int px_fd_is_regular_file(intptr_t fd);
int px_pread_all(int fd, void *buf, size_t len, uint64_t off);   /* bytes read or -1 */
int px_pwrite_all(int fd, const void *buf, size_t len, uint64_t off); /* 0 or errno */

#endif
