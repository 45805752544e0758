/* Directories as a program sees them: mkdir, opendir/readdir/rewinddir, rmdir, chdir, creating in a missing
 * directory or under a file, opening a directory, truncate, tmpnam/tmpfile, limits and usage. Every path is
 * relative to the current directory, so the output is the same in twzemu's object namespace, under a writable
 * mount, and natively (readdir's order is the file system's: the names are sorted before printing). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void said(const char *what, int result) {
    printf("%s: %d %s\n", what, result, result < 0 ? strerror(errno) : "");
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *path) {
    DIR *dir = opendir(path);
    if (!dir) {
        printf("opendir %s: %s\n", path, strerror(errno));
        return;
    }
    char *names[32];
    int count = 0;
    for (struct dirent *entry; count < 32 && (entry = readdir(dir));) {
        names[count] = malloc(strlen(entry->d_name) + 3);
        sprintf(names[count++], "%s%s", entry->d_name, entry->d_type == DT_DIR ? "/" : "");
    }
    qsort(names, count, sizeof *names, by_name);
    printf("%s:", path);
    for (int i = 0; i < count; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    int again = 0;
    rewinddir(dir);
    while (readdir(dir))
        again++;
    printf(" (again %d)\n", again);
    closedir(dir);
}

static long size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(void) {
    said("mkdir d", mkdir("d", 0755));
    said("mkdir d again", mkdir("d", 0755));
    said("mkdir nodir/sub", mkdir("nodir/sub", 0755));
    FILE *f = fopen("nodir/x", "w");
    printf("fopen nodir/x: %s\n", f ? "opened" : strerror(errno));
    f = fopen("d/a.txt", "w");
    fputs("hello", f);
    fclose(f);
    said("mkdir d/sub", mkdir("d/sub", 0700));
    list("d");
    list("d/sub");
    list("nodir");

    mkdir("r1", 0755);
    fclose(fopen("r1/x", "w"));
    mkdir("r1/in", 0755);
    mkdir("r2", 0755);
    mkdir("r3", 0755);
    fclose(fopen("r3/y", "w"));
    said("rename r1 into itself", rename("r1", "r1/in/deeper"));
    said("rename r1 over a full directory", rename("r1", "r3"));
    said("rename r1 over an empty one", rename("r1", "r2"));
    list("r2");
    said("rename a file over a directory", rename("r2/x", "r3"));
    unlink("r2/x");
    rmdir("r2/in");
    rmdir("r2");
    unlink("r3/y");
    rmdir("r3");
    said("rmdir d", rmdir("d"));
    f = fopen("d/a.txt/x", "w");
    printf("fopen d/a.txt/x: %s\n", f ? "opened" : strerror(errno));

    int fd = open("d", O_RDONLY);
    char byte;
    printf("open d: %s\n", fd >= 0 ? "ok" : "failed");
    said("read d", (int)read(fd, &byte, 1));
    close(fd);
    said("open d for writing", open("d", O_WRONLY));
    said("open d/a.txt as a directory", open("d/a.txt", O_RDONLY | O_DIRECTORY));

    said("truncate d/a.txt 2", truncate("d/a.txt", 2));
    printf("size %ld\n", size_of("d/a.txt"));
    fd = open("d/a.txt", O_RDWR);
    said("ftruncate 10", ftruncate(fd, 10));
    close(fd);
    printf("size %ld\n", size_of("d/a.txt"));

    said("chdir d", chdir("d"));
    char text[16] = {0};
    f = fopen("a.txt", "r");
    printf("a.txt from inside d: %s\n", f && fgets(text, sizeof text, f) ? text : strerror(errno));
    fclose(f);
    said("chdir ..", chdir(".."));
    said("chdir d/a.txt", chdir("d/a.txt"));
    said("chdir nope", chdir("nope"));

    said("unlink d/sub", unlink("d/sub"));
    said("remove d/sub", remove("d/sub"));
    said("unlink d/a.txt", unlink("d/a.txt"));
    said("rmdir d", rmdir("d"));
    printf("stat d: %ld\n", size_of("d"));
    said("rmdir nope", rmdir("nope"));

    printf("tmpnam: %s\n", tmpnam(NULL) ? "a name" : "NULL");
    f = tmpfile();
    fputs("scratch\n", f);
    rewind(f);
    printf("tmpfile: %s", fgets(text, sizeof text, f));
    fclose(f);

    struct rlimit limit;
    said("getrlimit NOFILE", getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur >= 64 ? 0 : -1);
    struct rusage usage;
    said("getrusage", getrusage(RUSAGE_SELF, &usage));
    return 0;
}
