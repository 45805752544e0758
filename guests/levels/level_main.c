/* Exercises one library of each isolation level; argv[1] picks the library (none/callee/caller/full) and
 * argv[2] what to do: "callee" (the callee reads and writes the caller's data, and reports its stack) or
 * "caller-read" / "caller-write" (the program touches the callee's data directly: a kill if denied). */
#include <stdio.h>
#include <string.h>
#include <twz.h>

#define DECLARE(name)                                                                                  \
    long level_##name##_read(long), level_##name##_write(long), level_##name##_data(void),            \
        level_##name##_shares_stack(long);
DECLARE(none) DECLARE(callee) DECLARE(caller) DECLARE(full)

struct level {
    const char *name;
    long (*read)(long), (*write)(long), (*data)(void), (*shares_stack)(long);
};

#define ENTRY(name) {#name, level_##name##_read, level_##name##_write, level_##name##_data, level_##name##_shares_stack}
static const struct level levels[] = {ENTRY(none), ENTRY(callee), ENTRY(caller), ENTRY(full)};

static long program_word = 7;

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const struct level *level = 0;
    for (unsigned i = 0; i < sizeof levels / sizeof *levels; i++)
        if (!strcmp(levels[i].name, argv[1]))
            level = &levels[i];
    if (!level)
        return 2;
    if (!strcmp(argv[2], "callee")) {
        long local = 0;
        printf("callee reads caller: %ld\n", level->read((long)&program_word));
        long written = level->write((long)&program_word);
        printf("callee writes caller: %ld (word now %ld)\n", written, program_word);
        printf("callee shares caller stack: %ld\n", level->shares_stack((long)&local));
        return 0;
    }
    volatile long *theirs = (volatile long *)level->data();
    if (!strcmp(argv[2], "caller-read"))
        printf("caller reads callee: %ld\n", *theirs);
    else {
        *theirs = 99;
        printf("caller writes callee: %ld\n", *theirs);
    }
    return 0;
}
