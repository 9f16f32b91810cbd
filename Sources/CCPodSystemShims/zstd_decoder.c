/* zstd's streaming decoder, loaded when first asked for from the system's libzstd
   (dlopen), so that ccpod reads a compressed answer in its own process instead of
   through a zstd child and a pipe. Nothing here is needed: where the library is
   missing or older than 1.4, ccpod_zstd_decoder_new returns NULL and ccpod runs the
   zstd command as before. The few declarations below are zstd's stable API (zstd.h,
   1.4 and later), written out so that building ccpod needs no zstd headers. */
#define _GNU_SOURCE
#include "ccpod_shims.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

typedef struct { const void *src; size_t size; size_t pos; } zstd_in;
typedef struct { void *dst; size_t size; size_t pos; } zstd_out;

static struct {
    void *(*create)(void);
    size_t (*release)(void *);
    size_t (*set_parameter)(void *, int, int);
    size_t (*decompress)(void *, zstd_out *, zstd_in *);
    unsigned (*is_error)(size_t);
    const char *(*error_name)(size_t);
    unsigned (*version)(void);
    int loaded;
} zstd;

/* ZSTD_d_windowLogMax in enum ZSTD_dParameter. */
enum { zstd_window_log_max = 100 };

static void load(void) {
    static const char *const names[] = {
#if defined(__APPLE__)
        "libzstd.1.dylib", "/opt/homebrew/lib/libzstd.1.dylib", "/usr/local/lib/libzstd.1.dylib",
#else
        "libzstd.so.1",
#endif
    };
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && lib == NULL; i++) {
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (lib == NULL) return;
    *(void **)&zstd.create = dlsym(lib, "ZSTD_createDCtx");
    *(void **)&zstd.release = dlsym(lib, "ZSTD_freeDCtx");
    *(void **)&zstd.set_parameter = dlsym(lib, "ZSTD_DCtx_setParameter");
    *(void **)&zstd.decompress = dlsym(lib, "ZSTD_decompressStream");
    *(void **)&zstd.is_error = dlsym(lib, "ZSTD_isError");
    *(void **)&zstd.error_name = dlsym(lib, "ZSTD_getErrorName");
    *(void **)&zstd.version = dlsym(lib, "ZSTD_versionNumber");
    if (!zstd.create || !zstd.release || !zstd.set_parameter || !zstd.decompress || !zstd.is_error ||
        !zstd.error_name || !zstd.version || zstd.version() < 10400) {
        dlclose(lib);
        return;
    }
    zstd.loaded = 1;
}

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

void *ccpod_zstd_decoder_new(int window_log_max) {
    pthread_once(&load_once, load);
    if (!zstd.loaded) return NULL;
    void *context = zstd.create();
    if (context == NULL) return NULL;
    if (zstd.is_error(zstd.set_parameter(context, zstd_window_log_max, window_log_max))) {
        zstd.release(context);
        return NULL;
    }
    return context;
}

void ccpod_zstd_decoder_free(void *decoder) {
    if (decoder != NULL) zstd.release(decoder);
}

int ccpod_zstd_decode(void *decoder, void *dst, size_t dst_size, size_t *dst_pos,
                      const void *src, size_t src_size, size_t *src_pos, const char **error) {
    zstd_out out = { dst, dst_size, *dst_pos };
    zstd_in in = { src, src_size, *src_pos };
    size_t result = zstd.decompress(decoder, &out, &in);
    *dst_pos = out.pos;
    *src_pos = in.pos;
    if (zstd.is_error(result)) {
        *error = zstd.error_name(result);
        return -1;
    }
    *error = NULL;
    return result == 0 ? 0 : 1;
}
