/* libshape: needs libcolor; returns libcolor's function as a pointer (a cross-library function pointer). */
#include <stdio.h>
#include <stdlib.h>

extern int color_count;
const char *color_name(int index);

typedef const char *(*namer_fn)(int);

struct shape {
    int sides;
    const char *color;
};

namer_fn shape_namer(void)
{
    return color_name;
}

struct shape *shape_new(int sides)
{
    struct shape *shape = malloc(sizeof *shape);
    shape->sides = sides;
    shape->color = color_name(sides);
    color_count++;
    return shape;
}

int shape_sides(const struct shape *shape) { return shape->sides; }
const char *shape_color(const struct shape *shape) { return shape->color; }

__attribute__((constructor)) static void shape_init(void) { puts("init libshape"); }
__attribute__((destructor)) static void shape_fini(void) { puts("fini libshape"); }
