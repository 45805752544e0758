/* fileattack OP PATH [hold]: the program creates /mine.txt and /pdir/secret.txt (its own files, in a directory of its
 * own), then has the isolated libfileevil attack PATH with OP (evil.c); with "hold" it keeps PATH open for reading
 * meanwhile. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <twz.h>
#include <unistd.h>

long file_attack(long op);

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    FILE *mine = fopen("/mine.txt", "w");
    fputs("the program's own\n", mine);
    fclose(mine);
    mkdir("/pdir", 0755);
    fclose(fopen("/pdir/secret.txt", "w"));
    int held = -1;
    if (argc > 3) {
        held = open(argv[2], argc > 4 ? O_WRONLY : O_RDONLY);
        printf("program opens %s: %d\n", argv[2], held);
    }
    strncpy(twz_gate_buffer(), argv[2], 1023);
    long result = file_attack(atol(argv[1]));
    mine = fopen("/mine.txt", "r");
    char line[64] = "";
    fgets(line, sizeof line, mine);
    printf("attack %ld; mine: %s", result, line);
    int fd = dup(1); /* the program's own descriptors, umask and directory, whatever the library did with its own */
    char cwd[64] = "";
    printf("program dup %d umask %o cwd %s secret %d\n", fd > 2, umask(022), getcwd(cwd, sizeof cwd),
           access("/pdir/secret.txt", F_OK));
    return 0;
}
