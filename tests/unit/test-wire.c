/*
 * test-wire - the decoder on hand-made bytes: one golden stream per record
 * kind, written field by field as QEMU lays them out (wire/protocol.h
 * cites where), with the events expected; the edge cases real QEMU rarely
 * writes (page sizes under postcopy, false footers inside device data,
 * PACKAGED bounds, CONTINUE rules); and one test per error the decoder
 * reports, checking its kind and offset.  Every golden stream is also cut
 * at every offset and fed in chunks of 1, 2, 3 and 7 bytes.
 */
#include "decode-util.h"

/* ---- building streams, big-endian as QEMU writes them ---- */

static void put8(GByteArray *b, uint8_t v) { g_byte_array_append(b, &v, 1); }
static void put16(GByteArray *b, uint16_t v) { put8(b, v >> 8); put8(b, v & 0xff); }
static void put32(GByteArray *b, uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
static void put64(GByteArray *b, uint64_t v) { put32(b, v >> 32); put32(b, (uint32_t)v); }
static void put_cstr(GByteArray *b, const char *s) { put8(b, (uint8_t)strlen(s)); g_byte_array_append(b, (const guint8 *)s, (guint)strlen(s)); }
static void put_fill(GByteArray *b, uint8_t v, size_t n) { while (n--) put8(b, v); }

static void put_header(GByteArray *b, const char *machine)
{
    put32(b, QEMU_VM_FILE_MAGIC);
    put32(b, QEMU_VM_FILE_VERSION);
    put8(b, QEMU_VM_CONFIGURATION);
    put32(b, (uint32_t)strlen(machine));
    g_byte_array_append(b, (const guint8 *)machine, (guint)strlen(machine));
}

static void put_caps(GByteArray *b, const char *const *caps, guint n)
{
    put8(b, QEMU_VM_SUBSECTION);
    put_cstr(b, MIG_CONFIG_SUB_CAPABILITIES);
    put32(b, 1);
    put32(b, n);
    for (guint i = 0; i < n; i++) {
        put_cstr(b, caps[i]);
    }
}

static void put_section(GByteArray *b, uint8_t type, uint32_t id, const char *idstr,
                        uint32_t instance, uint32_t version)
{
    put8(b, type);
    put32(b, id);
    if (idstr) {
        put_cstr(b, idstr);
        put32(b, instance);
        put32(b, version);
    }
}

static void put_footer(GByteArray *b, uint32_t id)
{
    put8(b, QEMU_VM_SECTION_FOOTER);
    put32(b, id);
}

static void put_command(GByteArray *b, uint16_t cmd, const void *data, uint16_t len)
{
    put8(b, QEMU_VM_COMMAND);
    put16(b, cmd);
    put16(b, len);
    g_byte_array_append(b, data, len);
}

static void put_block(GByteArray *b, const char *name, uint64_t used)
{
    put_cstr(b, name);
    put64(b, used);
}

/* ---- checking ---- */

/* Whole buffer: the events must be exactly @expected (one per line). */
static void assert_events(GByteArray *b, MigChannelKind ch, const char *expected)
{
    DecodeResult r = decode_buffer(ch, b->data, b->len, 0);

    g_assert_no_error(r.error);
    g_assert_cmpstr(r.events->str, ==, expected);
    /* the same in small chunks, and every prefix fails or ends cleanly */
    for (size_t chunk = 1; chunk <= 7; chunk += (chunk == 3 ? 4 : 1)) {
        DecodeResult c = decode_buffer(ch, b->data, b->len, chunk);
        g_assert_no_error(c.error);
        g_assert_cmpstr(c.events->str, ==, expected);
        decode_result_clear(&c);
    }
    for (size_t cut = 0; cut < b->len; cut++) {
        DecodeResult c = decode_buffer(ch, b->data, cut, 0);
        if (c.error) {
            g_assert_error(c.error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_TRUNCATED);
            g_assert_cmpuint(c.error_offset, <=, cut);
        }
        decode_result_clear(&c);
    }
    decode_result_clear(&r);
}

static void assert_error(GByteArray *b, MigChannelKind ch, MigWireErrorCode code,
                         uint64_t offset, const char *fragment)
{
    DecodeResult r = decode_buffer(ch, b->data, b->len, 0);

    if (!r.error) {
        g_test_message("decoded without error:\n%s", r.events->str);
    }
    g_assert_error(r.error, MIG_WIRE_ERROR, (gint)code);
    g_assert_cmpuint(r.error_offset, ==, offset);
    if (!strstr(r.error->message, fragment)) {
        g_test_message("message: %s", r.error->message);
        g_assert_nonnull(strstr(r.error->message, fragment));
    }
    decode_result_clear(&r);
}

/* ---- golden streams ---- */

static void test_config(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    static const char *const caps[] = { "x-ignore-shared" };

    put_header(b, "pc-q35-7.2");                       /* 0..22 */
    put8(b, QEMU_VM_SUBSECTION);                       /* 23: target page bits, 40 bytes */
    put_cstr(b, MIG_CONFIG_SUB_PAGE_BITS);
    put32(b, 1);
    put32(b, 12);
    put_caps(b, caps, 1);
    put8(b, QEMU_VM_SUBSECTION);                       /* uuid */
    put_cstr(b, MIG_CONFIG_SUB_UUID);
    put32(b, 1);
    for (int i = 0; i < 16; i++) {
        put8(b, (uint8_t)(0xa0 + i));
    }
    put8(b, QEMU_VM_EOF);
    assert_events(b, MIG_CHANNEL_MAIN,
        "0-8 header version=3\n"
        "8-155 configuration machine=pc-q35-7.2 page_bits=12 cap=x-ignore-shared "
        "uuid=a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
        "155-156 eof\n"
        "156-156 end\n");
}

static void test_ram(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    put_header(b, "pc");                               /* 0..14: 8 + 0x07 + be32 2 + "pc" */
    put_section(b, QEMU_VM_SECTION_START, 2, "ram", 0, 4); /* 15..31 */
    put64(b, 0x80020000 | RAM_SAVE_FLAG_MEM_SIZE);     /* 32 */
    put_block(b, "pc.ram", 0x80000000);                /* 40 */
    put_block(b, "/rom@etc/acpi/tables", 0x20000);     /* 55 */
    put64(b, RAM_SAVE_FLAG_EOS);                       /* 84 */
    put_footer(b, 2);                                  /* 92 */
    put_section(b, QEMU_VM_SECTION_PART, 2, NULL, 0, 0); /* 97 */
    put64(b, 0x1000 | RAM_SAVE_FLAG_PAGE);             /* 102 */
    put_cstr(b, "pc.ram");
    put_fill(b, 0x55, 4096);
    put64(b, 0x2000 | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE); /* 4213 */
    put8(b, 0);
    put64(b, 0x3000 | RAM_SAVE_FLAG_XBZRLE | RAM_SAVE_FLAG_CONTINUE); /* 4222 */
    put8(b, ENCODING_FLAG_XBZRLE);
    put16(b, 5);
    put_fill(b, 1, 5);
    put64(b, 0x4000 | RAM_SAVE_FLAG_COMPRESS_PAGE);    /* 4238 */
    put_cstr(b, "/rom@etc/acpi/tables");
    put32(b, 10);
    put_fill(b, 0x78, 10);
    put64(b, RAM_SAVE_FLAG_MULTIFD_FLUSH);             /* 4281: 8 + 1 + 20 + 4 + 10 after 4238 */
    put64(b, RAM_SAVE_FLAG_EOS);                       /* 4289 */
    put_footer(b, 2);                                  /* 4297 */
    put8(b, QEMU_VM_EOF);                              /* 4302 */
    assert_events(b, MIG_CHANNEL_MAIN,
        "0-8 header version=3\n"
        "8-15 configuration machine=pc\n"
        "15-32 section START id=2 idstr=ram instance=0 version=4\n"
        "32-40 ram-total total=0x80020000\n"
        "40-55 ramblock pc.ram used=0x80000000\n"
        "55-84 ramblock /rom@etc/acpi/tables used=0x20000\n"
        "84-84 ramblock-list-end total=0x80020000\n"
        "84-92 ram-eos\n"
        "32-97 section-end START id=2 idstr=ram instance=0 version=4 payload=60\n"
        "97-102 section PART id=2 idstr=ram instance=0 version=4\n"
        "102-4213 ram-page normal pc.ram+0x1000 payload=4096\n"
        "4213-4222 ram-page zero pc.ram+0x2000 payload=0\n"
        "4222-4238 ram-page xbzrle pc.ram+0x3000 payload=5\n"
        "4238-4281 ram-page compressed /rom@etc/acpi/tables+0x4000 payload=10\n"
        "4281-4289 ram-flush\n"
        "4289-4297 ram-eos\n"
        "102-4302 section-end PART id=2 idstr=ram instance=0 version=4 payload=4195\n"
        "4302-4303 eof\n"
        "4303-4303 end\n");
}

/*
 * Under postcopy QEMU adds a page size only for blocks whose page size is
 * not the host's; under x-ignore-shared every block gets its address.
 */
static void test_ramblock_optional_fields(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    static const char *const caps[] = { "x-ignore-shared" };
    uint8_t advise[16] = { 0 };

    advise[5] = 0x20; advise[6] = 0x10;   /* summary 0x201000: 2 MiB | 4 KiB */
    advise[14] = 0x10;                    /* target page 4096 */
    put_header(b, "pc");
    put_caps(b, caps, 1);
    put_command(b, MIG_CMD_POSTCOPY_ADVISE, advise, 16);
    put_section(b, QEMU_VM_SECTION_START, 1, "ram", 0, 4);
    put64(b, 0x600000 | RAM_SAVE_FLAG_MEM_SIZE);
    put_block(b, "huge", 0x200000);  put64(b, 0x200000); put64(b, 0);        /* psize, addr */
    put_block(b, "small", 0x200000); put64(b, 0x100000000ull);                 /* addr only */
    put_block(b, "last", 0x200000);  put64(b, 0x200000); put64(b, 0xfffc0000); /* psize, addr */
    put64(b, RAM_SAVE_FLAG_EOS);
    put_footer(b, 1);
    put8(b, QEMU_VM_EOF);
    assert_events(b, MIG_CHANNEL_MAIN,
        "0-8 header version=3\n"
        "8-67 configuration machine=pc cap=x-ignore-shared\n"
        "67-88 command POSTCOPY_ADVISE len=16 data=00000000002010000000000000001000\n"
        "88-105 section START id=1 idstr=ram instance=0 version=4\n"
        "105-113 ram-total total=0x600000\n"
        "113-142 ramblock huge used=0x200000 page_size=0x200000 addr=0x0\n"
        "142-164 ramblock small used=0x200000 addr=0x100000000\n"
        "164-193 ramblock last used=0x200000 page_size=0x200000 addr=0xfffc0000\n"
        "193-193 ramblock-list-end total=0x600000\n"
        "193-201 ram-eos\n"
        "105-206 section-end START id=1 idstr=ram instance=0 version=4 payload=96\n"
        "206-207 eof\n"
        "207-207 end\n");

    /* postcopy alone: page size decided by the next byte / the list's end */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc");
    put_command(b, MIG_CMD_POSTCOPY_ADVISE, advise, 16);
    put_section(b, QEMU_VM_SECTION_START, 1, "ram", 0, 4);
    put64(b, 0x400000 | RAM_SAVE_FLAG_MEM_SIZE);
    put_block(b, "a", 0x200000);
    put_block(b, "b", 0x200000);
    put64(b, 0x200000);
    put64(b, RAM_SAVE_FLAG_EOS);
    put_footer(b, 1);
    put8(b, QEMU_VM_EOF);
    assert_events(b, MIG_CHANNEL_MAIN,
        "0-8 header version=3\n"
        "8-15 configuration machine=pc\n"
        "15-36 command POSTCOPY_ADVISE len=16 data=00000000002010000000000000001000\n"
        "36-53 section START id=1 idstr=ram instance=0 version=4\n"
        "53-61 ram-total total=0x400000\n"
        "61-71 ramblock a used=0x200000\n"
        "71-89 ramblock b used=0x200000 page_size=0x200000\n"
        "89-89 ramblock-list-end total=0x400000\n"
        "89-97 ram-eos\n"
        "53-102 section-end START id=1 idstr=ram instance=0 version=4 payload=44\n"
        "102-103 eof\n"
        "103-103 end\n");
}

/*
 * A device payload that contains the bytes of its own footer, followed by
 * something that is not a section: the scan must pass over it.
 */
static void test_footer_scan(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    const char *vmdesc = "{\"page_size\": 4096, \"devices\": [{\"name\": \"dev\", "
        "\"instance_id\": 0, \"vmsd_name\": \"dev\", \"version\": 1, \"fields\": "
        "[{\"name\": \"blob\", \"type\": \"buffer\", \"size\": 16}], \"subsections\": "
        "[{\"vmsd_name\": \"dev/sub\", \"version\": 1, \"fields\": [{\"name\": \"x\", "
        "\"type\": \"uint8\", \"size\": 1}]}]}]}";

    put_header(b, "pc");                                  /* 0..14 */
    put_section(b, QEMU_VM_SECTION_FULL, 7, "dev", 0, 1); /* 15..31 */
    put8(b, 0x7e); put32(b, 7); put8(b, 0x99);            /* false footer: bad next type */
    put8(b, 0x7e); put32(b, 7); put8(b, 0x01); put32(b, 0); /* START with empty idstr */
    put8(b, QEMU_VM_SUBSECTION); put_cstr(b, "dev/sub"); put32(b, 1); put8(b, 0x42);
    put_footer(b, 7);                                     /* 59 */
    put8(b, QEMU_VM_EOF);                                 /* 64 */
    put8(b, QEMU_VM_VMDESCRIPTION);
    put32(b, (uint32_t)strlen(vmdesc));
    g_byte_array_append(b, (const guint8 *)vmdesc, (guint)strlen(vmdesc));
    {
        g_autofree char *expected = g_strdup_printf(
            "0-8 header version=3\n"
            "8-15 configuration machine=pc\n"
            "15-32 section FULL id=7 idstr=dev instance=0 version=1\n"
            "32-67 ~section-end FULL id=7 idstr=dev instance=0 version=1 payload=30 scanned\n"
            "67-68 ~eof\n"
            "68-%u ~vmdesc length=%zu\n"
            "%u-%u boundaries-checked scanned=1 confirmed=1 mismatched=0\n"
            "%u-%u end\n", b->len, strlen(vmdesc), b->len, b->len, b->len, b->len);
        assert_events(b, MIG_CHANNEL_MAIN, expected);
    }

    /* A description of another size must not confirm the guess. */
    {
        g_autofree char *bad = g_strdup(vmdesc);
        char *sixteen = strstr(bad, "16");
        sixteen[1] = '7';
        g_byte_array_set_size(b, 68);
        put8(b, QEMU_VM_VMDESCRIPTION);
        put32(b, (uint32_t)strlen(bad));
        g_byte_array_append(b, (const guint8 *)bad, (guint)strlen(bad));
        DecodeResult r = decode_buffer(MIG_CHANNEL_MAIN, b->data, b->len, 0);
        g_assert_no_error(r.error);
        g_assert_nonnull(strstr(r.events->str, "scanned=1 confirmed=0 mismatched=1 first_mismatch=dev"));
        g_assert_false(r.certain);
        decode_result_clear(&r);
    }
}

static void test_packaged(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GByteArray) blob = g_byte_array_new();
    uint8_t ping[4] = { 0, 0, 0, 3 };

    put_command(blob, MIG_CMD_POSTCOPY_LISTEN, NULL, 0);
    put_section(blob, QEMU_VM_SECTION_FULL, 3, "timer", 0, 2);
    put_fill(blob, 0, 24);
    put_footer(blob, 3);
    put_command(blob, MIG_CMD_PING, ping, 4);
    put_command(blob, MIG_CMD_POSTCOPY_RUN, NULL, 0);

    put_header(b, "pc");                                   /* 0..14 */
    put_command(b, MIG_CMD_PACKAGED, (uint8_t[]){ 0, 0, 0, (uint8_t)blob->len }, 4); /* 15 */
    g_byte_array_append(b, blob->data, blob->len);         /* 24..90: LISTEN 5, FULL 19+24+5, PING 9, RUN 5 */
    put8(b, QEMU_VM_EOF);
    assert_events(b, MIG_CHANNEL_MAIN,
        "0-8 header version=3\n"
        "8-15 configuration machine=pc\n"
        "15-24 packaged-begin PACKAGED len=4 data=00000043 blob=67\n"
        "24-29 command POSTCOPY_LISTEN len=0 packaged\n"
        "29-48 section FULL id=3 idstr=timer instance=0 version=2 packaged\n"
        "48-77 ~section-end FULL id=3 idstr=timer instance=0 version=2 payload=24 scanned packaged\n"
        "77-86 ~command PING len=4 data=00000003 packaged\n"
        "86-91 ~command POSTCOPY_RUN len=0 packaged\n"
        "91-91 ~packaged-end\n"
        "91-92 ~eof\n"
        "92-92 ~end\n");
}

static void test_return_path(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    put16(b, MIG_RP_MSG_PONG); put16(b, 4); put32(b, 1);
    put16(b, MIG_RP_MSG_REQ_PAGES_ID); put16(b, 19); put64(b, 0x99a000); put32(b, 0x1000); put_cstr(b, "pc.ram");
    put16(b, MIG_RP_MSG_REQ_PAGES); put16(b, 12); put64(b, 0xa1a000); put32(b, 0x1000);
    put16(b, MIG_RP_MSG_RECV_BITMAP); put16(b, 7); put_cstr(b, "pc.ram");
    put64(b, 16); put_fill(b, 0xff, 16); put64(b, MIG_RP_BITMAP_END_MARK);
    put16(b, MIG_RP_MSG_SWITCHOVER_ACK); put16(b, 0);
    put16(b, MIG_RP_MSG_SHUT); put16(b, 4); put32(b, 0);
    assert_events(b, MIG_CHANNEL_RETURN_PATH,
        "0-8 rp-message pong len=4 data=00000001\n"
        "8-31 rp-message req-pages-id len=19 data=000000000099a0000000100006706"
        "32e72616d\n"
        "31-47 rp-message req-pages len=12 data=0000000000a1a00000001000\n"
        "47-58 rp-message recv-bitmap len=7 data=0670632e72616d\n"
        "58-90 rp-bitmap size=16 end_mark=0x0123456789abcdef\n"
        "90-94 rp-message switchover-ack len=0\n"
        "94-102 rp-message shut len=4 data=00000000\n"
        "102-102 end\n");
}

static void put_mf_packet(GByteArray *b, uint32_t flags, uint32_t alloc, uint32_t normal,
                          uint32_t next, uint64_t num, uint32_t zero, const char *block)
{
    put32(b, MULTIFD_MAGIC); put32(b, MULTIFD_VERSION); put32(b, flags);
    put32(b, alloc); put32(b, normal); put32(b, next); put64(b, num);
    put32(b, zero); put_fill(b, 0, 28);
    g_byte_array_append(b, (const guint8 *)block, (guint)strlen(block));
    put_fill(b, 0, 256 - strlen(block));
    for (uint32_t i = 0; i < 128; i++) {
        put64(b, i < normal + zero ? (uint64_t)i * 4096 : 0);
    }
}

static void test_multifd(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    put32(b, MULTIFD_MAGIC); put32(b, MULTIFD_VERSION);   /* init: 64 bytes */
    put_fill(b, 0x11, 16); put8(b, 2); put_fill(b, 0, 39);
    put_mf_packet(b, 0, 128, 2, 8192, 5, 0, "pc.ram");    /* 64: 7.2 data packet */
    put_fill(b, 0xaa, 8192);
    put_mf_packet(b, MULTIFD_FLAG_SYNC, 128, 0, 8192, 6, 0, "pc.ram"); /* stale size: no payload */
    put_mf_packet(b, 0, 128, 1, 4096, 7, 3, "pc.ram");    /* 9.0+: zero list */
    put_fill(b, 0xbb, 4096);
    put32(b, MULTIFD_MAGIC); put32(b, MULTIFD_VERSION); put32(b, MULTIFD_FLAG_DEVICE_STATE);
    put_fill(b, 0, 0); g_byte_array_append(b, (const guint8 *)"0000:00:02.0/vfio", 17);
    put_fill(b, 0, 256 - 17); put32(b, 0); put32(b, 3); put_fill(b, 0xcc, 3);
    assert_events(b, MIG_CHANNEL_MULTIFD,
        "0-64 multifd-init channel=2 uuid=11111111111111111111111111111111\n"
        "64-9600 multifd-packet flags=0x0 alloc=128 normal=2 zero=0 next=8192 num=5 block=pc.ram\n"
        "9600-10944 multifd-packet flags=0x1 alloc=128 normal=0 zero=0 next=8192 num=6 block=\n"
        "10944-16384 multifd-packet flags=0x0 alloc=128 normal=1 zero=3 next=4096 num=7 block=pc.ram\n"
        "16384-16663 multifd-packet flags=0x40 alloc=0 normal=0 zero=0 next=3 num=0 "
        "block=0000:00:02.0/vfio instance=0\n"
        "16663-16663 end\n");
}

/* ---- errors: kind, offset and what the message names ---- */

static void test_errors_header(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    g_byte_array_append(b, (const guint8 *)"GET / HTTP/1.1\r\n", 16);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 0, "found 0x47455420");

    g_byte_array_set_size(b, 0);
    put32(b, QEMU_VM_FILE_MAGIC); put32(b, 2);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_UNSUPPORTED, 4, "SaveVM v2");

    g_byte_array_set_size(b, 0);
    put32(b, QEMU_VM_FILE_MAGIC); put32(b, 3); put8(b, 7); put32(b, 0x10000);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_LIMIT, 9, "found length 65536");

    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put8(b, QEMU_VM_SUBSECTION); put_cstr(b, MIG_CONFIG_SUB_CAPABILITIES);
    put32(b, 1); put32(b, 1000000);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_LIMIT, 47, "count of 1000000");

    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put8(b, QEMU_VM_SUBSECTION); put_cstr(b, "configuration/new");
    put32(b, 1);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_UNSUPPORTED, 15, "configuration/new");

    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put8(b, 0x42);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 15, "found 0x42");

    g_byte_array_set_size(b, 0);
    put_header(b, "pc");
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_TRUNCATED, 15, "inside the configuration");

    put8(b, QEMU_VM_SECTION_FULL); put32(b, 1); put_cstr(b, "timer"); put32(b, 0); put32(b, 2);
    put_fill(b, 0, 24); put_footer(b, 1);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_TRUNCATED, 63, "before QEMU_VM_EOF");
}

static void test_errors_sections(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    /* PART for an id never started */
    put_header(b, "pc"); put_section(b, QEMU_VM_SECTION_PART, 9, NULL, 0, 0);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 16, "unknown section id 9");

    /* empty idstr */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put8(b, QEMU_VM_SECTION_FULL); put32(b, 1); put8(b, 0);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 20, "empty string");

    /* wrong footer id after RAM EOS */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put_section(b, QEMU_VM_SECTION_START, 2, "ram", 0, 4);
    put64(b, RAM_SAVE_FLAG_MEM_SIZE); put64(b, RAM_SAVE_FLAG_EOS); put_footer(b, 3);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 49, "expected section id 2");

    /* block list longer than the announced total */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put_section(b, QEMU_VM_SECTION_START, 2, "ram", 0, 4);
    put64(b, 0x1000 | RAM_SAVE_FLAG_MEM_SIZE); put_block(b, "pc.ram", 0x2000);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 47, "more than the 0x1000 bytes left");

    /* CONTINUE with no block before it on this channel */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put_section(b, QEMU_VM_SECTION_START, 2, "ram", 0, 4);
    put64(b, RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 32, "CONTINUE");

    /* two page kinds at once */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put_section(b, QEMU_VM_SECTION_START, 2, "ram", 0, 4);
    put64(b, RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 32, "0xa");

    /* the RDMA hook word with another flag */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put_section(b, QEMU_VM_SECTION_START, 2, "ram", 0, 4);
    put64(b, RAM_SAVE_FLAG_HOOK | RAM_SAVE_FLAG_PAGE);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 32, "0x88");

    /* no configuration means no footers: a device payload cannot be delimited */
    g_byte_array_set_size(b, 0);
    put32(b, QEMU_VM_FILE_MAGIC); put32(b, 3);
    put_section(b, QEMU_VM_SECTION_FULL, 1, "timer", 0, 2); put_fill(b, 0, 24);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_LOST, 27, "no section footers");

    /* a record that crosses the end of the PACKAGED blob */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc");
    put_command(b, MIG_CMD_PACKAGED, (uint8_t[]){ 0, 0, 0, 3 }, 4);
    put_command(b, MIG_CMD_POSTCOPY_RUN, NULL, 0);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_CORRUPT, 24, "crosses the end of the PACKAGED");

    /* VMDESCRIPTION over the limit, refused before it is collected */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put8(b, QEMU_VM_EOF); put8(b, QEMU_VM_VMDESCRIPTION);
    put32(b, 0xffffffff);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_LIMIT, 17, "found length 4294967295");

    /* a footer that never comes */
    g_byte_array_set_size(b, 0);
    put_header(b, "pc"); put_section(b, QEMU_VM_SECTION_FULL, 1, "timer", 0, 2);
    put_fill(b, 0, 24);
    assert_error(b, MIG_CHANNEL_MAIN, MIG_WIRE_ERROR_TRUNCATED, 34, "device section payload");
}

static void test_errors_other_channels(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();

    put16(b, 0x99); put16(b, 0);
    assert_error(b, MIG_CHANNEL_RETURN_PATH, MIG_WIRE_ERROR_CORRUPT, 0, "found 0x0099");

    g_byte_array_set_size(b, 0);
    put16(b, MIG_RP_MSG_PONG); put16(b, 600);
    assert_error(b, MIG_CHANNEL_RETURN_PATH, MIG_WIRE_ERROR_LIMIT, 2, "found length 600");

    g_byte_array_set_size(b, 0);
    put16(b, MIG_RP_MSG_RECV_BITMAP); put16(b, 2); put_cstr(b, "a");
    put64(b, UINT64_MAX);
    assert_error(b, MIG_CHANNEL_RETURN_PATH, MIG_WIRE_ERROR_LIMIT, 6, "received-bitmap");

    g_byte_array_set_size(b, 0);
    put32(b, 0x11223345); put32(b, 1); put_fill(b, 0, 56);
    assert_error(b, MIG_CHANNEL_MULTIFD, MIG_WIRE_ERROR_CORRUPT, 0, "found 0x11223345");

    g_byte_array_set_size(b, 0);
    put32(b, MULTIFD_MAGIC); put32(b, 1); put_fill(b, 0, 56);
    put_mf_packet(b, 0, 128, 100, 100 * 4096, 1, 100, "pc.ram");
    assert_error(b, MIG_CHANNEL_MULTIFD, MIG_WIRE_ERROR_CORRUPT, 76, "100 normal and 100 zero");

    g_byte_array_set_size(b, 0);
    put32(b, MULTIFD_MAGIC); put32(b, 1); put_fill(b, 0, 56);
    put_mf_packet(b, 0, 128, 1, 12345, 1, 0, "pc.ram");
    assert_error(b, MIG_CHANNEL_MULTIFD, MIG_WIRE_ERROR_CORRUPT, 84, "found 12345");

    /* preempt channel: pages only, then its EOS */
    g_byte_array_set_size(b, 0);
    put64(b, 0x5000 | RAM_SAVE_FLAG_PAGE); put_cstr(b, "pc.ram"); put_fill(b, 0, 4096);
    put64(b, RAM_SAVE_FLAG_HOOK);
    put64(b, RAM_SAVE_FLAG_EOS);
    assert_events(b, MIG_CHANNEL_PREEMPT,
        "0-4111 ram-page normal pc.ram+0x5000 payload=4096\n"
        "4111-4119 ram-hook\n"
        "4119-4127 ram-eos\n"
        "4127-4127 end\n");
}

/* Bytes fed after finish, and errors that stick. */
static void test_api_contract(void)
{
    MigDecoderConfig cfg = { .channel = MIG_CHANNEL_MAIN };
    MigDecoder *d = mig_decoder_new(&cfg, NULL, NULL);
    GError *err = NULL;
    const uint8_t junk[4] = { 1, 2, 3, 4 };

    g_assert_false(mig_decoder_feed(d, junk, 4, &err));
    g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT);
    g_clear_error(&err);
    g_assert_false(mig_decoder_feed(d, junk, 0, &err));
    g_assert_error(err, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT);
    g_clear_error(&err);
    g_assert_false(mig_decoder_finish(d, &err));
    g_clear_error(&err);
    mig_decoder_free(d);
    g_assert_cmpstr(mig_command_name(77), ==, "unknown (0x4d)");
    g_assert_cmpstr(mig_command_json_name(MIG_CMD_OPEN_RETURN_PATH), ==, "open-return-path");
    g_assert_cmpstr(mig_rp_message_name(MIG_RP_MSG_SWITCHOVER_ACK), ==, "switchover-ack");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/wire/golden/config", test_config);
    g_test_add_func("/wire/golden/ram", test_ram);
    g_test_add_func("/wire/golden/ramblock-optional-fields", test_ramblock_optional_fields);
    g_test_add_func("/wire/golden/footer-scan", test_footer_scan);
    g_test_add_func("/wire/golden/packaged", test_packaged);
    g_test_add_func("/wire/golden/return-path", test_return_path);
    g_test_add_func("/wire/golden/multifd", test_multifd);
    g_test_add_func("/wire/errors/header", test_errors_header);
    g_test_add_func("/wire/errors/sections", test_errors_sections);
    g_test_add_func("/wire/errors/other-channels", test_errors_other_channels);
    g_test_add_func("/wire/api-contract", test_api_contract);
    return g_test_run();
}
