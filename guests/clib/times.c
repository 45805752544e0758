/* File times: a new file is modified now, utime, futimens with UTIME_OMIT, a write moves the time on, a
 * directory's time. Relative paths: the same output in the object namespace, under a writable mount and natively
 * (tests/test_clib.py compares them). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
int main(void)
{
    time_t now = time(NULL);
    close(open("t.txt", O_CREAT | O_WRONLY, 0644));
    struct stat st;
    stat("t.txt", &st);
    printf("a new file's mtime is now: %d\n", st.st_mtime >= now - 2 && st.st_mtime <= now + 2);
    struct utimbuf old = {1000000000, 1000000000};
    printf("utime: %d\n", utime("t.txt", &old));
    stat("t.txt", &st);
    printf("mtime %ld\n", (long)st.st_mtime);
    struct timespec both[2] = {{0, UTIME_OMIT}, {1234567890, 5}};
    int fd = open("t.txt", O_RDONLY);
    printf("futimens: %d\n", futimens(fd, both));
    fstat(fd, &st);
    printf("mtime %ld.%09ld\n", (long)st.st_mtime, st.st_mtim.tv_nsec);
    close(fd);
    fd = open("t.txt", O_WRONLY | O_APPEND);
    write(fd, "x", 1);
    close(fd);
    stat("t.txt", &st);
    printf("written: mtime is now again: %d\n", st.st_mtime >= now - 2);
    mkdir("dd", 0755);
    printf("utimensat dir: %d\n", utimensat(AT_FDCWD, "dd", both, 0));
    stat("dd", &st);
    printf("dir mtime %ld\n", (long)st.st_mtime);
    unlink("t.txt");
    rmdir("dd");
    return 0;
}
