/* history_load.c — reading a history back (see history.h): JSON through jansson, and an EDN
 * reader for exactly the subset that tr__history_write_edn writes (plus whitespace, commas
 * and ; comments). Every op goes through tr__history_append, so a loaded history holds the
 * same invariants as a recorded one; a refusal is explained with its position. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/history.h"
#include "sim/history_value.h"
#include "troupe.h"

/* ---- import: shared --------------------------------------------------------------------- */

static void set_err(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static int parse_type(const char *s, uint8_t *out) {
    for (int t = TR_OP_INVOKE; t <= TR_OP_INFO; t++) {
        if (!strcmp(s, tr__history_op_type_name((tr_op_type)t))) {
            *out = (uint8_t)t;
            return 0;
        }
    }
    return -1;
}

/* The code of operation name s in h, interned if new (a service's own operation). */
static int parse_f(tr_history *h, const char *s, uint8_t *out) {
    bool added;
    int f = tr__history_f_intern(h, s, &added);
    if (f < 0) {
        return -1;
    }
    *out = (uint8_t)f;
    return 0;
}

/* The memory of one op's parsed value: a small inline arena (a pair costs no allocation),
 * then one block per allocation, all freed after the op; at most SCRATCH_MAX bytes, so a
 * hostile file cannot make one value take more than a bounded amount. */
#define SCRATCH_INLINE 256
#define SCRATCH_BLOCKS 64
#define SCRATCH_MAX (2u * TR_VALUE_SIZE_MAX)
typedef struct scratch {
    _Alignas(max_align_t) unsigned char inline_buf[SCRATCH_INLINE];
    size_t inline_used;
    void **blocks;
    size_t count;
    size_t cap;
    size_t bytes;
} scratch;

/* Takes ownership of block (freed by scratch_reset); false (and block freed) if it cannot:
 * out of memory, or past SCRATCH_MAX. */
static bool scratch_adopt(scratch *s, void *block, size_t n) {
    if (s->bytes + n > SCRATCH_MAX) {
        free(block);
        return false;
    }
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : SCRATCH_BLOCKS;
        void **blocks = realloc(s->blocks, cap * sizeof *blocks);
        if (!blocks) {
            free(block);
            return false;
        }
        s->blocks = blocks;
        s->cap = cap;
    }
    s->blocks[s->count++] = block;
    s->bytes += n;
    return true;
}

/* n bytes valid until scratch_reset, or NULL (out of memory or past SCRATCH_MAX). */
static void *scratch_alloc(scratch *s, size_t n) {
    size_t aligned = (n + 15) & ~(size_t)15;
    if (s->bytes + aligned > SCRATCH_MAX) {
        return NULL;
    }
    if (s->inline_used + aligned <= SCRATCH_INLINE) {
        void *p = s->inline_buf + s->inline_used;
        s->inline_used += aligned;
        return p;
    }
    void *p = malloc(aligned);
    return p && scratch_adopt(s, p, aligned) ? p : NULL;
}

static void scratch_reset(scratch *s) {
    for (size_t i = 0; i < s->count; i++) {
        free(s->blocks[i]);
    }
    s->count = s->bytes = s->inline_used = 0;
}

static void scratch_deinit(scratch *s) {
    scratch_reset(s);
    free(s->blocks);
    s->blocks = NULL;
    s->cap = 0;
}

static bool int_pair(const tr_value *v) {
    return v->kind == TR_VALUE_TUPLE && tr__value_fast(v, true);
}

/* The error for a cas, reserve or restock value that is not a pair of integers. */
static const char *pair_why(uint8_t f, bool edn) {
    if (f == TR_F_CAS) {
        return edn ? "a cas value must be [key [from to]]"
                   : "a cas value must be [key, [from, to]]";
    }
    return edn ? "a reserve or restock value must be [key [qty id]]"
               : "a reserve or restock value must be [key, [qty, id]]";
}

/* Appends one parsed op with its value v (NULL: in op's fast fields), translating failures
 * into a message naming op number `n`. */
static int import_append(tr_history *h, const tr_op *op, const tr_value *v, size_t n, char *err,
                         size_t cap) {
    const char *why;
    int rc = tr__history_append_value(h, op, v, &why);
    if (rc == TR_EFULL && tr__history_count(h) < tr__history_max_ops(h)) {
        set_err(err, cap, "op %zu: the history's values take more than %u MiB", n,
                TR_HISTORY_VALUES_MAX >> 20);
        return TR_ETOOBIG;
    }
    if (rc == TR_EFULL) {
        set_err(err, cap, "op %zu: more than %zu ops (raise the limit)", n, tr__history_max_ops(h));
        return TR_ETOOBIG;
    }
    if (rc == TR_ENOMEM) {
        set_err(err, cap, "op %zu: out of memory", n);
        return rc;
    }
    if (rc != 0) {
        set_err(err, cap, "op %zu (process %" PRId64 "): %s", n, op->process,
                why ? why : "refused");
        return TR_ECORRUPT;
    }
    return 0;
}

/* ---- import: JSON ------------------------------------------------------------------- */

static int json_get_int(json_t *o, const char *name, bool required, int64_t *out) {
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v)) {
        return required ? -1 : 1;
    }
    if (!json_is_integer(v)) {
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static const char *json_to_value(json_t *x, int depth, scratch *s, tr_value *out);

/* A one-member object: {"keyword": name} or {"base64": text}. */
static const char *json_tagged(json_t *x, scratch *s, tr_value *out) {
    const char *text =
        json_object_size(x) == 1 ? json_string_value(json_object_get(x, "keyword")) : NULL;
    if (text) {
        *out = (tr_value){.kind = TR_VALUE_KEYWORD, .bytes = text, .len = strlen(text)};
        return tr__value_keyword_valid(text, out->len) ? NULL : "a bad keyword name";
    }
    json_t *b = json_object_size(x) == 1 ? json_object_get(x, "base64") : NULL;
    if (!b || !json_is_string(b)) {
        return "an object value must be {\"keyword\": name} or {\"base64\": text}";
    }
    size_t len = json_string_length(b);
    if (len / 4 * 3 > TR_VALUE_BYTES_MAX + 2) {
        return "bytes longer than 65536";
    }
    uint8_t *bytes = scratch_alloc(s, len / 4 * 3 + 1);
    *out = (tr_value){.kind = TR_VALUE_BYTES, .bytes = (const char *)bytes};
    if (!bytes) {
        return "out of memory";
    }
    return tr__base64_decode(json_string_value(b), len, bytes, &out->len) == 0
               ? NULL
               : "\"base64\" must be RFC 4648 base64 with padding";
}

/* Converts x to a value whose strings borrow x's (valid while x is). */
static const char *json_to_value(json_t *x, int depth, scratch *s, tr_value *out) {
    *out = (tr_value){.kind = TR_VALUE_NIL};
    if (json_is_null(x)) {
        return NULL;
    }
    if (json_is_integer(x)) {
        *out = (tr_value){.kind = TR_VALUE_INT, .i = json_integer_value(x)};
        return NULL;
    }
    if (json_is_string(x)) {
        *out = (tr_value){
            .kind = TR_VALUE_STRING, .bytes = json_string_value(x), .len = json_string_length(x)};
        return out->len <= TR_VALUE_BYTES_MAX ? NULL : "a string longer than 65536 bytes";
    }
    if (json_is_object(x)) {
        return json_tagged(x, s, out);
    }
    if (!json_is_array(x)) {
        return json_is_real(x) ? "a number must be an integer"
                               : "true and false are not values (use a keyword or 0 and 1)";
    }
    if (depth >= TR_VALUE_DEPTH_MAX) {
        return "tuples nested deeper than 16";
    }
    size_t n = json_array_size(x);
    tr_value *items = n ? scratch_alloc(s, n * sizeof *items) : NULL;
    if (n && !items) {
        return "a value larger than 1 MiB";
    }
    for (size_t i = 0; i < n; i++) {
        const char *why = json_to_value(json_array_get(x, i), depth + 1, s, &items[i]);
        if (why) {
            return why;
        }
    }
    *out = (tr_value){.kind = TR_VALUE_TUPLE, .items = items, .len = n};
    return NULL;
}

/* Fills key and *v from "value": [key, v] (v borrows from value). */
static const char *json_parse_value(json_t *value, uint8_t f, scratch *s, tr_op *op, tr_value *v) {
    if (!json_is_array(value) || json_array_size(value) != 2 ||
        !json_is_integer(json_array_get(value, 0))) {
        return "\"value\" must be [key, v] with an integer key";
    }
    op->key = json_integer_value(json_array_get(value, 0));
    const char *why = json_to_value(json_array_get(value, 1), 0, s, v);
    if (!why && tr__history_f_is_pair(f) && v->kind != TR_VALUE_NIL && !int_pair(v)) {
        why = pair_why(f, false);
    }
    return why;
}

static const char *json_parse_op(tr_history *h, json_t *o, scratch *s, tr_op *op, tr_value *v) {
    memset(op, 0, sizeof *op);
    op->node = TR_NODE_NONE;
    if (!json_is_object(o)) {
        return "not an object";
    }
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *f = json_string_value(json_object_get(o, "f"));
    if (!type || parse_type(type, &op->type) != 0) {
        return "\"type\" must be one of \"invoke\", \"ok\", \"fail\", \"info\"";
    }
    if (!f || parse_f(h, f, &op->f) != 0) {
        return "\"f\" must be a name (a letter, then letters, digits or -_.!?*+; at most 31 "
               "bytes; at most 64 names)";
    }
    if (json_get_int(o, "process", true, &op->process) != 0) {
        return "\"process\" must be an integer";
    }
    if (json_get_int(o, "time", false, &op->time_ns) < 0) {
        return "\"time\" must be an integer";
    }
    int64_t node = TR_NODE_NONE;
    if (json_get_int(o, "node", false, &node) < 0 || node < -1 || node > INT32_MAX) {
        return "\"node\" must be null or a non-negative integer";
    }
    op->node = (int32_t)node;
    json_t *e = json_object_get(o, "error");
    if (e && !json_is_null(e)) {
        const char *es = json_string_value(e);
        snprintf(op->error, sizeof op->error, "%s", es ? es : "error");
    }
    json_t *value = json_object_get(o, "value");
    return value ? json_parse_value(value, op->f, s, op, v) : "\"value\" is missing";
}

/* Position in the text for error messages: 1-based line, 0-based column. */
typedef struct text_pos {
    size_t at;
    int line;
    int column;
} text_pos;

static void advance(const char *text, text_pos *p, size_t to) {
    for (; p->at < to; p->at++) {
        bool nl = text[p->at] == '\n';
        p->line += nl;
        p->column = nl ? 0 : p->column + 1;
    }
}

static void skip_ws(const char *text, size_t len, text_pos *p) {
    size_t i = p->at;
    while (i < len && strchr(" \t\r\n", text[i]) && text[i] != '\0') {
        i++;
    }
    advance(text, p, i);
}

/* Not an array: report jansson's syntax error if there is one, else the shape. */
static int json_not_array(const char *text, size_t len, char *err, size_t cap) {
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (root) {
        set_err(err, cap, "a history must be a JSON array of op objects");
        json_decref(root);
    } else {
        set_err(err, cap, "line %d column %d: %s", je.line, je.column, je.text);
    }
    return TR_ECORRUPT;
}

/* Parses one array element with jansson (which stops after it), then appends it. */
static int json_import_one(tr_history *h, const char *text, size_t len, text_pos *p, size_t n,
                           scratch *s, char *err, size_t cap) {
    json_error_t je;
    json_t *v =
        json_loadb(text + p->at, len - p->at, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        int line = p->line + (je.line > 0 ? je.line - 1 : 0);
        int column = je.line == 1 ? p->column + je.column : je.column;
        set_err(err, cap, "line %d column %d: %s", line, column, je.text);
        return TR_ECORRUPT;
    }
    tr_op op;
    tr_value value = {.kind = TR_VALUE_NIL};
    const char *why = json_parse_op(h, v, s, &op, &value);
    int rc = why ? TR_ECORRUPT : import_append(h, &op, &value, n, err, cap);
    json_decref(v); /* after the append: the value borrows its strings */
    scratch_reset(s);
    if (why) {
        set_err(err, cap, "line %d: op %zu: %s", p->line, n, why);
    }
    advance(text, p, p->at + (size_t)je.position);
    return rc;
}

/* Streams the top-level array one element at a time, so memory is the text plus the
 * history, never a whole DOM (jansson's tree of a large history is ~15x the text). */
static int json_import(tr_history *h, const char *text, size_t len, scratch *s, char *err,
                       size_t cap) {
    text_pos p = {.line = 1};
    skip_ws(text, len, &p);
    if (p.at == len || text[p.at] != '[') {
        return json_not_array(text, len, err, cap);
    }
    advance(text, &p, p.at + 1);
    skip_ws(text, len, &p);
    bool more = p.at < len && text[p.at] != ']';
    for (size_t n = 0; more; n++) {
        int rc = json_import_one(h, text, len, &p, n, s, err, cap);
        if (rc != 0) {
            return rc;
        }
        skip_ws(text, len, &p);
        more = p.at < len && text[p.at] == ',';
        if (!more && (p.at == len || text[p.at] != ']')) {
            set_err(err, cap, "line %d column %d: ',' or ']' expected after op %zu", p.line,
                    p.column, n);
            return TR_ECORRUPT;
        }
        if (more) {
            advance(text, &p, p.at + 1);
            skip_ws(text, len, &p);
        }
    }
    if (p.at == len) {
        set_err(err, cap, "line %d column %d: ']' expected near end of file", p.line, p.column);
        return TR_ECORRUPT;
    }
    advance(text, &p, p.at + 1);
    skip_ws(text, len, &p);
    if (p.at != len) {
        set_err(err, cap, "line %d column %d: trailing data after the history", p.line, p.column);
        return TR_ECORRUPT;
    }
    return 0;
}

int tr__history_load_json(const char *text, size_t len, size_t max_ops, tr_history **out, char *err,
                          size_t err_cap) {
    TR_ASSERT(text && out);
    *out = NULL;
    tr_history *h = tr__history_create(max_ops);
    if (!h) {
        set_err(err, err_cap, "out of memory");
        return TR_ENOMEM;
    }
    scratch s = {0};
    int rc = json_import(h, text, len, &s, err, err_cap);
    scratch_deinit(&s);
    if (rc != 0) {
        tr__history_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---- import: EDN (exactly what tr__history_write_edn writes) ---------------------------- */

typedef struct edn {
    const char *p;
    const char *end;
    const char *line_start; /* for the column in error messages */
    int line;
    scratch *s; /* the current op's value */
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
    if (why || !scratch_adopt(r->s, buf, n)) {
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
    tr_value *copy = why || n == 0 ? NULL : scratch_alloc(r->s, n * sizeof *copy);
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
    uint8_t *bytes = scratch_alloc(r->s, text.len / 4 * 3 + 1);
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
        char *name = scratch_alloc(r->s, strlen(word));
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

/* [key v]: the key into op, v into *v (in the scratch). */
static const char *edn_value_read(edn *r, tr_op *op, tr_value *v) {
    if (!edn_eat(r, '[') || !edn_int(r, &op->key)) {
        return ":value must be [key v]";
    }
    const char *why = edn_any(r, 0, v);
    if (!why && tr__history_f_is_pair(op->f) && v->kind != TR_VALUE_NIL && !int_pair(v)) {
        why = pair_why(op->f, true);
    }
    return why ? why : edn_eat(r, ']') ? NULL : ":value must be [key v]";
}

static const char *edn_field(tr_history *h, edn *r, const char *name, tr_op *op, tr_value *value,
                             unsigned *seen) {
    char buf[TR_HISTORY_NAME_MAX + 8];
    bool nil;
    int64_t v;
    if (!strcmp(name, ":index")) {
        return edn_int(r, &v) ? NULL : ":index must be an integer";
    } else if (!strcmp(name, ":time")) {
        return edn_int(r, &op->time_ns) ? NULL : ":time must be an integer";
    } else if (!strcmp(name, ":process")) {
        *seen |= 1;
        return edn_int(r, &op->process) ? NULL : ":process must be an integer";
    } else if (!strcmp(name, ":type")) {
        *seen |= 2;
        bool ok = edn_word(r, buf, sizeof buf) && buf[0] == ':' && !parse_type(buf + 1, &op->type);
        return ok ? NULL : ":type must be :invoke, :ok, :fail or :info";
    } else if (!strcmp(name, ":f")) {
        *seen |= 4;
        bool ok = edn_word(r, buf, sizeof buf) && buf[0] == ':' && !parse_f(h, buf + 1, &op->f);
        return ok ? NULL
                  : ":f must be a keyword (a letter, then letters, digits or -_.!?*+; at most "
                    "31 bytes; at most 64 names) and come before :value";
    } else if (!strcmp(name, ":value")) {
        *seen |= 8;
        return (*seen & 4) ? edn_value_read(r, op, value) : ":f must come before :value";
    } else if (!strcmp(name, ":node")) {
        if (!edn_int_or_nil(r, &v, &nil) || (!nil && (v < 0 || v > INT32_MAX))) {
            return ":node must be nil or a non-negative integer";
        }
        op->node = nil ? TR_NODE_NONE : (int32_t)v;
        return NULL;
    } else if (!strcmp(name, ":error")) {
        return edn_string_read(r, op->error, sizeof op->error) ? NULL : ":error must be a string";
    }
    return "unknown key (this reader reads what troupe writes)";
}

static const char *edn_op(tr_history *h, edn *r, tr_op *op, tr_value *v) {
    memset(op, 0, sizeof *op);
    op->node = TR_NODE_NONE;
    unsigned seen = 0;
    if (!edn_eat(r, '{')) {
        return "expected '{'";
    }
    while (!edn_eat(r, '}')) {
        char name[16];
        if (!edn_word(r, name, sizeof name) || name[0] != ':') {
            return "expected a keyword or '}'";
        }
        const char *why = edn_field(h, r, name, op, v, &seen);
        if (why) {
            return why;
        }
    }
    return seen == 15 ? NULL : "an op needs :type, :process, :f and :value";
}

int tr__history_load_edn(const char *text, size_t len, size_t max_ops, tr_history **out, char *err,
                         size_t err_cap) {
    TR_ASSERT(text && out);
    *out = NULL;
    scratch s = {0};
    edn r = {.p = text, .end = text + len, .line_start = text, .line = 1, .s = &s};
    if (!edn_eat(&r, '[')) {
        set_err(err, err_cap, "line %d column %d: a history must be an EDN vector of op maps",
                r.line, edn_column(&r));
        return TR_ECORRUPT;
    }
    tr_history *h = tr__history_create(max_ops);
    if (!h) {
        set_err(err, err_cap, "out of memory");
        return TR_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && !edn_eat(&r, ']'); i++) {
        tr_op op;
        tr_value v = {.kind = TR_VALUE_NIL};
        const char *why = edn_op(h, &r, &op, &v);
        rc = why ? TR_ECORRUPT : import_append(h, &op, &v, i, err, err_cap);
        if (why) {
            set_err(err, err_cap, "line %d column %d: op %zu: %s", r.line, edn_column(&r), i, why);
        }
        scratch_reset(&s);
    }
    edn_ws(&r);
    if (rc == 0 && r.p != r.end) {
        set_err(err, err_cap, "line %d column %d: trailing data after the history", r.line,
                edn_column(&r));
        rc = TR_ECORRUPT;
    }
    scratch_deinit(&s);
    if (rc != 0) {
        tr__history_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---- import: files ------------------------------------------------------------------ */

/* JSON if the first element starts with '{' followed by '"'; EDN if by ':'. */
static bool looks_like_edn(const char *p, size_t len) {
    const char *end = p + len;
    int braces = 0;
    for (; p < end; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') {
            continue;
        }
        if ((*p == '[' && braces == 0) || (*p == '{' && braces == 1)) {
            braces++;
            continue;
        }
        return braces == 2 && *p == ':';
    }
    return false;
}

static int read_file(const char *path, char **text, size_t *len, char *err, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, cap, "%s: %s", path, strerror(errno));
        return TR_EIO;
    }
    size_t n = 0, bufcap = 4096;
    char *buf = malloc(bufcap);
    int rc = buf ? 0 : TR_ENOMEM;
    while (rc == 0) {
        if (n == bufcap) {
            char *nb = bufcap >= TR_HISTORY_FILE_MAX ? NULL : realloc(buf, bufcap * 2);
            rc = nb ? 0 : (bufcap >= TR_HISTORY_FILE_MAX ? TR_ETOOBIG : TR_ENOMEM);
            buf = nb ? nb : buf;
            bufcap = nb ? bufcap * 2 : bufcap;
            continue;
        }
        errno = 0;
        size_t got = fread(buf + n, 1, bufcap - n, f);
        n += got;
        if (got == 0) {
            rc = ferror(f) ? TR_EIO : 1;
        }
    }
    int read_errno = errno;
    fclose(f);
    if (rc != 1) {
        set_err(err, cap, "%s: %s", path,
                rc == TR_ETOOBIG ? "file larger than the history limit"
                : rc == TR_EIO   ? strerror(read_errno ? read_errno : EIO)
                                 : "out of memory");
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

int tr__history_load_file(const char *path, size_t max_ops, tr_history **out, char *err,
                          size_t err_cap) {
    TR_ASSERT(path && out);
    *out = NULL;
    char *text;
    size_t len;
    int rc = read_file(path, &text, &len, err, err_cap);
    if (rc != 0) {
        return rc;
    }
    if (looks_like_edn(text, len)) {
        rc = tr__history_load_edn(text, len, max_ops, out, err, err_cap);
    } else {
        rc = tr__history_load_json(text, len, max_ops, out, err, err_cap);
    }
    free(text);
    return rc;
}
