/*
 * qmp.h - a small blocking QMP client (json-glib) for the facts the gate
 * needs and the outcome the end event reports.  Blocking on purpose: the
 * daemon runs it in a worker thread (GTask), and `migproxy probe` is a
 * one-shot command.  Every read has a timeout.
 */
#ifndef MP_PROXY_QMP_H
#define MP_PROXY_QMP_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "facts.h"

G_BEGIN_DECLS

typedef struct MpQmp MpQmp;

/*
 * Connect to @uri (tcp:... or unix:...), read the greeting and negotiate
 * capabilities.  @timeout_s bounds every step.  Returns NULL with @error.
 */
MpQmp *mp_qmp_connect(const char *uri, guint timeout_s, GError **error);
void mp_qmp_close(MpQmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpQmp, mp_qmp_close)

/*
 * Run @command with @arguments (an object node or NULL; not consumed).
 * Returns the "return" member (a new node), or NULL with @error holding
 * QMP's error description.  Asynchronous events are skipped.
 */
JsonNode *mp_qmp_execute(MpQmp *qmp, const char *command, JsonNode *arguments,
                         GError **error);

/*
 * The facts the gate compares: machine type (qom-get /machine type),
 * capabilities, parameters and RAM blocks (info ramblock).
 */
MpFacts *mp_qmp_probe(MpQmp *qmp, MpFactsOrigin origin, GError **error);

/*
 * query-migrate's status ("completed", "failed", "active", ... or "none"
 * when the reply is empty) and its error-desc if any.
 */
char *mp_qmp_migrate_status(MpQmp *qmp, char **error_desc, GError **error);

G_END_DECLS

#endif
