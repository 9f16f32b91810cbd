#define _GNU_SOURCE
#include "ccpod_shims.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#endif

int ccpod_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
#if defined(__GLIBC__) || defined(__APPLE__)
    return posix_spawn_file_actions_addchdir_np(actions, path);
#else
    (void)actions; (void)path;
    return ENOSYS;
#endif
}

int ccpod_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
#else
    (void)actions; (void)from;
    return ENOSYS;
#endif
}

int ccpod_pipe_cloexec(int fds[2]) {
#if defined(__linux__)
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
#else
    if (pipe(fds) != 0) return errno;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

int ccpod_syncfs(int fd) {
#if defined(__linux__)
    return syncfs(fd) == 0 ? 0 : errno;
#else
    (void)fd;
    return ENOSYS;
#endif
}

int ccpod_write_out(int fd, long long offset, long long length, int wait) {
#if defined(__linux__)
    unsigned int flags = SYNC_FILE_RANGE_WRITE;
    if (wait) flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
    return sync_file_range(fd, (off_t)offset, (off_t)length, flags) == 0 ? 0 : errno;
#else
    (void)fd; (void)offset; (void)length; (void)wait;
    return ENOSYS;
#endif
}

int ccpod_topdir(const char *path, int set) {
#if defined(__linux__)
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -errno;
    int flags = 0, result;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
        result = -errno;
    } else if (flags & FS_TOPDIR_FL) {
        result = set ? 0 : 1;
    } else if (!set) {
        result = 0;
    } else {
        flags |= FS_TOPDIR_FL;
        result = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0 ? 1 : -errno;
    }
    close(fd);
    return result;
#else
    (void)path; (void)set;
    return -ENOSYS;
#endif
}

int ccpod_spawn_setsid_flag(void) {
#if defined(POSIX_SPAWN_SETSID)
    return POSIX_SPAWN_SETSID;
#else
    return 0;
#endif
}

int ccpod_inotify_open(void) {
#if defined(__linux__)
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    return fd >= 0 ? fd : -errno;
#else
    return -ENOSYS;
#endif
}

int ccpod_inotify_watch(int fd, const char *path) {
#if defined(__linux__)
    int wd = inotify_add_watch(fd, path, IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE);
    return wd >= 0 ? wd : -errno;
#else
    (void)fd; (void)path;
    return -ENOSYS;
#endif
}
