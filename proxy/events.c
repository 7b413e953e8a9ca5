/*
 * events.c - the JSON-lines event stream and the human lines on stderr.
 * Each JSON line is written with one write and flushed, so a reader that
 * follows the file never sees half a line.
 */
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct MpEvents {
    FILE *out;                  /* NULL: no JSON events */
    bool owned;
    MpEventsTap tap;
    void *tap_opaque;
};

void mp_events_set_tap(MpEvents *events, MpEventsTap tap, void *opaque)
{
    events->tap = tap;
    events->tap_opaque = opaque;
}

MpEvents *mp_events_new(const char *path, GError **error)
{
    MpEvents *ev = g_new0(MpEvents, 1);

    if (!path) {
        return ev;
    }
    if (strcmp(path, "-") == 0) {
        ev->out = stdout;
        return ev;
    }
    ev->out = fopen(path, "a");
    if (!ev->out) {
        int err = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "--events %s: %s", path, g_strerror(err));
        g_free(ev);
        return NULL;
    }
    ev->owned = true;
    return ev;
}

void mp_events_free(MpEvents *events)
{
    if (!events) {
        return;
    }
    if (events->owned) {
        fclose(events->out);
    } else if (events->out) {
        fflush(events->out);
    }
    g_free(events);
}

JsonObject *mp_events_begin(const char *event, guint session)
{
    JsonObject *o = json_object_new();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *time = g_date_time_format_iso8601(now);

    json_object_set_string_member(o, "event", event);
    json_object_set_int_member(o, "session", session);
    json_object_set_string_member(o, "time", time);
    return o;
}

void mp_events_emit(MpEvents *events, JsonObject *obj, const char *human)
{
    if (human) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *stamp = g_date_time_format(now, "%H:%M:%S.%f");

        /* %f gives microseconds; milliseconds are enough for a person */
        if (strlen(stamp) > 12) {
            stamp[12] = '\0';
        }
        fprintf(stderr, "migproxy %s %s\n", stamp, human);
    }
    if (events && events->tap) {
        events->tap(obj, events->tap_opaque);
    }
    if (events && events->out) {
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);
        g_autofree char *text = NULL;
        g_autofree char *line = NULL;

        json_node_take_object(node, obj);
        text = json_to_string(node, FALSE);
        line = g_strconcat(text, "\n", NULL);
        fwrite(line, 1, strlen(line), events->out);
        fflush(events->out);
        json_node_unref(node);
    } else {
        json_object_unref(obj);
    }
}

void mp_events_finding(MpEvents *events, guint session, const MpFinding *f)
{
    JsonObject *o = mp_events_begin("finding", session);
    g_autoptr(GString) human = g_string_new(NULL);

    g_autoptr(JsonObject) members = mp_finding_to_json(f, "source", "destination");
    g_autoptr(GList) names = json_object_get_members(members);

    for (GList *l = names; l; l = l->next) {
        json_object_set_member(o, l->data, json_object_dup_member(members, l->data));
    }

    g_string_printf(human, "session %u: %s [%s] %s: %s", session,
                    mp_severity_name(f->severity), f->code,
                    f->subject ? f->subject : "-", f->message);
    if (f->source || f->destination) {
        g_string_append_printf(human, " (source: %s, destination: %s)",
                               f->source ? f->source : "-",
                               f->destination ? f->destination : "-");
    }
    if (f->hint) {
        g_string_append_printf(human, "; hint: %s", f->hint);
    }
    mp_events_emit(events, o, human->str);
}
