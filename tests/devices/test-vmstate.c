/*
 * test-vmstate.c - wire/vmstate.c on real and hand-made inputs: real QEMU
 * 7.2 sections (description + payload, from tests/fuzz/corpus/vmstate)
 * against what QEMU 7.2's analyze-migration.py printed for them
 * (tests/devices/data), a hand-made payload annotated byte by byte with
 * every value shape, truncation at every offset, one extra byte, single
 * byte corruption, bad descriptions and the limits.
 */
#include <string.h>
#include <json-glib/json-glib.h>
#include "vmstate.h"

#define BASE 1000   /* stream offset of the payloads below */

/* Compact JSON text of @node, for exact comparisons (member order too). */
static char *to_text(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

static JsonNode *parse(const char *text, gssize len)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;

    if (!json_parser_load_from_data(p, text, len, &err)) {
        g_error("test JSON does not parse: %s", err->message);
    }
    return json_node_ref(json_parser_get_root(p));
}

/* The offset a walker error names ("offset N: ..."). */
static uint64_t error_offset(const GError *err)
{
    g_assert_true(g_str_has_prefix(err->message, "offset "));
    return g_ascii_strtoull(err->message + 7, NULL, 10);
}

/* ---- the hand-made device: every shape the walker shows ---- */

static const char golden_desc[] =
    "{\"name\":\"dev\",\"instance_id\":0,\"vmsd_name\":\"dev\",\"version\":1,\"fields\":["
    "{\"name\":\"b\",\"type\":\"bool\",\"size\":1},"
    "{\"name\":\"i8\",\"type\":\"int8\",\"size\":1},"
    "{\"name\":\"u16\",\"type\":\"uint16\",\"size\":2},"
    "{\"name\":\"le\",\"type\":\"int32 le\",\"size\":4},"
    "{\"name\":\"i64\",\"type\":\"int64\",\"size\":8},"
    "{\"name\":\"eq\",\"type\":\"uint8 equal\",\"size\":1},"
    "{\"name\":\"buf\",\"type\":\"buffer\",\"size\":3},"
    "{\"name\":\"t\",\"type\":\"timer\",\"size\":8},"
    "{\"name\":\"np\",\"type\":\"nullptr\",\"size\":1},"
    "{\"name\":\"opaque\",\"type\":\"virtio\",\"size\":2},"
    "{\"name\":\"wide\",\"type\":\"int32\",\"size\":9},"
    "{\"name\":\"arr\",\"array_len\":3,\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"st\",\"type\":\"struct\",\"struct\":{\"vmsd_name\":\"inner\",\"version\":1,"
      "\"fields\":[{\"name\":\"x\",\"type\":\"uint32\",\"size\":4}],"
      "\"subsections\":[{\"vmsd_name\":\"inner/sub\",\"version\":2,"
        "\"fields\":[{\"name\":\"y\",\"type\":\"uint8\",\"size\":1}]}]},\"size\":20},"
    "{\"name\":\"sa\",\"index\":0,\"type\":\"struct\",\"struct\":{\"vmsd_name\":\"e\","
      "\"version\":1,\"fields\":[{\"name\":\"v\",\"type\":\"uint16\",\"size\":2}]},\"size\":2},"
    "{\"name\":\"sa\",\"index\":1,\"type\":\"struct\",\"struct\":{\"vmsd_name\":\"e\","
      "\"version\":1,\"fields\":[{\"name\":\"v\",\"type\":\"uint16\",\"size\":2}]},\"size\":2},"
    "{\"name\":\"dup\",\"type\":\"uint8\",\"size\":1},"
    "{\"name\":\"dup\",\"type\":\"uint8\",\"size\":1}],"
    "\"subsections\":[{\"vmsd_name\":\"dev/extra\",\"version\":1,"
      "\"fields\":[{\"name\":\"z\",\"type\":\"int16\",\"size\":2}]}]}";

static const uint8_t golden_payload[] = {
    0x01,                                           /* b: bool, true */
    0xff,                                           /* i8: int8 -1 */
    0x12, 0x34,                                     /* u16 */
    0x00, 0x00, 0x00, 0x05,                         /* le: "int32 le" is big-endian */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* i64: -2 */
    0x80,                                           /* eq: "uint8 equal" shown signed */
    0x0a, 0x0b, 0x0c,                               /* buf */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* t: timer not armed */
    0x30,                                           /* np: VMS_NULLPTR_MARKER */
    0xde, 0xad,                                     /* opaque: unknown type */
    0x80, 0, 0, 0, 0, 0, 0, 0, 0,                   /* wide: 9-byte int, -2^71 */
    0x01, 0x02, 0x03,                               /* arr[0..2] */
    0x00, 0x00, 0x00, 0x07,                         /* st.x */
    0x05, 0x09, 'i', 'n', 'n', 'e', 'r', '/', 's', 'u', 'b', /* subsection inner/sub */
    0x00, 0x00, 0x00, 0x02,                         /*   its version */
    0x09,                                           /*   y */
    0x00, 0x01,                                     /* sa[0].v */
    0x00, 0x02,                                     /* sa[1].v */
    0x04, 0x05,                                     /* dup, dup */
    0x05, 0x09, 'd', 'e', 'v', '/', 'e', 'x', 't', 'r', 'a', /* subsection dev/extra */
    0x00, 0x00, 0x00, 0x01,                         /*   its version */
    0xff, 0xfe,                                     /*   z: int16 -2 */
};

/* Offsets in golden_payload of bytes the corruption test aims at. */
#define AT_NULLPTR    28
#define AT_SUB_MARK   47
#define AT_LAST_MARK  69

static const char golden_values[] =
    "{\"b\":true,\"i8\":\"0xff (-1)\",\"u16\":\"0x1234\",\"le\":\"0x00000005\","
    "\"i64\":\"0xfffffffffffffffe (-2)\",\"eq\":\"0x80 (-128)\",\"buf\":\"0a 0b 0c\","
    "\"t\":\"ff ff ff ff ff ff ff ff\",\"np\":\"nullptr\",\"opaque\":\"de ad\","
    "\"wide\":\"0x800000000000000000 (-2361183241434822606848)\","
    "\"arr\":[\"0x01\",\"0x02\",\"0x03\"],"
    "\"st\":{\"x\":\"0x00000007\",\"inner/sub\":{\"y\":\"0x09\"}},"
    "\"sa\":[{\"v\":\"0x0001\"},{\"v\":\"0x0002\"}],"
    "\"dup\":[\"0x04\",\"0x05\"],"
    "\"dev/extra\":{\"z\":\"0xfffe (-2)\"}}";

static JsonNode *walk_text(const char *desc, const uint8_t *p, size_t n, GError **err)
{
    g_autoptr(JsonNode) d = parse(desc, -1);

    return mig_vmstate_walk(json_node_get_object(d), p, n, BASE, err);
}

static void test_golden(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) v = NULL;
    g_autoptr(JsonNode) want = parse(golden_values, -1);
    g_autofree char *got_text = NULL, *want_text = NULL;

    g_assert_cmpuint(golden_payload[AT_NULLPTR], ==, 0x30);
    g_assert_cmpuint(golden_payload[AT_SUB_MARK], ==, 0x05);
    g_assert_cmpuint(golden_payload[AT_LAST_MARK], ==, 0x05);
    g_assert_cmpuint(sizeof(golden_payload), ==, 86);
    v = walk_text(golden_desc, golden_payload, sizeof(golden_payload), &err);
    g_assert_no_error(err);
    got_text = to_text(v);
    want_text = to_text(want);
    g_assert_cmpstr(got_text, ==, want_text);
}

/* Every proper prefix ends inside something: TRUNCATED, pointing into it. */
static void check_truncations(const char *desc_text, JsonObject *desc,
                              const uint8_t *p, size_t n)
{
    g_autoptr(JsonNode) parsed = desc_text ? parse(desc_text, -1) : NULL;

    if (parsed) {
        desc = json_node_get_object(parsed);
    }
    for (size_t cut = 0; cut < n; cut++) {
        g_autoptr(GError) err = NULL;
        JsonNode *v = mig_vmstate_walk(desc, p, cut, BASE, &err);

        g_assert_null(v);
        g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_TRUNCATED);
        g_assert_cmpuint(error_offset(err), <=, BASE + cut);
        g_assert_cmpuint(error_offset(err), >=, BASE);
    }
}

static void test_golden_truncated(void)
{
    check_truncations(golden_desc, NULL, golden_payload, sizeof(golden_payload));
}

static void test_golden_extra_byte(void)
{
    g_autoptr(GError) err = NULL;
    uint8_t buf[sizeof(golden_payload) + 1];

    memcpy(buf, golden_payload, sizeof(golden_payload));
    buf[sizeof(golden_payload)] = 0;
    g_assert_null(walk_text(golden_desc, buf, sizeof(buf), &err));
    g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT);
    g_assert_cmpuint(error_offset(err), ==, BASE + sizeof(golden_payload));
    g_assert_nonnull(strstr(err->message, "1 payload bytes left"));
}

/* Flip each byte: never a crash; the framing bytes must be caught. */
static void test_golden_corrupt(void)
{
    for (size_t i = 0; i < sizeof(golden_payload); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) v = NULL;
        uint8_t buf[sizeof(golden_payload)];

        memcpy(buf, golden_payload, sizeof(buf));
        buf[i] ^= 0xff;
        v = walk_text(golden_desc, buf, sizeof(buf), &err);
        bool in_name1 = i >= AT_SUB_MARK + 2 && i < AT_SUB_MARK + 11;
        bool in_name2 = i >= AT_LAST_MARK + 2 && i < AT_LAST_MARK + 11;

        if (i == AT_NULLPTR || i == AT_SUB_MARK || i == AT_LAST_MARK || in_name1 || in_name2) {
            /* caught where the item starts: the marker byte or the subsection */
            g_assert_null(v);
            g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT);
            g_assert_cmpuint(error_offset(err), ==, BASE + (in_name1 ? AT_SUB_MARK :
                             in_name2 ? AT_LAST_MARK : i));
        } else if (i == AT_SUB_MARK + 1 || i == AT_LAST_MARK + 1) {
            /* a subsection name length of 0xf6 runs past the end */
            g_assert_null(v);
            g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_TRUNCATED);
        } else {
            /* values only: still decodes, with other values */
            g_assert_no_error(err);
            g_assert_nonnull(v);
        }
    }
}

static void expect_error(const char *desc, const uint8_t *p, size_t n, int code,
                         const char *words)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(walk_text(desc, p, n, &err));
    g_assert_error(err, MIG_WIRE_ERROR, code);
    if (!strstr(err->message, words)) {
        g_error("'%s' does not say '%s'", err->message, words);
    }
}

static void test_bad_descriptions(void)
{
    static const uint8_t four[4] = { 0 };
    static const uint8_t sub[] = { 0x05, 0x01, 'x', 0, 0, 0, 1 };

    expect_error("{\"name\":\"d\"}", four, 0, MIG_WIRE_ERROR_CORRUPT, "no list of fields");
    expect_error("{\"fields\":{}}", four, 0, MIG_WIRE_ERROR_CORRUPT, "no list of fields");
    expect_error("{\"fields\":[1]}", four, 4, MIG_WIRE_ERROR_CORRUPT, "not an object");
    expect_error("{\"fields\":[{\"type\":\"uint8\",\"size\":1}]}", four, 1,
                 MIG_WIRE_ERROR_CORRUPT, "has no name");
    expect_error("{\"fields\":[{\"name\":\"a\",\"type\":\"uint8\"}]}", four, 1,
                 MIG_WIRE_ERROR_CORRUPT, "has no size");
    expect_error("{\"fields\":[{\"name\":\"a\",\"type\":\"uint8\",\"size\":-1}]}", four, 1,
                 MIG_WIRE_ERROR_CORRUPT, "has no size");
    expect_error("{\"fields\":[{\"name\":\"a\",\"type\":\"uint8\",\"size\":0}]}", four, 0,
                 MIG_WIRE_ERROR_CORRUPT, "size 0");
    expect_error("{\"fields\":[{\"name\":\"a\",\"type\":\"bool\",\"size\":0}]}", four, 0,
                 MIG_WIRE_ERROR_CORRUPT, "size 0");
    expect_error("{\"fields\":[{\"name\":\"a\",\"array_len\":0,\"type\":\"uint8\",\"size\":1}]}",
                 four, 0, MIG_WIRE_ERROR_CORRUPT, "bad array_len");
    expect_error("{\"fields\":[{\"name\":\"a\",\"array_len\":\"2\",\"type\":\"uint8\",\"size\":1}]}",
                 four, 2, MIG_WIRE_ERROR_CORRUPT, "bad array_len");
    expect_error("{\"fields\":[{\"name\":\"a\",\"type\":\"struct\",\"size\":4}]}", four, 4,
                 MIG_WIRE_ERROR_CORRUPT, "no \"struct\" object");
    expect_error("{\"fields\":[{\"name\":\"css\",\"array_len\":4,\"type\":\"struct\","
                 "\"struct\":{},\"size\":1}]}", four, 4,
                 MIG_WIRE_ERROR_UNSUPPORTED, "'css' is described without its fields");
    expect_error("{\"fields\":[{\"name\":\"a\",\"type\":\"struct\",\"size\":3,\"struct\":"
                 "{\"fields\":[{\"name\":\"x\",\"type\":\"uint32\",\"size\":4}]}}]}", four, 4,
                 MIG_WIRE_ERROR_CORRUPT, "took 4 bytes, its description says 3");
    expect_error("{\"fields\":[{\"name\":\"a\",\"type\":\"nullptr\",\"size\":2}]}", four, 2,
                 MIG_WIRE_ERROR_CORRUPT, "NULL pointer");
    expect_error("{\"fields\":[],\"subsections\":{}}", four, 0,
                 MIG_WIRE_ERROR_CORRUPT, "not a list");
    expect_error("{\"fields\":[],\"subsections\":[{\"version\":1}]}", sub, sizeof(sub),
                 MIG_WIRE_ERROR_CORRUPT, "no vmsd_name");
    expect_error("{\"fields\":[],\"subsections\":[{\"vmsd_name\":\"y\",\"fields\":[]}]}",
                 sub, sizeof(sub), MIG_WIRE_ERROR_CORRUPT, "the stream names 'x'");
    expect_error("{\"fields\":[],\"subsections\":[{\"vmsd_name\":\"x\"}]}",
                 sub, sizeof(sub), MIG_WIRE_ERROR_CORRUPT, "no list of fields");
}

static void test_limits(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) top = NULL;
    JsonObject *level;
    static const uint8_t one = 7;

    /* zero-size elements cost no bytes: the value count must stop them */
    expect_error("{\"fields\":[{\"name\":\"a\",\"array_len\":4000000,\"type\":\"buffer\","
                 "\"size\":0}]}", &one, 0, MIG_WIRE_ERROR_LIMIT, "values in one section");

    /* a description built in memory, deeper than any parsed one may be */
    top = json_object_new();
    level = top;
    for (int i = 0; i < (int)MIG_LIMIT_JSON_DEPTH + 5; i++) {
        JsonObject *inner = json_object_new();
        JsonObject *field = json_object_new();
        JsonArray *fields = json_array_new();

        json_object_set_string_member(field, "name", "s");
        json_object_set_string_member(field, "type", "struct");
        json_object_set_object_member(field, "struct", inner);
        json_array_add_object_element(fields, field);
        json_object_set_array_member(level, "fields", fields);
        level = inner;
    }
    json_object_set_array_member(level, "fields", json_array_new());
    g_assert_null(mig_vmstate_walk(top, &one, 0, BASE, &err));
    g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_LIMIT);
    g_assert_nonnull(strstr(err->message, "nests deeper"));
}

static void test_desc_parse(void)
{
    static const char ok[] =
        "{\"page_size\":4096,\"devices\":["
        "{\"name\":\"a\",\"instance_id\":0,\"fields\":[],\"v\":1},"
        "{\"name\":\"a\",\"instance_id\":1,\"fields\":[]},"
        "{\"name\":\"a\",\"instance_id\":0,\"fields\":[],\"v\":2}]}";
    static const char *const bad[] = {
        "", "[]", "{\"devices\":{}}", "{\"devices\":[{\"instance_id\":0}]}",
        "{\"devices\":[{\"name\":\"a\",\"instance_id\":-1}]}",
        "{\"devices\":[{\"name\":\"a\",\"instance_id\":4294967296}]}", "{\"devices\":[",
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(MigVmstateDesc) d = mig_vmstate_desc_parse(ok, strlen(ok), &err);
    g_autoptr(GString) deep = g_string_new("{\"devices\":");
    JsonObject *o;

    g_assert_no_error(err);
    g_assert_cmpuint(mig_vmstate_desc_page_size(d), ==, 4096);
    o = mig_vmstate_desc_lookup(d, "a", 0);
    g_assert_nonnull(o);
    g_assert_cmpint(json_object_get_int_member(o, "v"), ==, 2);   /* the later one */
    g_assert_nonnull(mig_vmstate_desc_lookup(d, "a", 1));
    g_assert_null(mig_vmstate_desc_lookup(d, "a", 2));
    g_assert_null(mig_vmstate_desc_lookup(d, "b", 0));
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;

        g_assert_null(mig_vmstate_desc_parse(bad[i], strlen(bad[i]), &e));
        g_assert_error(e, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT);
    }
    for (guint i = 0; i < MIG_LIMIT_JSON_DEPTH; i++) {
        g_string_append_c(deep, '[');
    }
    for (guint i = 0; i < MIG_LIMIT_JSON_DEPTH; i++) {
        g_string_append_c(deep, ']');
    }
    g_string_append_c(deep, '}');
    g_clear_error(&err);
    g_assert_null(mig_vmstate_desc_parse(deep->str, deep->len, &err));
    g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_LIMIT);
    g_clear_error(&err);
    g_assert_null(mig_vmstate_desc_parse(ok, MIG_LIMIT_VMDESC + 1, &err));
    g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_LIMIT);
    /* every proper prefix is refused */
    for (size_t cut = 0; cut < strlen(ok); cut++) {
        g_autoptr(GError) e = NULL;

        g_assert_null(mig_vmstate_desc_parse(ok, cut, &e));
        g_assert_error(e, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT);
    }
    /* a '[' inside a string does not count */
    g_assert_true(mig_json_nesting_ok("[\"[[[\"]", 7, 1));
    g_assert_false(mig_json_nesting_ok("[[1]]", 5, 1));
}

/*
 * Real sections: corpus file = be16 length of the device's VMDESCRIPTION
 * object, the object, the payload (as the fuzz harness reads them).
 */
static void test_real_sections(void)
{
    const char *corpus = g_getenv("VMSTATE_CORPUS");
    const char *data = g_getenv("DEVICES_DATA");
    g_autoptr(GDir) dir = NULL;
    const char *name;
    guint count = 0;

    if (!corpus || !data) {
        g_test_skip("VMSTATE_CORPUS or DEVICES_DATA not set (run through meson test)");
        return;
    }
    dir = g_dir_open(corpus, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(corpus, name, NULL);
        g_autofree char *stem = g_strndup(name, strlen(name) - 4);
        g_autofree char *want_path = NULL;
        g_autofree char *blob = NULL, *want_text = NULL;
        g_autofree char *got = NULL, *want = NULL;
        g_autoptr(JsonNode) desc = NULL, v = NULL, w = NULL;
        g_autoptr(GError) err = NULL;
        gsize len, jlen;

        if (!g_str_has_prefix(name, "qemu72-") || !g_str_has_suffix(name, ".bin")) {
            continue;
        }
        want_path = g_strdup_printf("%s/%s.expected.json", data, stem);
        g_assert_true(g_file_get_contents(path, &blob, &len, NULL));
        g_assert_true(g_file_get_contents(want_path, &want_text, NULL, NULL));
        g_assert_cmpuint(len, >=, 2);
        jlen = (guint8)blob[0] << 8 | (guint8)blob[1];
        g_assert_cmpuint(len, >=, 2 + jlen);
        desc = parse(blob + 2, (gssize)jlen);
        v = mig_vmstate_walk(json_node_get_object(desc), (const uint8_t *)blob + 2 + jlen,
                             len - 2 - jlen, BASE, &err);
        g_assert_no_error(err);
        w = parse(want_text, -1);
        got = to_text(v);
        want = to_text(w);
        if (strcmp(got, want)) {
            g_error("%s: walker and analyze-migration.py differ:\n%s\n%s", name, got, want);
        }
        check_truncations(NULL, json_node_get_object(desc), (const uint8_t *)blob + 2 + jlen,
                          len - 2 - jlen);
        count++;
    }
    g_test_message("%u real sections", count);
    g_assert_cmpuint(count, >=, 8);
}


/* ---- a description that is not the stream's own (mig_vmstate_walk_foreign) ---- */

/*
 * The hand-made device with its opaque field as a "buffer": a "virtio"
 * field's size is only its own stream's, which the foreign walk refuses
 * (test_foreign_unknown_length).
 */
static char fixed_desc[sizeof(golden_desc) + 16];

static void make_fixed_desc(void)
{
    g_autoptr(GString) d = g_string_new(golden_desc);

    g_assert_cmpuint(g_string_replace(d, "\"type\":\"virtio\"", "\"type\":\"buffer\"", 0), ==, 1);
    g_assert_cmpuint(d->len, <, sizeof(fixed_desc));
    memcpy(fixed_desc, d->str, d->len + 1);
}

static JsonNode *foreign_text(const char *desc, uint32_t version, const uint8_t *p, size_t n,
                              GError **err)
{
    g_autoptr(JsonNode) d = parse(desc, -1);

    return mig_vmstate_walk_foreign(json_node_get_object(d), version, p, n, BASE, NULL, err);
}

static void expect_foreign_error(const char *desc, uint32_t version, const uint8_t *p, size_t n,
                                 int code, uint64_t offset, const char *words)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(foreign_text(desc, version, p, n, &err));
    g_assert_error(err, MIG_WIRE_ERROR, code);
    g_assert_cmpuint(error_offset(err), ==, offset);
    if (!strstr(err->message, words)) {
        g_error("'%s' does not say '%s'", err->message, words);
    }
}

/* The reference describes the same subsections: the same values as the own walk. */
static void test_foreign_golden(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) v = foreign_text(fixed_desc, 1, golden_payload,
                                         sizeof(golden_payload), &err);
    g_autoptr(JsonNode) want = parse(golden_values, -1);
    g_autofree char *got_text = NULL, *want_text = NULL;

    g_assert_no_error(err);
    got_text = to_text(v);
    want_text = to_text(want);
    g_assert_cmpstr(got_text, ==, want_text);
}

/* Never a layout of another version. */
static void test_foreign_version(void)
{
    g_autoptr(GString) nover = g_string_new(fixed_desc);

    expect_foreign_error(fixed_desc, 2, golden_payload, sizeof(golden_payload),
                         MIG_WIRE_ERROR_UNSUPPORTED, BASE,
                         "the description is of version 1, the section is version 2");
    g_string_replace(nover, "\"vmsd_name\":\"dev\",\"version\":1,", "\"vmsd_name\":\"dev\",", 1);
    expect_foreign_error(nover->str, 1, golden_payload, sizeof(golden_payload),
                         MIG_WIRE_ERROR_UNSUPPORTED, BASE, "gives no version");
}

/* The stream decides which subsections follow; the reference only describes them. */
static void test_foreign_subsections(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) v = NULL, own = NULL;
    g_autoptr(GString) no_extra = g_string_new(fixed_desc);
    g_autoptr(GString) old_sub = g_string_new(fixed_desc);
    g_autoptr(GString) more = g_string_new(fixed_desc);
    uint8_t buf[sizeof(golden_payload)];

    /* dev/extra not sent: fine by the reference, which describes it */
    v = foreign_text(fixed_desc, 1, golden_payload, AT_LAST_MARK, &err);
    g_assert_no_error(err);
    g_assert_false(json_object_has_member(json_node_get_object(v), "dev/extra"));
    g_assert_true(json_object_has_member(json_node_get_object(v), "dup"));
    /* the own walk, whose description says it was sent, refuses that */
    own = walk_text(fixed_desc, golden_payload, AT_LAST_MARK, &err);
    g_assert_null(own);
    g_clear_error(&err);

    /* sent, but the reference never sent it: not judged */
    g_string_replace(no_extra, ",\"subsections\":[{\"vmsd_name\":\"dev/extra\"",
                     ",\"subsections\":[{\"vmsd_name\":\"dev/other\"", 1);
    expect_foreign_error(no_extra->str, 1, golden_payload, sizeof(golden_payload),
                         MIG_WIRE_ERROR_UNSUPPORTED, BASE + AT_LAST_MARK,
                         "no description of subsection 'dev/extra'");
    /* a subsection of another version */
    g_string_replace(old_sub, "\"vmsd_name\":\"inner/sub\",\"version\":2",
                     "\"vmsd_name\":\"inner/sub\",\"version\":1", 1);
    expect_foreign_error(old_sub->str, 1, golden_payload, sizeof(golden_payload),
                         MIG_WIRE_ERROR_UNSUPPORTED, BASE + AT_SUB_MARK,
                         "subsection 'inner/sub': the description is of version 1, "
                         "the stream sends version 2");
    /* the reference sent more than this stream: the rest is not required */
    g_string_replace(more, "\"subsections\":[{\"vmsd_name\":\"dev/extra\"",
                     "\"subsections\":[{\"vmsd_name\":\"dev/first\",\"version\":1,"
                     "\"fields\":[{\"name\":\"q\",\"type\":\"uint64\",\"size\":8}]},"
                     "{\"vmsd_name\":\"dev/extra\"", 1);
    g_clear_pointer(&v, json_node_unref);
    v = foreign_text(more->str, 1, golden_payload, sizeof(golden_payload), &err);
    g_assert_no_error(err);
    g_assert_true(json_object_has_member(json_node_get_object(v), "dev/extra"));

    /* a subsection name not under this level's vmsd_name is not a subsection (QEMU) */
    memcpy(buf, golden_payload, sizeof(buf));
    buf[AT_LAST_MARK + 2] = 'x';        /* "xev/extra" */
    expect_foreign_error(fixed_desc, 1, buf, sizeof(buf), MIG_WIRE_ERROR_CORRUPT,
                         BASE + AT_LAST_MARK, "17 payload bytes left");
}

/* A 0x05 that starts no subsection is the next field's data, as in QEMU. */
static void test_foreign_mark_as_data(void)
{
    static const char desc[] =
        "{\"vmsd_name\":\"dev\",\"version\":3,\"fields\":["
        "{\"name\":\"s\",\"type\":\"struct\",\"size\":1,\"struct\":{\"vmsd_name\":\"in\","
        "\"version\":1,\"fields\":[{\"name\":\"a\",\"type\":\"uint8\",\"size\":1}]}},"
        "{\"name\":\"b\",\"type\":\"uint16\",\"size\":2},"
        "{\"name\":\"c\",\"type\":\"uint8\",\"size\":1}]}";
    static const uint8_t payload[] = { 0x01, 0x05, 0x01, 0x05 };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) v = foreign_text(desc, 3, payload, sizeof(payload), &err);
    g_autoptr(JsonNode) own = walk_text(desc, payload, sizeof(payload), &err);
    g_autofree char *a = NULL, *b = NULL;

    g_assert_no_error(err);
    a = to_text(v);
    b = to_text(own);
    g_assert_cmpstr(a, ==, b);
    g_assert_cmpstr(a, ==, "{\"s\":{\"a\":\"0x01\"},\"b\":\"0x0501\",\"c\":\"0x05\"}");
}

/*
 * Every proper prefix but the one that stops before the optional
 * dev/extra fails, with an offset inside the prefix, and never as
 * "not judged" (UNSUPPORTED): a short payload is a payload that does not fit.
 */
static void test_foreign_truncated(void)
{
    for (size_t cut = 0; cut < sizeof(golden_payload); cut++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) v = foreign_text(fixed_desc, 1, golden_payload, cut, &err);

        if (cut == AT_LAST_MARK) {
            g_assert_no_error(err);
            continue;
        }
        g_assert_null(v);
        g_assert_nonnull(err);
        g_assert_true(err->domain == MIG_WIRE_ERROR);
        g_assert_cmpint(err->code, !=, MIG_WIRE_ERROR_UNSUPPORTED);
        g_assert_cmpuint(error_offset(err), >=, BASE);
        g_assert_cmpuint(error_offset(err), <=, BASE + cut);
    }
}

/* A field whose length only its device knows: refused, unless it is the last. */
static void test_foreign_unknown_length(void)
{
    static const char last[] =
        "{\"vmsd_name\":\"vn\",\"version\":11,\"fields\":["
        "{\"name\":\"a\",\"type\":\"uint8\",\"size\":1},"
        "{\"name\":\"vdev\",\"type\":\"virtio\",\"size\":3}]}";
    static const uint8_t payload[] = { 0x07, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) d = parse(last, -1);
    g_autoptr(JsonNode) v = NULL;
    g_autofree char *text = NULL;
    bool exact = true;

    expect_foreign_error(golden_desc, 1, golden_payload, sizeof(golden_payload),
                         MIG_WIRE_ERROR_UNSUPPORTED, BASE + 29,
                         "field 'opaque' of 'dev' is of type 'virtio'");
    /* the last field: the rest of the payload, whatever the reference's size */
    v = mig_vmstate_walk_foreign(json_node_get_object(d), 11, payload, sizeof(payload), BASE,
                                 &exact, &err);
    g_assert_no_error(err);
    g_assert_false(exact);
    text = to_text(v);
    g_assert_cmpstr(text, ==, "{\"a\":\"0x07\",\"vdev\":\"aa bb cc dd ee\"}");
    /* fixed types only: exact */
    g_clear_pointer(&v, json_node_unref);
    v = foreign_text(fixed_desc, 1, golden_payload, sizeof(golden_payload), &err);
    g_assert_no_error(err);
    {
        g_autoptr(JsonNode) d2 = parse(fixed_desc, -1);
        g_autoptr(JsonNode) v2 = mig_vmstate_walk_foreign(json_node_get_object(d2), 1,
                                                          golden_payload,
                                                          sizeof(golden_payload), BASE,
                                                          &exact, &err);
        g_assert_no_error(err);
        g_assert_nonnull(v2);
        g_assert_true(exact);
    }
}

/* Real 7.2 sections: the foreign walk with their own description is the own walk. */
static void test_foreign_real_sections(void)
{
    const char *corpus = g_getenv("VMSTATE_CORPUS");
    g_autoptr(GDir) dir = NULL;
    const char *name;
    guint count = 0;

    if (!corpus) {
        g_test_skip("VMSTATE_CORPUS not set (run through meson test)");
        return;
    }
    dir = g_dir_open(corpus, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(corpus, name, NULL);
        g_autofree char *blob = NULL, *a = NULL, *b = NULL;
        g_autoptr(JsonNode) desc = NULL, v = NULL, w = NULL;
        g_autoptr(GError) err = NULL;
        JsonObject *o;
        gsize len, jlen;

        if (!g_str_has_prefix(name, "qemu72-") || !g_str_has_suffix(name, ".bin")) {
            continue;
        }
        g_assert_true(g_file_get_contents(path, &blob, &len, NULL));
        jlen = (guint8)blob[0] << 8 | (guint8)blob[1];
        g_assert_cmpuint(len, >=, 2 + jlen);
        desc = parse(blob + 2, (gssize)jlen);
        o = json_node_get_object(desc);
        v = mig_vmstate_walk(o, (const uint8_t *)blob + 2 + jlen, len - 2 - jlen, BASE, &err);
        g_assert_no_error(err);
        w = mig_vmstate_walk_foreign(o, (uint32_t)json_object_get_int_member(o, "version"),
                                     (const uint8_t *)blob + 2 + jlen, len - 2 - jlen, BASE,
                                     NULL, &err);
        g_assert_no_error(err);
        a = to_text(v);
        b = to_text(w);
        g_assert_cmpstr(a, ==, b);
        count++;
    }
    g_assert_cmpuint(count, >=, 8);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    make_fixed_desc();
    g_test_add_func("/vmstate/golden", test_golden);
    g_test_add_func("/vmstate/golden-truncated", test_golden_truncated);
    g_test_add_func("/vmstate/golden-extra-byte", test_golden_extra_byte);
    g_test_add_func("/vmstate/golden-corrupt", test_golden_corrupt);
    g_test_add_func("/vmstate/bad-descriptions", test_bad_descriptions);
    g_test_add_func("/vmstate/limits", test_limits);
    g_test_add_func("/vmstate/desc-parse", test_desc_parse);
    g_test_add_func("/vmstate/real-sections", test_real_sections);
    g_test_add_func("/vmstate/foreign-golden", test_foreign_golden);
    g_test_add_func("/vmstate/foreign-version", test_foreign_version);
    g_test_add_func("/vmstate/foreign-subsections", test_foreign_subsections);
    g_test_add_func("/vmstate/foreign-mark-as-data", test_foreign_mark_as_data);
    g_test_add_func("/vmstate/foreign-truncated", test_foreign_truncated);
    g_test_add_func("/vmstate/foreign-unknown-length", test_foreign_unknown_length);
    g_test_add_func("/vmstate/foreign-real-sections", test_foreign_real_sections);
    return g_test_run();
}
