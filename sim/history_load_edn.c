/* history_load_edn.c — the EDN history reader (history_load.h): troupe's own EDN, and
 * Jepsen's and Knossos's (op maps one per line, in a vector or a list, fields in any order,
 * other processes' ops noted and left out, values with or without keys). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/history.h"
#include "sim/history_import.h"
#include "sim/history_load.h"
#include "sim/history_value.h"
#include "troupe.h"

/* ---- import: EDN (troupe's, Jepsen's, Knossos's) ------------------------------------------- */

typedef struct edn {
    const char *p;
    const char *end;
    const char *line_start; /* for the column in error messages */
    int line;
    tr__scratch *s; /* the current op's value */
} edn;

static int edn_column(const edn *r) {
    return (int)(r->p - r->line_start) + 1;
}

static void edn_ws(edn *r) {
    while (r->p < r->end) {
        char c = *r->p;
        if (c == ';') {
            while (r->p < r->end && *r->p != '\n') {
                r->p++;
            }
        } else if (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\n') {
            r->line += c == '\n';
            r->p++;
            r->line_start = c == '\n' ? r->p : r->line_start;
        } else {
            return;
        }
    }
}

static bool edn_eat(edn *r, char c) {
    edn_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

/* A run of symbol characters (after an optional ':'); copied NUL-terminated into buf. */
static bool edn_word(edn *r, char *buf, size_t cap) {
    edn_ws(r);
    size_t n = 0;
    while (r->p < r->end && n + 1 < cap &&
           (strchr("-_?!*+./:", *r->p) || (*r->p >= '0' && *r->p <= '9') ||
            (*r->p >= 'a' && *r->p <= 'z') || (*r->p >= 'A' && *r->p <= 'Z'))) {
        buf[n++] = *r->p++;
    }
    buf[n] = '\0';
    return n > 0 && n + 1 < cap;
}

static bool edn_int(edn *r, int64_t *out) {
    char buf[32];
    if (!edn_word(r, buf, sizeof buf)) {
        return false;
    }
    errno = 0;
    char *e;
    long long v = strtoll(buf, &e, 10);
    *out = v;
    return *e == '\0' && errno == 0 && e != buf;
}

/* nil -> *is_nil; otherwise an integer. */
static bool edn_int_or_nil(edn *r, int64_t *out, bool *is_nil) {
    edn_ws(r);
    const char *save = r->p;
    char buf[8];
    if (edn_word(r, buf, sizeof buf) && !strcmp(buf, "nil")) {
        *is_nil = true;
        return true;
    }
    r->p = save;
    *is_nil = false;
    return edn_int(r, out);
}

static bool edn_string_read(edn *r, char *buf, size_t cap) {
    if (!edn_eat(r, '"')) {
        return false;
    }
    size_t n = 0;
    while (r->p < r->end && *r->p != '"') {
        char c = *r->p++;
        if (c == '\\' && r->p < r->end) {
            c = *r->p++;
        }
        if (n + 1 < cap) {
            buf[n++] = c;
        }
    }
    buf[n] = '\0';
    return edn_eat(r, '"');
}

/* \uXXXX (after the u): a code point of the Basic Multilingual Plane, not a surrogate and
 * not NUL, as UTF-8 into buf; the byte count, or 0 for a bad escape. */
static size_t edn_unicode(edn *r, char *buf) {
    unsigned cp = 0;
    for (int k = 0; k < 4; k++, r->p++) {
        char c = r->p < r->end ? *r->p : 'x';
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return 0;
        }
        cp = cp << 4 | (unsigned)d;
    }
    if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xc0 | cp >> 6);
        buf[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    buf[0] = (char)(0xe0 | cp >> 12);
    buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    buf[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

/* One escape (after the backslash) into buf: its byte count, or 0 for a bad escape. */
static size_t edn_escape(edn *r, char *buf) {
    char c = r->p < r->end ? *r->p++ : '\0';
    const char *from = "\"\\/ntrbf", *to = "\"\\/\n\t\r\b\f";
    const char *at = c ? strchr(from, c) : NULL;
    if (at) {
        buf[0] = to[at - from];
        return 1;
    }
    return c == 'u' ? edn_unicode(r, buf) : 0;
}

/* A string value (at its opening quote): escapes decoded, UTF-8 checked, at most max bytes
 * (TR_VALUE_BYTES_MAX, or the base64 text of that many bytes), into the scratch. */
static const char *edn_string_value(edn *r, size_t max, tr_value *out) {
    edn start = *r; /* a string that is not UTF-8 is reported where it begins */
    r->p++;
    size_t n = 0, cap = 64;
    char *buf = malloc(cap);
    const char *why = buf ? NULL : "out of memory";
    while (!why && r->p < r->end && *r->p != '"') {
        if (n + 4 > cap) {
            char *nb = cap > max ? NULL : realloc(buf, cap * 2);
            why = nb ? NULL : cap > max ? "a string longer than 65536 bytes" : "out of memory";
            buf = nb ? nb : buf;
            cap *= 2;
            continue;
        }
        char c = *r->p++;
        if (c == '\n') {
            r->line++;
            r->line_start = r->p;
        }
        size_t k = c == '\\' ? edn_escape(r, buf + n) : (buf[n] = c, 1);
        why = k == 0      ? "a bad escape in a string (\\\" \\\\ \\/ \\n \\t \\r \\b \\f \\uXXXX)"
              : c == '\0' ? "a NUL byte in a string"
                          : NULL;
        n += k;
    }
    if (!why && r->p == r->end) {
        why = "a string runs to the end of the file";
    }
    if (!why && n > max) {
        why = "a string longer than 65536 bytes";
    }
    if (!why && !tr__value_utf8_valid(buf, n)) {
        why = "a string is not valid UTF-8";
        *r = start;
    }
    if (why || !tr__scratch_adopt(r->s, buf, n)) {
        free(why ? buf : NULL);
        return why ? why : "a value larger than 1 MiB";
    }
    r->p++;
    *out = (tr_value){.kind = TR_VALUE_STRING, .bytes = buf, .len = n};
    return NULL;
}

static const char *edn_any(edn *r, int depth, tr_value *out);

/* A vector (at its '['): the items gathered in a growing array, then copied to the scratch. */
static const char *edn_tuple(edn *r, int depth, tr_value *out) {
    if (depth >= TR_VALUE_DEPTH_MAX) {
        return "tuples nested deeper than 16";
    }
    r->p++;
    tr_value *items = NULL;
    size_t n = 0, cap = 0;
    const char *why = NULL;
    while (!why && !edn_eat(r, ']')) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            tr_value *ni =
                cap * sizeof *ni > TR_VALUE_SIZE_MAX ? NULL : realloc(items, cap * sizeof *ni);
            items = ni ? ni : items;
            why = ni ? NULL : "a value larger than 1 MiB";
        }
        why = why ? why : edn_any(r, depth + 1, &items[n++]);
    }
    tr_value *copy = why || n == 0 ? NULL : tr__scratch_alloc(r->s, n * sizeof *copy);
    why = why ? why : n && !copy ? "a value larger than 1 MiB" : NULL;
    if (copy) {
        memcpy(copy, items, n * sizeof *copy);
    }
    free(items);
    *out = (tr_value){.kind = TR_VALUE_TUPLE, .items = copy, .len = n};
    return why;
}

/* {:base64 "text"} (at its '{'). */
static const char *edn_bytes(edn *r, tr_value *out) {
    r->p++;
    char key[16];
    tr_value text;
    if (!edn_word(r, key, sizeof key) || strcmp(key, ":base64") != 0 || !edn_eat(r, '"')) {
        return "a map value must be {:base64 \"text\"}";
    }
    r->p--;
    const char *why = edn_string_value(r, 4 * ((TR_VALUE_BYTES_MAX + 2) / 3), &text);
    if (why || !edn_eat(r, '}')) {
        return why ? why : "a map value must be {:base64 \"text\"}";
    }
    uint8_t *bytes = tr__scratch_alloc(r->s, text.len / 4 * 3 + 1);
    if (!bytes) {
        return "a value larger than 1 MiB";
    }
    *out = (tr_value){.kind = TR_VALUE_BYTES, .bytes = (const char *)bytes};
    return tr__base64_decode(text.bytes, text.len, bytes, &out->len) == 0
               ? NULL
               : ":base64 must be RFC 4648 base64 with padding";
}

/* Any value: nil, an integer, a string, a keyword, a vector, {:base64 "..."}. */
static const char *edn_any(edn *r, int depth, tr_value *out) {
    edn_ws(r);
    char c = r->p < r->end ? *r->p : '\0';
    char word[TR_HISTORY_NAME_MAX + 3];
    if (c == '[') {
        return edn_tuple(r, depth, out);
    }
    if (c == '"') {
        return edn_string_value(r, TR_VALUE_BYTES_MAX, out);
    }
    if (c == '{') {
        return edn_bytes(r, out);
    }
    if (c == ':') {
        if (!edn_word(r, word, sizeof word) ||
            !tr__value_keyword_valid(word + 1, strlen(word) - 1)) {
            return "a keyword must be a letter, then letters, digits or -_.!?*+/ (at most 31)";
        }
        char *name = tr__scratch_alloc(r->s, strlen(word));
        if (!name) {
            return "a value larger than 1 MiB";
        }
        memcpy(name, word + 1, strlen(word));
        *out = (tr_value){.kind = TR_VALUE_KEYWORD, .bytes = name, .len = strlen(name)};
        return NULL;
    }
    bool nil;
    *out = (tr_value){.kind = TR_VALUE_INT};
    if (!edn_int_or_nil(r, &out->i, &nil)) {
        return "expected a value: nil, an integer, a string, a keyword, a vector or "
               "{:base64 \"...\"}";
    }
    out->kind = nil ? TR_VALUE_NIL : TR_VALUE_INT;
    return NULL;
}

/* The text of one form (from..to) into buf, whitespace runs as one space; false (and buf
 * empty) if it does not fit. */
static bool edn_slice(const char *from, const char *to, char *buf, size_t cap) {
    size_t n = 0;
    for (const char *p = from; p < to; p++) {
        bool ws = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
        if (ws && (n == 0 || buf[n - 1] == ' ')) {
            continue;
        }
        if (n + 1 >= cap) {
            buf[0] = '\0';
            return false;
        }
        buf[n++] = ws ? ' ' : *p;
    }
    while (n > 0 && buf[n - 1] == ' ') {
        n--;
    }
    buf[n] = '\0';
    return true;
}

static bool edn_delimiter(char c) {
    return strchr(" \t\r\n,;()[]{}\"", c) != NULL || c == '\0';
}

static void edn_skip_token(edn *r) {
    while (r->p < r->end && !edn_delimiter(*r->p)) {
        r->p++;
    }
}

/* Past a string (at its opening quote), escapes not checked: where a value is only skipped
 * (a nemesis op's), any text goes; where it is read, edn_string_value checks it. */
static const char *edn_skip_string(edn *r) {
    for (r->p++; r->p < r->end && *r->p != '"'; r->p++) {
        if (*r->p == '\\' && r->p + 1 < r->end) {
            r->p++;
        }
        if (*r->p == '\n') {
            r->line++;
            r->line_start = r->p + 1;
        }
    }
    if (r->p == r->end) {
        return "a string runs to the end of the file";
    }
    r->p++;
    return NULL;
}

/* Past one EDN form of any kind: scalars, strings, characters, vectors, lists, maps, sets,
 * tagged literals (#inst "...", #jepsen.history.Op{...}) and #_ discards. */
static const char *edn_skip(edn *r, int depth) {
    edn_ws(r);
    if (depth > TR_EDN_SKIP_DEPTH_MAX) {
        return "forms nested deeper than 64";
    }
    if (r->p == r->end) {
        return "a value expected before the end of the file";
    }
    char c = *r->p, next = r->p + 1 < r->end ? r->p[1] : '\0';
    if (c == '"') {
        return edn_skip_string(r);
    }
    if (c == '#' && next == '_') { /* a discarded form, then the form itself */
        r->p += 2;
        const char *why = edn_skip(r, depth + 1);
        return why ? why : edn_skip(r, depth + 1);
    }
    if (c == '#' && next != '{') { /* a tag, then its form */
        r->p++;
        edn_skip_token(r);
        return edn_skip(r, depth + 1);
    }
    r->p += c == '#';
    c = *r->p;
    if (c == '[' || c == '(' || c == '{') {
        char close = c == '[' ? ']' : c == '(' ? ')' : '}';
        for (r->p++; !edn_eat(r, close);) {
            const char *why = r->p == r->end ? "a collection runs to the end of the file"
                                             : edn_skip(r, depth + 1);
            if (why) {
                return why;
            }
        }
        return NULL;
    }
    if (c == ']' || c == ')' || c == '}') {
        return "an unexpected closing bracket";
    }
    r->p += c == '\\'; /* a character: \a \newline \u00e9 */
    const char *from = r->p;
    r->p += c == '\\' && r->p < r->end; /* \( \[ ... are characters too */
    edn_skip_token(r);
    return r->p > from ? NULL : "expected a value";
}

/* One op map as written. The value is kept as a position and read after the map, when :f
 * and the process are known (the fields come in any order). */
typedef struct edn_op_text {
    int line; /* where the map begins */
    bool has_process, client, has_value, has_time, bad_time, bad_node;
    int64_t process, time_ns;
    int32_t node;
    char process_text[TR_HISTORY_NAME_MAX + 2];
    char type[TR_HISTORY_NAME_MAX + 3];
    char f[TR_HISTORY_NAME_MAX + 3];
    char error[TR_OP_ERROR_MAX];
    edn value_at;
} edn_op_text;

static bool text_int(const char *s, int64_t *out) {
    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9'))) {
        return false;
    }
    errno = 0;
    char *e;
    long long v = strtoll(s, &e, 10);
    *out = v;
    return *e == '\0' && errno == 0;
}

/* :error: a string's text, or any other form as written; truncated. */
static void edn_error_text(const edn *at, const char *to, char *buf, size_t cap) {
    edn r = *at;
    if (*r.p == '"' && edn_string_read(&r, buf, cap)) {
        return;
    }
    char text[256];
    edn_slice(at->p, to - at->p < 255 ? to : at->p + 255, text, sizeof text);
    snprintf(buf, cap, "%s", text);
}

static void edn_field_set(edn_op_text *t, const char *key, const edn *at, const char *to) {
    char text[TR_HISTORY_NAME_MAX + 3];
    bool fits = edn_slice(at->p, to, text, sizeof text);
    int64_t v;
    if (!strcmp(key, ":process")) {
        t->has_process = true;
        t->client = fits && text_int(text, &t->process);
        memcpy(t->process_text, text, sizeof t->process_text - 1);
        t->process_text[sizeof t->process_text - 1] = '\0';
    } else if (!strcmp(key, ":type")) {
        memcpy(t->type, text, sizeof t->type);
    } else if (!strcmp(key, ":f")) {
        memcpy(t->f, text, sizeof t->f);
    } else if (!strcmp(key, ":value")) {
        t->has_value = true;
        t->value_at = *at;
    } else if (!strcmp(key, ":time")) {
        t->has_time = true;
        t->bad_time = !fits || !text_int(text, &t->time_ns);
    } else if (!strcmp(key, ":node")) {
        bool is_int = fits && text_int(text, &v);
        t->bad_node = is_int && (v < 0 || v > INT32_MAX);
        t->node = is_int && !t->bad_node ? (int32_t)v : TR_NODE_NONE;
    } else if (!strcmp(key, ":error")) {
        edn_error_text(at, to, t->error, sizeof t->error);
    }
}

/* Reads one op map (or a tagged record #name{...}); other keys are skipped. */
static const char *edn_op_read(edn *r, edn_op_text *t) {
    memset(t, 0, sizeof *t);
    t->node = TR_NODE_NONE;
    edn_ws(r);
    t->line = r->line;
    if (r->p < r->end && *r->p == '#') {
        r->p++;
        edn_skip_token(r);
    }
    if (!edn_eat(r, '{')) {
        return "expected an op map '{'";
    }
    while (!edn_eat(r, '}')) {
        edn_ws(r);
        const char *from = r->p;
        const char *why = r->p == r->end ? "an op map runs to the end of the file" : edn_skip(r, 0);
        char key[16] = "";
        if (!why) {
            edn_slice(from, r->p, key, sizeof key);
            edn_ws(r);
        }
        edn at = *r;
        why = why ? why : edn_skip(r, 0);
        if (why && at.p != from) { /* a broken value: the reader of values says what broke */
            tr_value v;
            const char *precise = edn_any(&at, -1, &v);
            *r = precise ? at : *r;
            why = precise ? precise : why;
        }
        if (why) {
            return why;
        }
        edn_field_set(t, key, &at, r->p);
    }
    return NULL;
}

/* A value of the keyed shape: [key v] with an integer key, v a pair for cas and the stock
 * ops. */
static bool keyed_value(uint8_t f, const tr_value *v) {
    return v->kind == TR_VALUE_TUPLE && v->len == 2 && v->items[0].kind == TR_VALUE_INT &&
           (!tr__history_f_is_pair(f) || tr__import_int_pair(&v->items[1]));
}

typedef struct edn_import {
    tr_history *h;
    edn r;
    tr__history_shape shape; /* AUTO until the first client op decides it */
    tr__history_load_notes *notes;
} edn_import;

/* The op's key and value from the whole :value w, by the history's shape. */
static const char *edn_split_value(edn_import *im, tr_op *op, const tr_value *w, tr_value *v) {
    bool keyed = keyed_value(op->f, w);
    if (im->shape == TR_SHAPE_AUTO) {
        im->shape = keyed ? TR_SHAPE_KEYED : TR_SHAPE_SINGLE;
        im->notes->single = !keyed;
    }
    if (im->shape == TR_SHAPE_SINGLE) {
        *v = *w;
        bool pair_ok =
            !tr__history_f_is_pair(op->f) || w->kind == TR_VALUE_NIL || tr__import_int_pair(w);
        return pair_ok ? NULL
               : op->f == TR_F_CAS
                   ? "a cas value must be [key [from to]], or [from to] in a history without keys"
                   : "a reserve or restock value must be [key [qty id]], or [qty id] without keys";
    }
    if (!keyed) {
        return tr__history_f_is_pair(op->f) && w->kind == TR_VALUE_TUPLE && w->len == 2
                   ? tr__import_pair_why(op->f, true)
                   : ":value must be [key v] in a keyed history (the first op's value was; "
                     "troupe check --single reads one register)";
    }
    op->key = w->items[0].i;
    *v = w->items[1];
    return NULL;
}

static void note_other(tr__history_load_notes *n, const edn_op_text *t) {
    if (n->other_ops++ == 0) {
        snprintf(n->other_process, sizeof n->other_process, "%s", t->process_text);
    }
    const char *name = t->f[0] == ':' ? t->f + 1 : t->f;
    for (size_t i = 0; i < n->other_f_count; i++) {
        if (!strcmp(n->other_f[i].name, name)) {
            n->other_f[i].count++;
            return;
        }
    }
    if (n->other_f_count < TR_LOAD_OTHER_F_MAX) {
        tr__history_other_f *o = &n->other_f[n->other_f_count++];
        snprintf(o->name, sizeof o->name, "%s", name);
        o->count = 1;
    }
}

/* The client op t as a history op with its value in *v (the scratch). */
static const char *edn_client_op(edn_import *im, const edn_op_text *t, tr_op *op, tr_value *v) {
    memset(op, 0, sizeof *op);
    op->process = t->process;
    op->node = t->node;
    snprintf(op->error, sizeof op->error, "%s", t->error);
    if (t->type[0] != ':' || tr__import_type(t->type + 1, &op->type) != 0) {
        return ":type must be :invoke, :ok, :fail or :info";
    }
    if (t->f[0] != ':' || tr__import_f(im->h, t->f + 1, &op->f) != 0) {
        return ":f must be a keyword (a letter, then letters, digits or -_.!?*+; at most 31 "
               "bytes; at most 64 names)";
    }
    if (t->bad_time || t->bad_node) {
        return t->bad_time ? ":time must be an integer"
                           : ":node must be nil or a non-negative integer";
    }
    tr_value whole = {.kind = TR_VALUE_NIL};
    if (t->has_value) { /* depth -1: a keyed value's [key v] does not count against v's depth */
        edn at = t->value_at;
        const char *why = edn_any(&at, -1, &whole);
        if (why) {
            im->r = at; /* the error's position: where the value broke */
            return why;
        }
    }
    const char *why = edn_split_value(im, op, &whole, v);
    if (!why && op->f == TR_F_READ && op->type != TR_OP_OK && v->kind != TR_VALUE_NIL) {
        *v = (tr_value){.kind = TR_VALUE_NIL}; /* leniency 1 */
        im->notes->read_values_dropped++;
    }
    size_t n = tr__history_count(im->h);
    int64_t last = n ? tr__history_op(im->h, n - 1)->time_ns : 0;
    op->time_ns = t->has_time ? t->time_ns : last;
    if (op->time_ns < last) { /* leniency 2 */
        op->time_ns = last;
        im->notes->times_raised++;
    }
    return why;
}

/* Reads and appends (or notes) op number i. */
static int edn_import_op(edn_import *im, size_t i, char *err, size_t cap) {
    edn_op_text t;
    tr_op op;
    tr_value v = {.kind = TR_VALUE_NIL};
    const char *why = edn_op_read(&im->r, &t);
    if (!why && !t.has_process) {
        why = "an op needs :process";
    }
    if (!why && !t.client) {
        note_other(im->notes, &t);
        return 0;
    }
    why = why ? why : edn_client_op(im, &t, &op, &v);
    if (why) {
        tr__import_err(err, cap, "line %d column %d: op %zu: %s", im->r.line, edn_column(&im->r), i,
                       why);
        return TR_ECORRUPT;
    }
    return tr__import_append(im->h, &op, &v, t.line, i, err, cap);
}

/* The ops of a vector or list (close: its closing bracket), or maps one after another
 * (close 0) to the end of the text. */
static int edn_import_ops(edn_import *im, char close, char *err, size_t cap) {
    tr__scratch *s = im->r.s;
    int rc = 0;
    for (size_t i = 0; rc == 0; i++) {
        edn_ws(&im->r);
        if (close ? edn_eat(&im->r, close) : im->r.p == im->r.end) {
            break;
        }
        if (im->r.p == im->r.end) {
            tr__import_err(err, cap, "line %d column %d: the history's '%c' is not closed",
                           im->r.line, edn_column(&im->r), close == ']' ? '[' : '(');
            return TR_ECORRUPT;
        }
        rc = edn_import_op(im, i, err, cap);
        tr__scratch_reset(s);
    }
    edn_ws(&im->r);
    if (rc == 0 && im->r.p != im->r.end) {
        tr__import_err(err, cap, "line %d column %d: trailing data after the history", im->r.line,
                       edn_column(&im->r));
        rc = TR_ECORRUPT;
    }
    return rc;
}

int tr__history_import_edn(const char *text, size_t len, const tr__history_load_opts *o,
                           tr_history **out, tr__history_load_notes *notes, char *err,
                           size_t err_cap) {
    TR_ASSERT(text && o && out);
    *out = NULL;
    tr__history_load_notes local;
    notes = notes ? notes : &local;
    *notes = (tr__history_load_notes){.edn = true, .single = o->shape == TR_SHAPE_SINGLE};
    tr__scratch s = {0};
    edn_import im = {.r = {.p = text, .end = text + len, .line_start = text, .line = 1, .s = &s},
                     .shape = o->shape,
                     .notes = notes};
    edn_ws(&im.r);
    char c = im.r.p < im.r.end ? *im.r.p : '{';
    if (c != '[' && c != '(' && c != '{' && c != '#') {
        tr__import_err(
            err, err_cap,
            "line %d column %d: a history must be op maps: in a vector, in a list, or one "
            "after another",
            im.r.line, edn_column(&im.r));
        return TR_ECORRUPT;
    }
    im.r.p += c == '[' || c == '(';
    im.h = tr__history_create(o->max_ops);
    if (!im.h) {
        tr__import_err(err, err_cap, "out of memory");
        return TR_ENOMEM;
    }
    int rc = edn_import_ops(&im, c == '[' ? ']' : c == '(' ? ')' : 0, err, err_cap);
    tr__scratch_deinit(&s);
    if (rc != 0) {
        tr__history_destroy(im.h);
        return rc;
    }
    *out = im.h;
    return 0;
}

int tr__history_load_edn(const char *text, size_t len, size_t max_ops, tr_history **out, char *err,
                         size_t err_cap) {
    tr__history_load_opts o = {.max_ops = max_ops};
    return tr__history_import_edn(text, len, &o, out, NULL, err, err_cap);
}
