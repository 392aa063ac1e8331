/* hcsim's Hyper-V sockets (README "Hyper-V sockets"): a running system's endpoints are
 * Unix sockets (Windows: port files of loopback TCP sockets) in a directory of its own,
 * which its processes find in HCSIM_HVSOCKET_DIR. */
#ifndef HCSIM_HVSOCK_H
#define HCSIM_HVSOCK_H

#include <stddef.h>

struct hc_system; /* hcsim_internal.h (this header is also the platform part's) */

/* The environment variable hcsim sets in every process it starts in a system. */
#define HCSIM_HVSOCKET_ENV "HCSIM_HVSOCKET_DIR"

/* s's directory (made on first use, 0700) into out; under lock, s running or paused.
 * 0 or an errno value. */
int hc_hvsock_dir(struct hc_system *s, char *out, size_t n);
/* s went away (hc_sys_exit, under lock): its directory and every socket in it are removed. */
void hc_hvsock_system_gone(struct hc_system *s);
/* HcsimReset (under lock): every directory left is removed. */
void hc_hvsock_reset(void);

/* The platform part (plat_hvsock.c). The base directory of this process's systems
 * ("<TMPDIR or /tmp>/hcsim-hv-<pid>", short enough for a socket path; Windows: in the
 * user's temporary directory) into out: 0 or errno. */
int plat_hvsock_base(char *out, size_t n);
/* Makes the private directory path (0700, this user's; an existing one must be a real
 * directory of this user with no access for others). 0 or errno. */
int plat_private_dir(const char *path);
/* Removes the directories of other bases (below the same directory as base) whose
 * process has died without removing them (a SIGKILL): their pid names no process. */
void plat_hvsock_sweep(const char *base);
/* Removes the (empty) directory path; 0 or errno. */
int plat_rmdir(const char *path);

#endif
