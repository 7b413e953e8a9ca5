/*
 * qmp.c - blocking QMP client.  One command at a time; replies are told
 * from asynchronous events by their "return"/"error" members.
 */
#include "qmp.h"

#include <string.h>
#include "uri.h"
#include "vmstate.h"
#include "wire-limits.h"

/* A QMP reply line longer than this is not something we asked for. */
#define MP_QMP_MAX_LINE (4u * 1024u * 1024u)

struct MpQmp {
    GSocketConnection *conn;
    GDataInputStream *in;
    GOutputStream *out;
};

void mp_qmp_close(MpQmp *qmp)
{
    if (!qmp) {
        return;
    }
    if (qmp->conn) {
        g_io_stream_close(G_IO_STREAM(qmp->conn), NULL, NULL);
    }
    g_clear_object(&qmp->in);
    g_clear_object(&qmp->conn);
    g_free(qmp);
}

static JsonNode *read_message(MpQmp *qmp, GError **error)
{
    gsize length = 0;
    g_autofree char *line = NULL;
    g_autoptr(JsonParser) parser = NULL;

    line = g_data_input_stream_read_line(qmp->in, &length, NULL, error);
    if (!line) {
        if (error && !*error) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "QMP: the monitor closed the connection");
        }
        return NULL;
    }
    if (length > MP_QMP_MAX_LINE) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                    "QMP: reply of %zu bytes is over the limit", length);
        return NULL;
    }
    /* json-glib recurses per level: a hostile peer must not exhaust the stack */
    if (!mig_json_nesting_ok(line, length, MIG_LIMIT_JSON_DEPTH)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP: a reply nested deeper than %u levels", MIG_LIMIT_JSON_DEPTH);
        return NULL;
    }
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, line, (gssize)length, error)) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP: a message that is not a JSON object");
        return NULL;
    }
    return json_node_copy(json_parser_get_root(parser));
}

MpQmp *mp_qmp_connect(const char *uri, guint timeout_s, GError **error)
{
    g_autoptr(GSocketAddress) address = mp_uri_parse(uri, error);
    g_autoptr(GSocketClient) client = NULL;
    g_autoptr(MpQmp) qmp = NULL;
    g_autoptr(JsonNode) greeting = NULL;
    g_autoptr(JsonNode) reply = NULL;

    if (!address) {
        return NULL;
    }
    client = g_socket_client_new();
    g_socket_client_set_timeout(client, timeout_s);
    qmp = g_new0(MpQmp, 1);
    qmp->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, error);
    if (!qmp->conn) {
        g_prefix_error(error, "QMP %s: ", uri);
        return NULL;
    }
    /* the client's timeout also applies to reads on the connected socket */
    g_socket_set_timeout(g_socket_connection_get_socket(qmp->conn), timeout_s);
    qmp->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(qmp->conn)));
    g_data_input_stream_set_newline_type(qmp->in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
    qmp->out = g_io_stream_get_output_stream(G_IO_STREAM(qmp->conn));
    greeting = read_message(qmp, error);
    if (!greeting || !json_object_has_member(json_node_get_object(greeting), "QMP")) {
        if (greeting) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "QMP %s: no greeting (is another client connected?)", uri);
        } else {
            g_prefix_error(error, "QMP %s: no greeting (is another client connected?): ", uri);
        }
        return NULL;
    }
    reply = mp_qmp_execute(qmp, "qmp_capabilities", NULL, error);
    if (!reply) {
        return NULL;
    }
    return g_steal_pointer(&qmp);
}

JsonNode *mp_qmp_execute(MpQmp *qmp, const char *command, JsonNode *arguments,
                         GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) request = NULL;
    g_autofree char *text = NULL;
    g_autofree char *line = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (arguments) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, json_node_copy(arguments));
    }
    json_builder_end_object(b);
    request = json_builder_get_root(b);
    text = json_to_string(request, FALSE);
    line = g_strconcat(text, "\n", NULL);
    if (!g_output_stream_write_all(qmp->out, line, strlen(line), NULL, NULL, error)) {
        g_prefix_error(error, "QMP %s: ", command);
        return NULL;
    }
    /* skip asynchronous events; a monitor sends only a bounded number */
    for (guint i = 0; i < 1000; i++) {
        g_autoptr(JsonNode) msg = read_message(qmp, error);
        JsonObject *obj;

        if (!msg) {
            g_prefix_error(error, "QMP %s: ", command);
            return NULL;
        }
        obj = json_node_get_object(msg);
        if (json_object_has_member(obj, "return")) {
            return json_node_copy(json_object_get_member(obj, "return"));
        }
        if (json_object_has_member(obj, "error")) {
            JsonObject *e = json_object_get_object_member(obj, "error");

            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "QMP %s: %s", command,
                        e ? json_object_get_string_member_with_default(e, "desc", "error")
                          : "error");
            return NULL;
        }
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "QMP %s: no reply among 1000 messages", command);
    return NULL;
}

static JsonNode *object_arg(const char *k1, const char *v1, const char *k2, const char *v2)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, k1, v1);
    if (k2) {
        json_object_set_string_member(o, k2, v2);
    }
    json_node_take_object(n, o);
    return n;
}

/*
 * Walk query-pci's devices as QEMU's pcibus_get_dev_path names them:
 * "0000:BB:SS.F" on the root bus, then ":SS.F" per bridge level.
 */
static void add_pci_devices(MpFacts *facts, JsonArray *devices, const char *prefix)
{
    for (guint i = 0; devices && i < json_array_get_length(devices); i++) {
        JsonObject *d = json_array_get_object_element(devices, i);
        g_autofree char *path = NULL;
        JsonObject *bridge;

        if (!d) {
            continue;
        }
        path = prefix ?
            g_strdup_printf("%s:%02x.%x", prefix,
                            (unsigned)json_object_get_int_member_with_default(d, "slot", 0),
                            (unsigned)json_object_get_int_member_with_default(d, "function", 0)) :
            g_strdup_printf("0000:%02x:%02x.%x",
                            (unsigned)json_object_get_int_member_with_default(d, "bus", 0),
                            (unsigned)json_object_get_int_member_with_default(d, "slot", 0),
                            (unsigned)json_object_get_int_member_with_default(d, "function", 0));
        g_ptr_array_add(facts->pci_devices, g_strdup(path));
        bridge = json_object_has_member(d, "pci_bridge") ?
                 json_object_get_object_member(d, "pci_bridge") : NULL;
        if (bridge && json_object_has_member(bridge, "devices")) {
            add_pci_devices(facts, json_object_get_array_member(bridge, "devices"), path);
        }

    }
}

MpFacts *mp_qmp_probe(MpQmp *qmp, MpFactsOrigin origin, GError **error)
{
    g_autoptr(MpFacts) facts = mp_facts_new(origin);
    g_autoptr(JsonNode) args = NULL;
    g_autoptr(JsonNode) type = NULL;
    g_autoptr(JsonNode) caps = NULL;
    g_autoptr(JsonNode) params = NULL;
    g_autoptr(JsonNode) ramblock = NULL;
    g_autoptr(JsonNode) pci = NULL;
    g_autoptr(JsonNode) cpus = NULL;
    const char *name;
    JsonObject *po;

    /* The QOM type is "<machine name>-machine": the name the stream carries. */
    args = object_arg("path", "/machine", "property", "type");
    type = mp_qmp_execute(qmp, "qom-get", args, error);
    if (!type) {
        return NULL;
    }
    name = json_node_get_string(type);
    if (!name) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP qom-get /machine type: not a string");
        return NULL;
    }
    facts->machine = g_str_has_suffix(name, "-machine") ?
                     g_strndup(name, strlen(name) - strlen("-machine")) : g_strdup(name);

    caps = mp_qmp_execute(qmp, "query-migrate-capabilities", NULL, error);
    if (!caps) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_ARRAY(caps)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP query-migrate-capabilities: not an array");
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(caps)); i++) {
        JsonObject *c = json_array_get_object_element(json_node_get_array(caps), i);
        const char *cap = c ? json_object_get_string_member_with_default(c, "capability", NULL) : NULL;

        if (cap) {
            mp_facts_set_cap(facts, cap,
                             json_object_get_boolean_member_with_default(c, "state", FALSE));
        }
    }
    facts->caps_complete = true;

    params = mp_qmp_execute(qmp, "query-migrate-parameters", NULL, error);
    if (!params) {
        return NULL;
    }
    po = JSON_NODE_HOLDS_OBJECT(params) ? json_node_get_object(params) : NULL;
    if (po && json_object_has_member(po, "multifd-channels")) {
        facts->has_multifd_channels = true;
        facts->multifd_channels = (uint32_t)json_object_get_int_member(po, "multifd-channels");
    }
    if (po) {
        facts->multifd_compression = g_strdup(
            json_object_get_string_member_with_default(po, "multifd-compression", NULL));
    }

    pci = mp_qmp_execute(qmp, "query-pci", NULL, error);
    if (!pci) {
        return NULL;
    }
    for (guint i = 0; JSON_NODE_HOLDS_ARRAY(pci) &&
                      i < json_array_get_length(json_node_get_array(pci)); i++) {
        JsonObject *bus = json_array_get_object_element(json_node_get_array(pci), i);

        if (bus && json_object_has_member(bus, "devices")) {
            add_pci_devices(facts, json_object_get_array_member(bus, "devices"), NULL);
        }
    }
    facts->has_pci_devices = true;

    cpus = mp_qmp_execute(qmp, "query-cpus-fast", NULL, error);
    if (!cpus) {
        return NULL;
    }
    if (JSON_NODE_HOLDS_ARRAY(cpus)) {
        facts->has_cpus = true;
        facts->cpus = json_array_get_length(json_node_get_array(cpus));
    }

    g_clear_pointer(&args, json_node_unref);
    args = object_arg("command-line", "info ramblock", NULL, NULL);
    ramblock = mp_qmp_execute(qmp, "human-monitor-command", args, error);
    if (!ramblock) {
        return NULL;
    }
    if (!json_node_get_string(ramblock) ||
        !mp_facts_parse_info_ramblock(facts, json_node_get_string(ramblock), error)) {
        if (error && !*error) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "QMP info ramblock: not a string");
        }
        return NULL;
    }
    /* host page size: the smallest page any block uses (ROMs never use huge pages) */
    for (guint i = 0; i < facts->ramblocks->len; i++) {
        const MpRamBlock *rb = g_ptr_array_index(facts->ramblocks, i);

        if (!facts->has_host_page_size || rb->page_size < facts->host_page_size) {
            facts->has_host_page_size = true;
            facts->host_page_size = rb->page_size;
        }
    }
    return g_steal_pointer(&facts);
}

char *mp_qmp_migrate_status(MpQmp *qmp, char **error_desc, GError **error)
{
    g_autoptr(JsonNode) reply = mp_qmp_execute(qmp, "query-migrate", NULL, error);
    JsonObject *o;

    if (error_desc) {
        *error_desc = NULL;
    }
    if (!reply) {
        return NULL;
    }
    o = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    if (!o || !json_object_has_member(o, "status")) {
        return g_strdup("none");
    }
    if (error_desc && json_object_has_member(o, "error-desc")) {
        *error_desc = g_strdup(json_object_get_string_member(o, "error-desc"));
    }
    return g_strdup(json_object_get_string_member_with_default(o, "status", "unknown"));
}
