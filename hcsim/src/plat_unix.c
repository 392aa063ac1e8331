/* hcsim platform layer: the Unix sockets of the service mode (plat.h, "Unix sockets of the
 * service mode"). POSIX only; the Windows build compiles nothing of it. */
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "plat.h"

static int unix_addr(const char *path, struct sockaddr_un *a) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (!path || !path[0]) return EINVAL;
    if (strlen(path) >= sizeof a->sun_path) return ENAMETOOLONG;
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

/* Where send() has no MSG_NOSIGNAL (macOS), the socket itself never raises SIGPIPE. */
static void no_sigpipe(int s) {
#ifdef SO_NOSIGPIPE
    int one = 1;
    (void)setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
    (void)s;
#endif
}

static int unix_socket(int *s) {
#ifdef SOCK_CLOEXEC
    *s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    *s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (*s >= 0) (void)fcntl(*s, F_SETFD, FD_CLOEXEC);
#endif
    if (*s >= 0) no_sigpipe(*s);
    return *s < 0 ? errno : 0;
}

/* Besides connect()'s errors: ENOTSOCK when path exists and is not a socket (a file, a
 * folder, or a symlink to one), where connect() alone says ECONNREFUSED as for a stale socket. */
int plat_unix_connect(const char *path, plat_fd *sock) {
    struct sockaddr_un a;
    int s, err = unix_addr(path, &a);
    *sock = PLAT_NO_FD;
    if (err || (err = unix_socket(&s))) return err;
    int r;
    do r = connect(s, (struct sockaddr *)&a, sizeof a);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        err = errno;
        close(s);
        /* connect() refuses a file or folder as it refuses a stale socket: tell them apart */
        struct stat st;
        if (err == ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) err = ENOTSOCK;
        return err;
    }
    *sock = s;
    return 0;
}

/* Binds and listens on path (which must not exist) with the mode and group asked for. */
static int bind_listen(const char *path, int64_t gid, int *out) {
    struct sockaddr_un a;
    int s, err = unix_addr(path, &a);
    if (err || (err = unix_socket(&s))) return err;
    /* the socket file is born without any access for others; then the mode is set */
    mode_t old = umask(0177);
    int r = bind(s, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (r < 0 || (gid >= 0 && (chown(path, (uid_t)-1, (gid_t)gid) < 0 || chmod(path, 0660) < 0)) ||
        listen(s, 128) < 0) {
        err = errno;
        if (r == 0) unlink(path);
        close(s);
        return err;
    }
    *out = s;
    return 0;
}

/* Besides plat.h's: ENOTSOCK when path exists and is not a socket (a symlink included): it is
 * left alone and no lock file is made for it; ELOOP when "<path>.lock" is a symlink or not a
 * regular file (it is never followed nor created through). */
int plat_unix_listen(const char *path, int64_t gid, plat_fd *listener) {
    *listener = PLAT_NO_FD;
    struct sockaddr_un a;
    int err = unix_addr(path, &a);
    if (err) return err;
    /* something else at the path is refused before a lock file is made next to it */
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) return ENOTSOCK;
    size_t n = strlen(path);
    char *lock_path = malloc(n + 6);
    if (!lock_path) return ENOMEM;
    memcpy(lock_path, path, n);
    memcpy(lock_path + n, ".lock", 6);
    /* never through a symlink planted there, and only a regular file */
    int lk = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    free(lock_path);
    if (lk < 0) return errno == EISDIR ? ELOOP : errno;
    if (fstat(lk, &st) < 0 || !S_ISREG(st.st_mode)) {
        err = S_ISREG(st.st_mode) ? errno : ELOOP;
        close(lk);
        return err;
    }
    int r;
    do r = flock(lk, LOCK_EX);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        err = errno;
        close(lk);
        return err;
    }
    if (lstat(path, &st) == 0) {
        plat_fd probe;
        int perr = plat_unix_connect(path, &probe);
        if (perr == 0) {
            close(probe);
            err = EEXIST; /* a live service */
        } else if (!S_ISSOCK(st.st_mode)) {
            err = ENOTSOCK; /* not a socket: not ours to remove */
        } else if (perr == ECONNREFUSED) {
            if (unlink(path) < 0 && errno != ENOENT) err = errno; /* a stale socket */
        } else {
            err = perr;
        }
    }
    if (!err) err = bind_listen(path, gid, listener);
    flock(lk, LOCK_UN);
    close(lk);
    return err;
}

void plat_unix_unlisten(const char *path, plat_fd listener) {
    if (listener < 0) return;
    /* wakes a thread blocked in accept() (Linux), then releases the socket */
    shutdown(listener, SHUT_RDWR);
    close(listener);
    if (path) unlink(path);
}

int plat_unix_peer(plat_fd sock, int64_t *uid, int64_t *gid, int64_t *pid) {
#ifdef SO_PEERCRED
    struct ucred c;
    socklen_t len = sizeof c;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &c, &len) < 0) return errno;
    *uid = c.uid;
    *gid = c.gid;
    *pid = c.pid;
#else
    uid_t u;
    gid_t g;
    if (getpeereid(sock, &u, &g) < 0) return errno;
    *uid = u;
    *gid = g;
    *pid = 0;
#endif
    return 0;
}

/* 1 when the user uid (primary group gid) is a member of group. */
static int member_of(int64_t uid, int64_t gid, int64_t group) {
    if (gid == group) return 1;
    struct passwd pw, *found = NULL;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    char *buf = malloc(size > 0 ? (size_t)size : 16384);
    if (!buf) return 0;
    int in = 0;
    if (getpwuid_r((uid_t)uid, &pw, buf, size > 0 ? (size_t)size : 16384, &found) == 0 && found) {
        int ng = 64;
        gid_t *groups = malloc((size_t)ng * sizeof *groups);
        if (groups && getgrouplist(pw.pw_name, (gid_t)gid, groups, &ng) < 0) {
            gid_t *more = realloc(groups, (size_t)ng * sizeof *groups);
            if (more) groups = more;
            if (!more || getgrouplist(pw.pw_name, (gid_t)gid, groups, &ng) < 0) ng = 0;
        }
        for (int i = 0; groups && i < ng; i++)
            if ((int64_t)groups[i] == group) in = 1;
        free(groups);
    }
    free(buf);
    return in;
}

int plat_unix_admits(int64_t uid, int64_t gid, int64_t self_uid, int64_t group) {
    if (uid == self_uid || uid == 0) return 1;
    return group >= 0 && member_of(uid, gid, group);
}

int plat_unix_accept(plat_fd listener, plat_fd *sock) {
#if defined(__linux__) || defined(__FreeBSD__)
    int s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
#else
    int s = accept(listener, NULL, NULL);
    if (s >= 0) (void)fcntl(s, F_SETFD, FD_CLOEXEC);
#endif
    if (s >= 0) no_sigpipe(s);
    *sock = s;
    return s < 0 ? errno : 0;
}

int plat_unix_recv_timeout(plat_fd sock, uint32_t ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ? errno : 0;
}
#endif
