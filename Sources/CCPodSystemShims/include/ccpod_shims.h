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

/* ext4's top-of-hierarchy flag of a folder (FS_TOPDIR_FL, as chattr +T): each folder
   made in a marked one goes to a block group of its own choosing instead of its
   parent's. With set, marks it: 1 when it was set now, 0 when it already was. Without,
   reads it: 1 or 0. Either returns -errno where the file system has no such flag
   (-ENOTTY, -EOPNOTSUPP); -ENOSYS off Linux. */
int ccpod_topdir(const char *path, int set);

/* The posix_spawn flag that starts the child in a new session (setsid), or 0 where
   the platform has none. */
int ccpod_spawn_setsid_flag(void);
/* inotify (Linux): a non-blocking, close-on-exec instance, and a watch on a folder for
   files created, written, moved or deleted in it. Each returns the descriptor or
   -errno; -ENOSYS elsewhere. */
int ccpod_inotify_open(void);
int ccpod_inotify_watch(int fd, const char *path);

/* zstd's streaming decoder from the system's libzstd, loaded at first use
   (zstd_decoder.c). ccpod_zstd_decoder_new returns NULL where the library is missing
   or older than 1.4; its window is at most 2^window_log_max bytes (a frame asking for
   more is an error). ccpod_zstd_decode decodes from src[*src_pos..src_size) into
   dst[*dst_pos..dst_size) and moves both positions: 0 when a frame ended and all of it
   was written out, 1 when more is to come, -1 on damaged input (*error says why). */
#include <stddef.h>
void *ccpod_zstd_decoder_new(int window_log_max);
void ccpod_zstd_decoder_free(void *decoder);
int ccpod_zstd_decode(void *decoder, void *dst, size_t dst_size, size_t *dst_pos,
                      const void *src, size_t src_size, size_t *src_pos, const char **error);

#endif
