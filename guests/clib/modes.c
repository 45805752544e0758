/* Permission bits and the *at calls: open and mkdir modes under the umask, chmod/fchmod, access(X_OK), mkstemp's
 * 0600, a file rewritten keeps its mode, openat/fstatat/mkdirat/unlinkat relative to a directory descriptor,
 * fchdir. Paths are relative, so the output is the same in twzemu's object namespace, under a writable mount
 * and natively (tests/test_clib.py compares them). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void mode_as(const char *path, const char *shown)
{
    struct stat st;
    if (stat(path, &st) != 0)
        printf("%s: %s\n", shown, strerror(errno));
    else
        printf("%s: %s %04o inode %d\n", shown, S_ISDIR(st.st_mode) ? "dir" : "file", st.st_mode & 07777,
               st.st_ino != 0);
}

static void mode_of(const char *path)
{
    mode_as(path, path);
}

int main(void)
{
    umask(022);
    close(open("f", O_CREAT | O_WRONLY, 0666));
    mode_of("f");
    umask(077);
    close(creat("g", 0666));
    mode_of("g");
    umask(022);
    mkdir("d", 0750);
    mode_of("d");

    chmod("f", 0755);
    mode_of("f");
    printf("access X_OK 0755: %d\n", access("f", X_OK));
    FILE *f = fopen("f", "a");
    fputs("more\n", f);
    fclose(f);
    mode_of("f"); /* written again, still 0755 */
    chmod("f", 0644);
    int r = access("f", X_OK);
    printf("access X_OK 0644: %d %s\n", r, r ? strerror(errno) : "");
    int fd = open("g", O_RDWR);
    printf("fchmod: %d\n", fchmod(fd, 0640));
    close(fd);
    mode_of("g");

    char name[] = "tmpXXXXXX";
    close(mkstemp(name));
    mode_as(name, "mkstemp's file");
    unlink(name);

    int dir = open("d", O_RDONLY | O_DIRECTORY);
    close(openat(dir, "inner", O_CREAT | O_WRONLY, 0600));
    struct stat st;
    r = fstatat(dir, "inner", &st, 0);
    printf("fstatat inner: %d %04o\n", r, st.st_mode & 07777);
    printf("mkdirat sub: %d\n", mkdirat(dir, "sub", 0700));
    mode_of("d/sub");
    printf("unlinkat inner: %d, sub: %d\n", unlinkat(dir, "inner", 0), unlinkat(dir, "sub", AT_REMOVEDIR));
    printf("fchdir: %d\n", fchdir(dir));
    char cwd[512];
    getcwd(cwd, sizeof cwd);
    printf("now in: %s\n", strrchr(cwd, '/') + 1);
    chdir("..");
    close(dir);
    r = openat(12345, "x", O_RDONLY);
    printf("openat a bad descriptor: %d %s\n", r, strerror(errno));
    r = mkdir("", 0755);
    printf("mkdir \"\": %d %s\n", r, strerror(errno));

    int a = open("f", O_RDONLY | O_CLOEXEC), b = dup(a), c = fcntl(a, F_DUPFD_CLOEXEC, 0);
    printf("close-on-exec: open %d, dup %d, F_DUPFD_CLOEXEC %d", fcntl(a, F_GETFD), fcntl(b, F_GETFD),
           fcntl(c, F_GETFD));
    fcntl(b, F_SETFD, FD_CLOEXEC);
    fcntl(a, F_SETFD, 0);
    printf(", set %d, cleared %d\n", fcntl(b, F_GETFD), fcntl(a, F_GETFD));
    close(a);
    close(b);
    close(c);

    unlink("f");
    unlink("g");
    rmdir("d");
    return 0;
}
