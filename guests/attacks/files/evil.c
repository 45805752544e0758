/* libfileevil: an isolated library that attacks the file services with raw system calls (tests/test_file_attacks.py).
 * file_attack(op) takes its path from the gate buffer and prints "evil OP -> RESULT" (-errno on failure). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <twz.h>

static long raw(long n, long a, long b, long c)
{
    long r = syscall(n, a, b, c);
    return r < 0 ? -errno : r;
}

long file_attack(long op)
{
    static char path[1024];
    static char buffer[256];
    memcpy(path, twz_gate_buffer(), sizeof path - 1);
    long fd, result = 0;
    switch (op) {
    case 0: /* read the file */
        fd = raw(SYS_open, (long)path, O_RDONLY, 0);
        result = fd < 0 ? fd : raw(SYS_read, fd, (long)buffer, sizeof buffer - 1);
        break;
    case 1: /* overwrite it */
        fd = raw(SYS_open, (long)path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        result = fd < 0 ? fd : raw(SYS_write, fd, (long)"PWNED", 5);
        if (fd >= 0)
            raw(SYS_close, fd, 0, 0);
        break;
    case 2: /* delete it */
        result = raw(SYS_unlink, (long)path, 0, 0);
        break;
    case 3: /* seek far beyond any file, then write */
        fd = raw(SYS_open, (long)path, O_RDWR | O_CREAT, 0644);
        result = raw(SYS_lseek, fd, 0x4000000000000000L, SEEK_SET);
        printf("evil seek -> %ld, write -> %ld\n", result, raw(SYS_write, fd, (long)"x", 1));
        break;
    case 4: /* SEEK_CUR past 2^63 */
        fd = raw(SYS_open, (long)path, O_RDWR | O_CREAT, 0644);
        for (int i = 0; i < 4; i++)
            result = raw(SYS_lseek, fd, 0x7fffffffffffffffL, SEEK_CUR);
        break;
    case 5: /* stat it */
        result = raw(SYS_stat, (long)path, (long)buffer, 0);
        break;
    case 6: /* take it under a name of its own */
        result = raw(SYS_rename, (long)path, (long)"/stolen.txt", 0);
        break;
    case 8: /* descriptors out of range: past the table, negative, a huge F_DUPFD floor */
        printf("evil fds %ld %ld %ld %ld\n", raw(SYS_dup2, 1, -1, 0), raw(SYS_dup2, 1, 1L << 40, 0),
               raw(SYS_fcntl, 1, F_DUPFD, 1L << 40), raw(SYS_close, -5, 0, 0));
        break;
    case 9: /* take every descriptor there is */
        for (long n = 0; (fd = raw(SYS_dup, 2, 0, 0)) >= 0; n++)
            result = n + 1;
        printf("evil took %ld descriptors, then %ld\n", result, fd);
        break;
    case 10: /* a umask for everyone: a channel to another compartment */
        result = raw(SYS_umask, 0777, 0, 0);
        break;
    case 11: /* close the standard streams (its own; its report below is lost with its stdout) */
        for (int i = 0; i < 3; i++)
            raw(SYS_close, i, 0, 0);
        break;
    case 12: { /* list the directory: every name it is shown */
        fd = raw(SYS_open, (long)path, O_RDONLY | O_DIRECTORY, 0);
        long got = fd < 0 ? fd : raw(SYS_getdents64, fd, (long)buffer, sizeof buffer);
        printf("evil sees");
        for (long at = 0; at < got; at += *(unsigned short *)(buffer + at + 16))
            printf(" %s", buffer + at + 19);
        printf("\n");
        result = got < 0 ? got : 0;
        break;
    }
    case 13: /* remove the directory */
        result = raw(SYS_rmdir, (long)path, 0, 0);
        break;
    case 14: /* list "/" into memory at the address PATH gives (another compartment's) */
        fd = raw(SYS_open, (long)"/", O_RDONLY | O_DIRECTORY, 0);
        result = raw(SYS_getdents64, fd, strtol(path, NULL, 0), 4096);
        break;
    case 15: /* change its current directory there, and make a file in it */
        result = raw(SYS_chdir, (long)path, 0, 0);
        fd = raw(SYS_open, (long)"planted.txt", O_WRONLY | O_CREAT, 0644);
        raw(SYS_close, fd, 0, 0);
        break;
    case 16: /* a pipe whose descriptors land at the address PATH gives (another compartment's) */
        result = raw(SYS_pipe2, strtol(path, NULL, 0), 0, 0);
        break;
    case 7: /* put a file of its own over it */
        fd = raw(SYS_open, (long)"/decoy.txt", O_WRONLY | O_CREAT, 0644);
        raw(SYS_close, fd, 0, 0);
        result = raw(SYS_rename, (long)"/decoy.txt", (long)path, 0);
        break;
    }
    printf("evil %ld -> %ld\n", op, result);
    fflush(stdout);
    return result;
}
TWZ_GATE(file_attack);
