/*
 * devgate.c - the device-state gate and hold of one session (see devgate.h
 * for when a hold starts and ends, and why).
 */
#include "devgate.h"

#include <string.h>
#include "dest-sections.h"
#include "device-layout.h"

typedef struct {
    char *idstr;
    uint32_t instance;
    uint32_t version;
    uint32_t section_id;
    uint8_t type;
    uint64_t offset;
    bool certain;
} Header;

/* A FULL section of the hold, walked with the destination's layout at its end. */
typedef struct {
    char *idstr;
    uint32_t instance;
    uint32_t version;
    uint32_t section_id;
    uint64_t offset;            /* the header's */
    uint64_t payload;           /* stream offset of the payload */
    uint64_t length;
    bool complete;              /* its SECTION_END came */
} Walkable;

typedef enum {
    HOLD_NONE,
    HOLD_ON,
    HOLD_DONE,                  /* one hold per session */
} HoldState;

struct MpDevGate {
    bool hold_all;
    const MpPolicy *policy;
    MpDevGateEmit emit;
    void *opaque;

    const MpFacts *dst;         /* from the verdict on */
    MpReport *report;
    bool decided;

    bool ram_open, ram_setup_done;
    uint32_t ram_id;
    /* before the verdict: every header; after: the suspicious ones of a hold */
    GArray *headers;
    bool switchover_seen;       /* a FULL section after the RAM setup */
    bool resolved, resolved_certain;

    HoldState hold;
    bool package_hold;          /* the hold is a postcopy PACKAGED blob */
    GByteArray *held;
    uint64_t from_offset, from_end;
    gint64 start_us;
    uint64_t held_total;
    bool release_due;
    bool cut;
    char *cut_reason;

    /* the walk with the destination's layouts (dst->layouts) */
    uint64_t fed;               /* main-channel bytes fed to the decoder so far (0: unknown) */
    uint64_t held_base;         /* stream offset of held->data[0] */
    GArray *walkables;          /* Walkable */
    bool walk_due;
};

static void header_clear(gpointer p)
{
    g_free(((Header *)p)->idstr);
}

static void walkable_clear(gpointer p)
{
    g_free(((Walkable *)p)->idstr);
}

MpDevGate *mp_devgate_new(bool hold_all, const MpPolicy *policy, MpDevGateEmit emit,
                          void *opaque)
{
    MpDevGate *g = g_new0(MpDevGate, 1);

    g->hold_all = hold_all;
    g->policy = policy;
    g->emit = emit;
    g->opaque = opaque;
    g->headers = g_array_new(FALSE, TRUE, sizeof(Header));
    g_array_set_clear_func(g->headers, header_clear);
    g->held = g_byte_array_new();
    g->walkables = g_array_new(FALSE, TRUE, sizeof(Walkable));
    g_array_set_clear_func(g->walkables, walkable_clear);
    return g;
}

void mp_devgate_free(MpDevGate *g)
{
    if (!g) {
        return;
    }
    g_array_free(g->headers, TRUE);
    g_array_free(g->walkables, TRUE);
    g_byte_array_unref(g->held);
    g_free(g->cut_reason);
    g_free(g);
}

static char *where_of(const Header *h)
{
    return g_strdup_printf("%s section %u '%s' instance %u at stream offset %" G_GUINT64_FORMAT,
                           mig_section_type_name(h->type), h->section_id, h->idstr, h->instance,
                           h->offset);
}

/*
 * Run every header check on @h into @report; with @certain false, errors
 * become warnings (no verdict rests on a guess).  Returns the first error
 * added, or NULL.  @emit: pass each new finding to the callback.
 */
static const MpFinding *check_header(MpDevGate *g, const Header *h, bool certain,
                                     MpReport *report, bool emit)
{
    g_autofree char *where = where_of(h);
    guint before = mp_report_count(report);
    const MpFinding *first_error = NULL;

    mp_check_late_section(g->dst, h->idstr, h->instance, certain, where, report);
    mp_check_section_arriving(g->dst, h->idstr, h->instance, h->version, where, report);
    for (guint i = before; i < mp_report_count(report); i++) {
        /* the report owns its findings; only severity and message change */
        MpFinding *f = (MpFinding *)mp_report_get(report, i);

        if (!certain && f->severity == MP_SEVERITY_ERROR) {
            g_autofree char *old = f->message;

            f->severity = MP_SEVERITY_WARNING;
            f->message = g_strdup_printf("%s (found after a section boundary the decoder had "
                                         "to guess, so only a warning)", old);
        }
        if (f->severity == MP_SEVERITY_ERROR && !first_error) {
            first_error = f;
        }
        if (emit && g->emit) {
            g->emit(f, g->opaque);
        }
    }
    return first_error;
}

static void want_cut(MpDevGate *g, const MpFinding *f)
{
    if (g->cut) {
        return;
    }
    g->cut = true;
    g->cut_reason = g_strdup_printf("cut before the device state reached the destination: %s",
                                    f->message);
}

/* Would @h fail a check if its boundary were certain?  (A scratch report.) */
static bool suspicious(MpDevGate *g, const Header *h)
{
    g_autoptr(MpReport) scratch = mp_policy_new_report(g->policy);

    return check_header(g, h, true, scratch, false) != NULL;
}

static void start_hold(MpDevGate *g, const MigEvent *ev)
{
    g->hold = HOLD_ON;
    g->from_offset = ev->offset;
    g->from_end = ev->end;
    g->start_us = g_get_monotonic_time();
}

/* The hold's findings are decided: certain errors cut, the rest is released. */
static void resolve(MpDevGate *g, bool certain)
{
    if (g->hold != HOLD_ON) {
        return;
    }
    g->hold = HOLD_DONE;
    g->resolved_certain = certain;
    for (guint i = 0; i < g->headers->len; i++) {
        const Header *h = &g_array_index(g->headers, Header, i);
        const MpFinding *f = check_header(g, h, certain || h->certain, g->report, true);

        if (f) {
            want_cut(g, f);
        }
    }
    g_array_set_size(g->headers, 0);
    if (!g->cut) {
        g->release_due = true;
        if (g->walkables->len && certain) {
            /* the last payload's bytes may be in the chunk not kept yet */
            g->walk_due = true;
        } else if (g->walkables->len) {
            const Walkable *w = &g_array_index(g->walkables, Walkable, 0);
            g_autofree char *where = g_strdup_printf("from stream offset %" G_GUINT64_FORMAT,
                                                     w->offset);
            const MpFinding *f = mp_device_layout_unchecked(
                "device state", 0, where, "its section boundaries are not confirmed",
                g->report);

            if (g->emit) {
                g->emit(f, g->opaque);
            }
        }
    }
}

/* @w's whole payload lies in the @len bytes that start at stream offset @base. */
static bool payload_within(const Walkable *w, uint64_t base, gsize len)
{
    uint64_t end = base + len;

    return w->complete && w->payload >= base && w->length <= end &&
           w->payload <= end - w->length;
}

/*
 * Walk every FULL section of the hold with the destination's layout once
 * their bytes are all in the @len bytes at @data (stream offset @base, or
 * unknown when !@known); @force: they never will be (all that was fed is
 * there), judge what is there.  A section that does not fit cuts.
 */
static void try_walk(MpDevGate *g, const guint8 *data, uint64_t base, gsize len, bool known,
                     bool force)
{
    bool covered = known;

    if (!g->walk_due) {
        return;
    }
    for (guint i = 0; covered && i < g->walkables->len; i++) {
        covered = payload_within(&g_array_index(g->walkables, Walkable, i), base, len);
    }
    if (!covered && !force) {
        return;
    }
    g->walk_due = false;
    for (guint i = 0; i < g->walkables->len && !g->cut; i++) {
        const Walkable *w = &g_array_index(g->walkables, Walkable, i);
        Header h = { .idstr = w->idstr, .instance = w->instance, .version = w->version,
                     .section_id = w->section_id, .type = QEMU_VM_SECTION_FULL,
                     .offset = w->offset };
        g_autofree char *where = where_of(&h);
        const MpFinding *f;

        if (!known || !payload_within(w, base, len)) {
            f = mp_device_layout_unchecked(w->idstr, w->instance, where,
                                           "its payload is not among the held bytes",
                                           g->report);
        } else {
            f = mp_check_device_layout(g->dst->layouts, w->idstr, w->instance, w->version,
                                       data + (w->payload - base), (size_t)w->length,
                                       w->payload, where, g->report);
        }
        if (f && g->emit) {
            g->emit(f, g->opaque);
        }
        if (f && f->severity == MP_SEVERITY_ERROR) {
            want_cut(g, f);
        }
    }
    g_array_set_size(g->walkables, 0);
    if (g->cut) {
        g->release_due = false;
    }
}

/* Walk the FULL section @ev opens with the destination's layout, at its end. */
static void add_walkable(MpDevGate *g, const MigEvent *ev)
{
    const MigSectionEvent *e = &ev->u.section;
    Walkable w = { .idstr = g_strdup(e->idstr), .instance = e->instance_id,
                   .version = e->version_id, .section_id = e->section_id,
                   .offset = ev->offset, .payload = ev->end };

    if (g->walkables->len < MIG_LIMIT_SECTIONS) {
        g_array_append_val(g->walkables, w);
    } else {
        g_free(w.idstr);
    }
}

static void on_header(MpDevGate *g, const MigEvent *ev)
{
    const MigSectionEvent *e = &ev->u.section;
    Header h = { .idstr = (char *)e->idstr, .instance = e->instance_id,
                 .version = e->version_id, .section_id = e->section_id, .type = e->type,
                 .offset = ev->offset, .certain = ev->certain };
    bool device_state = e->type == QEMU_VM_SECTION_FULL && g->ram_setup_done && !e->in_packaged;

    if (!g->decided) {
        Header copy = h;

        copy.idstr = g_strdup(e->idstr);
        g_array_append_val(g->headers, copy);
        g->switchover_seen |= device_state;
        if (g->switchover_seen && e->type == QEMU_VM_SECTION_FULL) {
            /* device state with the prefix: walked at the gate (mp_devgate_gate) */
            add_walkable(g, ev);
        }
        return;
    }
    if (g->cut) {
        return;
    }
    if (g->hold_all && g->hold == HOLD_NONE && device_state && !g->switchover_seen) {
        start_hold(g, ev);
    }
    if (g->hold == HOLD_ON && e->type == QEMU_VM_SECTION_FULL && g->dst && g->dst->layouts &&
        (device_state || (g->package_hold && e->in_packaged))) {
        add_walkable(g, ev);
    }
    if (h.certain) {
        const MpFinding *f = check_header(g, &h, true, g->report, true);

        if (f) {
            want_cut(g, f);
        }
        return;
    }
    if (!suspicious(g, &h)) {
        return;
    }
    if (g->hold == HOLD_NONE && !e->in_packaged) {
        start_hold(g, ev);
    }
    if (g->hold == HOLD_ON) {
        Header copy = h;

        copy.idstr = g_strdup(e->idstr);
        g_array_append_val(g->headers, copy);
    } else {
        /* the hold is over (or not possible): say it, as a warning, and forward */
        check_header(g, &h, false, g->report, true);
    }
}

void mp_devgate_event(MpDevGate *g, const MigEvent *ev)
{
    switch (ev->type) {
    case MIG_EV_SECTION:
        if (ev->u.section.type == QEMU_VM_SECTION_START && ev->u.section.idstr &&
            strcmp(ev->u.section.idstr, "ram") == 0) {
            g->ram_open = true;
            g->ram_id = ev->u.section.section_id;
        }
        if (ev->u.section.idstr && (ev->u.section.type == QEMU_VM_SECTION_FULL ||
                                    ev->u.section.type == QEMU_VM_SECTION_START)) {
            on_header(g, ev);
        }
        break;
    case MIG_EV_SECTION_END:
        if (g->ram_open && ev->u.section.section_id == g->ram_id) {
            g->ram_open = false;
            g->ram_setup_done = true;
        }
        if (ev->u.section.type == QEMU_VM_SECTION_FULL && g->walkables->len) {
            Walkable *w = &g_array_index(g->walkables, Walkable, g->walkables->len - 1);

            if (w->section_id == ev->u.section.section_id && !w->complete) {
                w->complete = true;
                w->length = ev->u.section.payload_length;
            }
        }
        break;
    case MIG_EV_PACKAGED_BEGIN:
        /*
         * The blob holds the device state and ends with POSTCOPY_RUN: once
         * that is forwarded the guest runs at the destination, and a
         * device it cannot load loses the VM.  So the whole blob is held
         * until its end and judged first.
         */
        if (g->decided && !g->cut && g->hold == HOLD_NONE && ev->certain) {
            start_hold(g, ev);
            g->package_hold = true;
        }
        break;
    case MIG_EV_PACKAGED_END:
        /*
         * The blob's length bounds its sections: the decoder reached its
         * end exactly, item after item, so the boundaries it found inside
         * are confirmed by the blob as a VMDESCRIPTION confirms them in
         * precopy (where the blob has none).
         */
        if (g->package_hold && g->hold == HOLD_ON) {
            g->resolved = g->resolved_certain = true;
            resolve(g, true);
        }
        break;
    case MIG_EV_EOF:
        if (ev->certain) {
            g->resolved = g->resolved_certain = true;
            resolve(g, true);
        }
        break;
    case MIG_EV_BOUNDARIES_CHECKED: {
        bool ok = ev->u.check.mismatched == 0 &&
                  ev->u.check.confirmed == ev->u.check.scanned_sections;

        if (!g->resolved) {
            g->resolved = true;
            g->resolved_certain = ok;
        }
        resolve(g, ok);
        break;
    }
    case MIG_EV_END:
        if (!g->resolved) {
            g->resolved = true;
            g->resolved_certain = ev->certain;
        }
        resolve(g, ev->certain);
        break;
    default:
        break;
    }
}

void mp_devgate_lost(MpDevGate *g)
{
    if (!g->resolved) {
        g->resolved = true;
        g->resolved_certain = false;
    }
    if (g->decided) {
        resolve(g, false);
    }
}

bool mp_devgate_pending(const MpDevGate *g)
{
    return !g->decided && g->switchover_seen && !g->resolved;
}

/*
 * The device state came with @prefix, the main channel from its first
 * byte: walk its FULL sections with the destination's layouts, findings
 * into the gate's report (the caller emits it, and it decides the
 * verdict: no cut of the gate's own).
 */
static void walk_prefix(MpDevGate *g, const guint8 *prefix, gsize len)
{
    if (g->dst && g->dst->layouts && g->resolved_certain && prefix) {
        MpDevGateEmit emit = g->emit;

        g->emit = NULL;
        g->walk_due = true;
        try_walk(g, prefix, 0, len, true, true);
        g->emit = emit;
        g->cut = false;
        g_clear_pointer(&g->cut_reason, g_free);
    }
    g_array_set_size(g->walkables, 0);
}

void mp_devgate_gate(MpDevGate *g, const MpFacts *src, const MpFacts *dst,
                     const guint8 *prefix, gsize len, MpReport *report)
{
    g->dst = dst;
    g->report = report;
    g->decided = true;
    mp_check_sections_at_start(src, dst, NULL, report);
    for (guint i = 0; i < g->headers->len; i++) {
        const Header *h = &g_array_index(g->headers, Header, i);

        check_header(g, h, h->certain || g->resolved_certain, report, false);
    }
    g_array_set_size(g->headers, 0);
    if (g->switchover_seen) {
        /* the device state came with the prefix and was judged with it */
        g->hold = HOLD_DONE;
        walk_prefix(g, prefix, len);
    }
}

MpDevGateAction mp_devgate_poll(MpDevGate *g)
{
    if (g->cut) {
        return MP_DEVGATE_CUT;
    }
    if (g->hold == HOLD_ON) {
        return MP_DEVGATE_HOLD;
    }
    if (g->release_due) {
        try_walk(g, g->held->data, g->held_base, g->held->len, g->fed > 0,
                 g->fed > 0 && g->fed == g->held_base + g->held->len);
        if (g->cut) {
            return MP_DEVGATE_CUT;
        }
        if (g->walk_due) {
            return MP_DEVGATE_HOLD;     /* keep the chunk being fed, then ask again */
        }
        g->release_due = false;
        return MP_DEVGATE_RELEASE;
    }
    return MP_DEVGATE_PASS;
}

/* The hold cannot go on (@code): the policy's severity for it decides. */
static void give_up(MpDevGate *g, const char *code, const char *value, const char *limit,
                    const char *why)
{
    MpFinding *f = mp_report_add(g->report, code, "device state", value, limit,
                                 "raise the limit, or run without --hold-device-state",
                                 "%s; %s", why,
                                 "releasing what was held (findings on guessed boundaries "
                                 "stay warnings)");

    if (f->severity == MP_SEVERITY_ERROR) {
        g_free(f->message);
        f->message = g_strdup_printf("%s; cutting the migration (policy: error)", why);
    }
    if (g->emit) {
        g->emit(f, g->opaque);
    }
    if (f->severity == MP_SEVERITY_ERROR) {
        want_cut(g, f);
        g->hold = HOLD_DONE;
        return;
    }
    resolve(g, false);
}

void mp_devgate_fed(MpDevGate *g, gsize n)
{
    g->fed += n;
}

void mp_devgate_keep(MpDevGate *g, const guint8 *data, gsize n)
{
    if (g->held->len == 0) {
        /* the chunk kept is the one just fed */
        g->held_base = g->fed >= n ? g->fed - n : 0;
    }
    g_byte_array_append(g->held, data, (guint)n);
    g->held_total += n;
    try_walk(g, g->held->data, g->held_base, g->held->len, g->fed > 0, false);
    if (g->hold == HOLD_ON && g->held->len > MP_LIMIT_DEVICE_STATE_HOLD) {
        g_autofree char *v = g_strdup_printf("%u bytes", g->held->len);
        g_autofree char *l = g_strdup_printf("%u bytes", MP_LIMIT_DEVICE_STATE_HOLD);

        give_up(g, "device-state-over-limit", v, l,
                "the device state held at the switchover exceeds the hold's limit before "
                "its end");
    }
}

GByteArray *mp_devgate_take_held(MpDevGate *g)
{
    GByteArray *out = g->held;

    g->held = g_byte_array_new();
    return out;
}

void mp_devgate_timeout(MpDevGate *g)
{
    g_autofree char *l = g_strdup_printf("%u s", MP_HOLD_TIMEOUT_S);

    if (g->hold != HOLD_ON || g->cut) {
        return;
    }
    give_up(g, "device-state-hold-timeout", NULL, l,
            "the device state's end (EOF, VMDESCRIPTION) did not come within the hold's time");
}

const char *mp_devgate_cut_reason(const MpDevGate *g)
{
    return g->cut_reason;
}

bool mp_devgate_holding(const MpDevGate *g)
{
    return g->hold == HOLD_ON;
}

bool mp_devgate_hold_info(const MpDevGate *g, uint64_t *from_offset, uint64_t *from_end,
                          gint64 *start_us, uint64_t *bytes, bool *certain)
{
    if (g->hold == HOLD_NONE || !g->start_us) {
        return false;
    }
    *from_offset = g->from_offset;
    *from_end = g->from_end;
    *start_us = g->start_us;
    *bytes = g->held_total;
    *certain = g->resolved_certain;
    return true;
}
