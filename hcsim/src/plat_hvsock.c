/* hcsim platform layer: the private directories of the Hyper-V socket emulation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "hvsock.h"
#include "plat.h"

/* The longest socket path the directory must leave room for: "/" + a GUID + ".g" below a
 * system's directory ("/" + a GUID), within sun_path (108 bytes with its NUL). */
#define SOCKET_TAIL  (1 + 36 + 1 + 36 + 2)
#define SUN_PATH_MAX 107

#ifdef _WIN32
/* Windows: the base is in the user's temporary directory (a per-user directory), and its
 * endpoints are the port files of loopback TCP sockets (README "Hyper-V sockets"). */
int plat_hvsock_base(char *out, size_t n) {
    wchar_t tmp[MAX_PATH + 1];
    DWORD k = GetTempPathW(MAX_PATH + 1, tmp);
    if (!k || k > MAX_PATH) return ENAMETOOLONG;
    while (k > 3 && (tmp[k - 1] == L'\\' || tmp[k - 1] == L'/')) tmp[--k] = 0;
    char dir[3 * MAX_PATH + 1];
    int len = WideCharToMultiByte(CP_UTF8, 0, tmp, -1, dir, (int)sizeof dir, NULL, NULL);
    if (len <= 0) return EINVAL;
    int w = snprintf(out, n, "%s\\hcsim-hv-%lu", dir, (unsigned long)GetCurrentProcessId());
    return w < 0 || (size_t)w >= n ? ENAMETOOLONG : 0;
}

int plat_private_dir(const char *path) {
    if (plat_is_dir(path)) return 0;
    return plat_mkdirs(path);
}

int plat_rmdir(const char *path) { return plat_rmtree(path); }

void plat_hvsock_sweep(const char *base) {
    (void)base; /* a killed process's base stays in the user's temporary directory */
}
#else
#define PREFIX "hcsim-hv-"

/* The directory the bases go in: TMPDIR if the socket paths fit below it, else /tmp
 * (its length into *len, without trailing slashes). */
static const char *temp_dir(size_t *len) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/' || strlen(tmp) + 20 + SOCKET_TAIL > SUN_PATH_MAX) tmp = "/tmp";
    *len = strlen(tmp);
    while (*len > 1 && tmp[*len - 1] == '/') (*len)--;
    return tmp;
}

int plat_hvsock_base(char *out, size_t n) {
    size_t len;
    const char *tmp = temp_dir(&len);
    int w = snprintf(out, n, "%.*s/" PREFIX "%ld", (int)len, tmp, (long)getpid());
    return w < 0 || (size_t)w >= n ? ENAMETOOLONG : 0;
}

void plat_hvsock_sweep(const char *base) {
    const char *slash = strrchr(base, '/');
    if (!slash) return;
    char parent[128];
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - base), base);
    DIR *d = opendir(*parent ? parent : "/");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0) continue;
        char *end = NULL;
        long pid = strtol(e->d_name + strlen(PREFIX), &end, 10);
        if (!end || *end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours) */
        char path[sizeof parent + sizeof e->d_name + 1];
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
            (void)plat_rmtree(path);
    }
    closedir(d);
}

int plat_private_dir(const char *path) {
    if (mkdir(path, 0700) == 0) return 0;
    if (errno != EEXIST) return errno;
    struct stat st;
    if (lstat(path, &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) return EEXIST;
    return 0;
}

int plat_rmdir(const char *path) { return rmdir(path) == 0 ? 0 : errno; }
#endif
