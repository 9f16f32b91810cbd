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

#endif
