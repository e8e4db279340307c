/* history_load.c — reading a history back (see history.h and history_load.h): JSON, troupe's
 * own, through jansson; EDN as troupe writes it and as Jepsen and Knossos write it (op maps
 * one per line, in a vector or a list, fields in any order, other processes' ops noted and
 * left out, values with or without keys). Every client op goes through tr__history_append,
 * so a loaded history holds the same invariants as a recorded one; a refusal is explained
 * with its position. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/history.h"
#include "sim/history_load.h"
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

/* Why the history refused op: its own reason, but for a read's completion carrying a value,
 * which the history reports in terms of the read's invoke. */
static const char *refused_why(const tr_op *op, const tr_value *v, const char *why) {
    bool valued = v ? v->kind != TR_VALUE_NIL : op->has_value;
    if (op->f == TR_F_READ && op->type != TR_OP_INVOKE && op->type != TR_OP_OK && valued) {
        return "a read that failed or ended info carries no value (only an ok read returns one)";
    }
    return why ? why : "refused";
}

/* Appends one parsed op with its value v (NULL: in op's fast fields), translating failures
 * into a message naming the op's line and number `n`. */
static int import_append(tr_history *h, const tr_op *op, const tr_value *v, int line, size_t n,
                         char *err, size_t cap) {
    const char *why;
    int rc = tr__history_append_value(h, op, v, &why);
    if (rc == TR_EFULL && tr__history_count(h) < tr__history_max_ops(h)) {
        set_err(err, cap, "line %d: op %zu: the history's values take more than %u MiB", line, n,
                TR_HISTORY_VALUES_MAX >> 20);
        return TR_ETOOBIG;
    }
    if (rc == TR_EFULL) {
        set_err(err, cap, "line %d: op %zu: more than %zu ops (raise the limit)", line, n,
                tr__history_max_ops(h));
        return TR_ETOOBIG;
    }
    if (rc == TR_ENOMEM) {
        set_err(err, cap, "line %d: op %zu: out of memory", line, n);
        return rc;
    }
    if (rc != 0) {
        set_err(err, cap, "line %d: op %zu (process %" PRId64 "): %s", line, n, op->process,
                refused_why(op, v, why));
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
    int rc = why ? TR_ECORRUPT : import_append(h, &op, &value, p->line, n, err, cap);
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

/* ---- import: EDN (troupe's, Jepsen's, Knossos's) ------------------------------------------- */

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
           (!tr__history_f_is_pair(f) || int_pair(&v->items[1]));
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
        bool pair_ok = !tr__history_f_is_pair(op->f) || w->kind == TR_VALUE_NIL || int_pair(w);
        return pair_ok ? NULL
               : op->f == TR_F_CAS
                   ? "a cas value must be [key [from to]], or [from to] in a history without keys"
                   : "a reserve or restock value must be [key [qty id]], or [qty id] without keys";
    }
    if (!keyed) {
        return tr__history_f_is_pair(op->f) && w->kind == TR_VALUE_TUPLE && w->len == 2
                   ? pair_why(op->f, true)
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
    if (t->type[0] != ':' || parse_type(t->type + 1, &op->type) != 0) {
        return ":type must be :invoke, :ok, :fail or :info";
    }
    if (t->f[0] != ':' || parse_f(im->h, t->f + 1, &op->f) != 0) {
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
        set_err(err, cap, "line %d column %d: op %zu: %s", im->r.line, edn_column(&im->r), i, why);
        return TR_ECORRUPT;
    }
    return import_append(im->h, &op, &v, t.line, i, err, cap);
}

/* The ops of a vector or list (close: its closing bracket), or maps one after another
 * (close 0) to the end of the text. */
static int edn_import_ops(edn_import *im, char close, char *err, size_t cap) {
    scratch *s = im->r.s;
    int rc = 0;
    for (size_t i = 0; rc == 0; i++) {
        edn_ws(&im->r);
        if (close ? edn_eat(&im->r, close) : im->r.p == im->r.end) {
            break;
        }
        if (im->r.p == im->r.end) {
            set_err(err, cap, "line %d column %d: the history's '%c' is not closed", im->r.line,
                    edn_column(&im->r), close == ']' ? '[' : '(');
            return TR_ECORRUPT;
        }
        rc = edn_import_op(im, i, err, cap);
        scratch_reset(s);
    }
    edn_ws(&im->r);
    if (rc == 0 && im->r.p != im->r.end) {
        set_err(err, cap, "line %d column %d: trailing data after the history", im->r.line,
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
    scratch s = {0};
    edn_import im = {.r = {.p = text, .end = text + len, .line_start = text, .line = 1, .s = &s},
                     .shape = o->shape,
                     .notes = notes};
    edn_ws(&im.r);
    char c = im.r.p < im.r.end ? *im.r.p : '{';
    if (c != '[' && c != '(' && c != '{' && c != '#') {
        set_err(err, err_cap,
                "line %d column %d: a history must be op maps: in a vector, in a list, or one "
                "after another",
                im.r.line, edn_column(&im.r));
        return TR_ECORRUPT;
    }
    im.r.p += c == '[' || c == '(';
    im.h = tr__history_create(o->max_ops);
    if (!im.h) {
        set_err(err, err_cap, "out of memory");
        return TR_ENOMEM;
    }
    int rc = edn_import_ops(&im, c == '[' ? ']' : c == '(' ? ')' : 0, err, err_cap);
    scratch_deinit(&s);
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

/* ---- import: files ------------------------------------------------------------------ */

/* EDN if the text opens with a comment, a list, a tag or a map whose first key is a keyword
 * (op maps one after another), or with a vector whose first element is such a map; JSON
 * otherwise. */
static bool looks_like_edn(const char *p, size_t len) {
    const char *end = p + len;
    int depth = 0;
    for (; p < end; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') {
            continue;
        }
        if (depth == 0 && (*p == ';' || *p == '(' || *p == '#')) {
            return true;
        }
        if ((*p == '[' && depth == 0) || (*p == '{' && depth <= 1)) {
            depth = *p == '{' ? 2 : 1;
            continue;
        }
        return depth == 2 && *p == ':';
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

int tr__history_import_file(const char *path, const tr__history_load_opts *o, tr_history **out,
                            tr__history_load_notes *notes, char *err, size_t err_cap) {
    TR_ASSERT(path && o && out);
    *out = NULL;
    if (notes) {
        *notes = (tr__history_load_notes){0};
    }
    char *text;
    size_t len;
    int rc = read_file(path, &text, &len, err, err_cap);
    if (rc != 0) {
        return rc;
    }
    if (looks_like_edn(text, len)) {
        rc = tr__history_import_edn(text, len, o, out, notes, err, err_cap);
    } else if (o->shape == TR_SHAPE_SINGLE) {
        set_err(err, err_cap, "%s: a JSON history's values are [key, v]: no single-register form",
                path);
        rc = TR_ECORRUPT;
    } else {
        rc = tr__history_load_json(text, len, o->max_ops, out, err, err_cap);
    }
    free(text);
    return rc;
}

int tr__history_load_file(const char *path, size_t max_ops, tr_history **out, char *err,
                          size_t err_cap) {
    tr__history_load_opts o = {.max_ops = max_ops};
    return tr__history_import_file(path, &o, out, NULL, err, err_cap);
}
