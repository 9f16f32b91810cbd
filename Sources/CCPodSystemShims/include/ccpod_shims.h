#ifndef CCPOD_SHIMS_H
#define CCPOD_SHIMS_H
#include <spawn.h>

/* GNU/BSD extensions Swift's Glibc module does not export. Each returns 0 on
   success or an errno value; where the platform lacks one, it returns ENOSYS. */
int ccpod_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);
int ccpod_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
int ccpod_pipe_cloexec(int fds[2]);
/* Flushes the whole filesystem that holds fd (Linux syncfs); ENOSYS elsewhere. */
int ccpod_syncfs(int fd);
/* Starts writing a file's range to disk (Linux sync_file_range); with wait, first
   waits for the range's earlier write-out to finish. ENOSYS elsewhere. */
int ccpod_write_out(int fd, long long offset, long long length, int wait);

/* The posix_spawn flag that starts the child in a new session (setsid), or 0 where
   the platform has none. */
int ccpod_spawn_setsid_flag(void);
/* inotify (Linux): a non-blocking, close-on-exec instance, and a watch on a folder for
   files created, written, moved or deleted in it. Each returns the descriptor or
   -errno; -ENOSYS elsewhere. */
int ccpod_inotify_open(void);
int ccpod_inotify_watch(int fd, const char *path);

#endif
