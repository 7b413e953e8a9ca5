/*
 * capture-dump.h - migdump on a capture file written by migproxy
 * --capture: the summary per connection with timing, or the raw bytes
 * of each connection written back out (--extract), or a picture of it
 * (--timeline).
 */
#ifndef MP_TOOLS_CAPTURE_DUMP_H
#define MP_TOOLS_CAPTURE_DUMP_H

#include <stdbool.h>

/*
 * Print the summary of the capture at @path (as JSON with @json); with
 * @extract_dir, write each connection's bytes per direction there instead;
 * with @timeline, draw its first session as an SVG file there instead.
 * Returns the exit status: 0, 1 (cut short or not rebuildable), 2 (I/O).
 */
int capture_dump(const char *path, bool json, const char *extract_dir, const char *timeline);

#endif
