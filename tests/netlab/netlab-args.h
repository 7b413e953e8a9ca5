/*
 * netlab-args.h - argument parsing shared by the lab's two programs
 * (netlab.c, netlab-wan.c), which take the same kinds of numbers.
 */
#ifndef NETLAB_ARGS_H
#define NETLAB_ARGS_H

#include <errno.h>
#include <stdlib.h>

/* Parse a decimal in [min, max] into *out; 0 on success, -1 otherwise. */
static inline int parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

#endif
