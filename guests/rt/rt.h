/* Private interfaces between the files of libtwzrt (and its crt0). Nothing here is part of the Guest ABI. */
#ifndef TWZ_RT_H_PRIVATE
#define TWZ_RT_H_PRIVATE

#include <stdarg.h>
#include <stddef.h>

#include "twz_startup.h"

/* libtwzrt is a shared library linked without a version script: only the Guest ABI is exported, every
 * helper shared between its files is hidden. */
#define TWZ_HIDDEN __attribute__((visibility("hidden")))

/* Where the formatting core sends its output: a caller's buffer (vsnprintf) or a FILE (vfprintf). */
struct twz_sink {
    void (*put)(struct twz_sink *sink, const char *s, size_t n);
};

/* printf's formatting core: the number of bytes produced, or -1 when that exceeds INT_MAX. */
TWZ_HIDDEN int __twz_vformat(struct twz_sink *sink, const char *fmt, va_list ap);

/* Called by crt0's _start (exported: crt0 is linked into the program, this lives in libtwzrt). main comes
 * from crt0 rather than from a dynamic lookup, so libtwzrt has no undefined symbols. */
__attribute__((noreturn)) void __twz_start(struct twz_startup *startup, int (*main)(int, char **, char **));

/* Called by gcc's general-dynamic TLS sequences (psABI 3.4.1), argument in rdi. */
void *__tls_get_addr(struct twz_tls_index *index);

#endif
