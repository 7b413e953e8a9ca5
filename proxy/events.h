/*
 * events.h - what the daemon tells: one human line per event on standard
 * error, and with --events one JSON object per line for programs.  Every
 * JSON line has "event", "session" and "time"; the members of finding,
 * verdict and end events are listed in policy/FINDINGS.md.
 */
#ifndef MP_PROXY_EVENTS_H
#define MP_PROXY_EVENTS_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "findings.h"

G_BEGIN_DECLS

typedef struct MpEvents MpEvents;

/* @path: a file to append to, "-" for standard output, or NULL for none. */
MpEvents *mp_events_new(const char *path, GError **error);
void mp_events_free(MpEvents *events);

/*
 * A new JSON object with "event", "session" and "time" set; fill it and
 * pass it to mp_events_emit(), which consumes it and writes @human (if not
 * NULL) to standard error.
 */
JsonObject *mp_events_begin(const char *event, guint session);
void mp_events_emit(MpEvents *events, JsonObject *obj, const char *human);

void mp_events_finding(MpEvents *events, guint session, const MpFinding *finding);

/* Also hand every event to @tap (before it is written), e.g. --capture. */
typedef void (*MpEventsTap)(JsonObject *obj, void *opaque);
void mp_events_set_tap(MpEvents *events, MpEventsTap tap, void *opaque);

G_END_DECLS

#endif
