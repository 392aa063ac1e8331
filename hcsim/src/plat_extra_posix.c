/* hcsim: POSIX implementation of plat_extra.h. */
#include "plat_extra.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

extern char **environ;

int px_dup(int fd) {
    if (fd < 0) return -1;
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

int px_null_over(int fd) {
    int n = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (n < 0) return errno;
    int rc = 0;
    /* dup2 replaces fd atomically (dup3 would be Linux-only); then restore close-on-exec */
    while (dup2(n, fd) < 0) {
        if (errno != EINTR) {
            rc = errno;
            break;
        }
    }
    if (rc == 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    close(n);
    return rc;
}

int px_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

char *const *px_environ(void) { return environ; }

int px_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int px_mkdirs(const char *path) {
    if (!path || !*path) return EINVAL;
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) return ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
            buf[i] = c;
        }
    }
    return px_is_dir(path) ? 0 : ENOTDIR;
}

int px_rmtree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? 0 : errno;
    DIR *d = opendir(path);
    if (!d) return errno;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= sizeof sub) {
            rc = ENAMETOOLONG;
            break;
        }
        rc = px_rmtree(sub);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0) rc = errno;
    return rc;
}

static int copy_file(const char *src, const char *dst, mode_t mode) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        int e = errno;
        close(in);
        return e;
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = errno;
            break;
        }
        if (r == 0) break;
        if ((rc = px_write_all(out, buf, (size_t)r)) != 0) break;
    }
    close(in);
    if (close(out) != 0 && rc == 0) rc = errno;
    return rc;
}

int px_copytree(const char *src, const char *dst) {
    struct stat st;
    if (lstat(src, &st) != 0) return errno;
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n < 0) return errno;
        target[n] = 0;
        return symlink(target, dst) == 0 ? 0 : errno;
    }
    if (!S_ISDIR(st.st_mode)) return copy_file(src, dst, st.st_mode);
    int rc = px_mkdirs(dst);
    if (rc) return rc;
    DIR *d = opendir(src);
    if (!d) return errno;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char s[PATH_MAX], t[PATH_MAX];
        if ((size_t)snprintf(s, sizeof s, "%s/%s", src, e->d_name) >= sizeof s ||
            (size_t)snprintf(t, sizeof t, "%s/%s", dst, e->d_name) >= sizeof t) {
            rc = ENAMETOOLONG;
            break;
        }
        rc = px_copytree(s, t);
    }
    closedir(d);
    return rc;
}

int px_fd_is_regular_file(intptr_t fd) {
    if (fd < 0 || fd > INT_MAX) return 0;
    struct stat st;
    return fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode);
}

int px_pread_all(int fd, void *buf, size_t len, uint64_t off) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (int)got;
}

int px_pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        done += (size_t)w;
    }
    return 0;
}
