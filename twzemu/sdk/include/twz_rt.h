/* The minimal runtime of the first guests (foundation issue); the linker issue replaces it with libc. */
#ifndef TWZ_RT_H
#define TWZ_RT_H
long twz_write(int fd, const void *buf, unsigned long len);
long twz_puts(const char *s);
unsigned long twz_strlen(const char *s);
__attribute__((noreturn)) void twz_exit(int status);
#endif
