/* libstore: needs libshape; keeps heap memory across calls (malloc in one call, read in the next). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct shape;
struct shape *shape_new(int sides);
int shape_sides(const struct shape *shape);
const char *shape_color(const struct shape *shape);

static struct shape **shapes;
static char **labels;
static int count;

void store_add(const char *label, int sides)
{
    shapes = realloc(shapes, (count + 1) * sizeof *shapes);
    labels = realloc(labels, (count + 1) * sizeof *labels);
    labels[count] = strdup(label);
    shapes[count] = shape_new(sides);
    count++;
}

void store_dump(void)
{
    for (int i = 0; i < count; i++)
        printf("  %-8s %d sides, %s\n", labels[i], shape_sides(shapes[i]), shape_color(shapes[i]));
}

__attribute__((constructor)) static void store_init(void) { puts("init libstore"); }
__attribute__((destructor)) static void store_fini(void) { puts("fini libstore"); }
