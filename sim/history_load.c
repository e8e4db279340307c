/* history_load.c — reading a history back (see history.h and history_load.h): what both
 * readers share (history_import.h), JSON, troupe's own, through jansson, and the file reader
 * that tells JSON from EDN (history_load_edn.c: EDN as troupe, Jepsen and Knossos write it).
 * Every client op goes through tr__history_append,
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
#include "sim/history_import.h"
#include "sim/history_load.h"
#include "sim/history_value.h"
#include "troupe.h"

/* ---- import: shared --------------------------------------------------------------------- */

void tr__import_err(char *err, size_t cap, const char *fmt, ...) {
    if (!err || cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int tr__import_type(const char *s, uint8_t *out) {
    for (int t = TR_OP_INVOKE; t <= TR_OP_INFO; t++) {
        if (!strcmp(s, tr__history_op_type_name((tr_op_type)t))) {
            *out = (uint8_t)t;
            return 0;
        }
    }
    return -1;
}

/* The code of operation name s in h, interned if new (a service's own operation). */
int tr__import_f(tr_history *h, const char *s, uint8_t *out) {
    bool added;
    int f = tr__history_f_intern(h, s, &added);
    if (f < 0) {
        return -1;
    }
    *out = (uint8_t)f;
    return 0;
}

/* Takes ownership of block (freed by scratch_reset); false (and block freed) if it cannot:
 * out of memory, or past SCRATCH_MAX. */
bool tr__scratch_adopt(tr__scratch *s, void *block, size_t n) {
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
void *tr__scratch_alloc(tr__scratch *s, size_t n) {
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
    return p && tr__scratch_adopt(s, p, aligned) ? p : NULL;
}

void tr__scratch_reset(tr__scratch *s) {
    for (size_t i = 0; i < s->count; i++) {
        free(s->blocks[i]);
    }
    s->count = s->bytes = s->inline_used = 0;
}

void tr__scratch_deinit(tr__scratch *s) {
    tr__scratch_reset(s);
    free(s->blocks);
    s->blocks = NULL;
    s->cap = 0;
}

bool tr__import_int_pair(const tr_value *v) {
    return v->kind == TR_VALUE_TUPLE && tr__value_fast(v, true);
}

/* The error for a cas, reserve or restock value that is not a pair of integers. */
const char *tr__import_pair_why(uint8_t f, bool edn) {
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
int tr__import_append(tr_history *h, const tr_op *op, const tr_value *v, int line, size_t n,
                      char *err, size_t cap) {
    const char *why;
    int rc = tr__history_append_value(h, op, v, &why);
    if (rc == TR_EFULL && tr__history_count(h) < tr__history_max_ops(h)) {
        tr__import_err(err, cap, "line %d: op %zu: the history's values take more than %u MiB",
                       line, n, TR_HISTORY_VALUES_MAX >> 20);
        return TR_ETOOBIG;
    }
    if (rc == TR_EFULL) {
        tr__import_err(err, cap, "line %d: op %zu: more than %zu ops (raise the limit)", line, n,
                       tr__history_max_ops(h));
        return TR_ETOOBIG;
    }
    if (rc == TR_ENOMEM) {
        tr__import_err(err, cap, "line %d: op %zu: out of memory", line, n);
        return rc;
    }
    if (rc != 0) {
        tr__import_err(err, cap, "line %d: op %zu (process %" PRId64 "): %s", line, n, op->process,
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

static const char *json_to_value(json_t *x, int depth, tr__scratch *s, tr_value *out);

/* A one-member object: {"keyword": name} or {"base64": text}. */
static const char *json_tagged(json_t *x, tr__scratch *s, tr_value *out) {
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
    uint8_t *bytes = tr__scratch_alloc(s, len / 4 * 3 + 1);
    *out = (tr_value){.kind = TR_VALUE_BYTES, .bytes = (const char *)bytes};
    if (!bytes) {
        return "out of memory";
    }
    return tr__base64_decode(json_string_value(b), len, bytes, &out->len) == 0
               ? NULL
               : "\"base64\" must be RFC 4648 base64 with padding";
}

/* Converts x to a value whose strings borrow x's (valid while x is). */
static const char *json_to_value(json_t *x, int depth, tr__scratch *s, tr_value *out) {
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
    tr_value *items = n ? tr__scratch_alloc(s, n * sizeof *items) : NULL;
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
static const char *json_parse_value(json_t *value, uint8_t f, tr__scratch *s, tr_op *op,
                                    tr_value *v) {
    if (!json_is_array(value) || json_array_size(value) != 2 ||
        !json_is_integer(json_array_get(value, 0))) {
        return "\"value\" must be [key, v] with an integer key";
    }
    op->key = json_integer_value(json_array_get(value, 0));
    const char *why = json_to_value(json_array_get(value, 1), 0, s, v);
    if (!why && tr__history_f_is_pair(f) && v->kind != TR_VALUE_NIL && !tr__import_int_pair(v)) {
        why = tr__import_pair_why(f, false);
    }
    return why;
}

static const char *json_parse_op(tr_history *h, json_t *o, tr__scratch *s, tr_op *op, tr_value *v) {
    memset(op, 0, sizeof *op);
    op->node = TR_NODE_NONE;
    if (!json_is_object(o)) {
        return "not an object";
    }
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *f = json_string_value(json_object_get(o, "f"));
    if (!type || tr__import_type(type, &op->type) != 0) {
        return "\"type\" must be one of \"invoke\", \"ok\", \"fail\", \"info\"";
    }
    if (!f || tr__import_f(h, f, &op->f) != 0) {
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
        tr__import_err(err, cap, "a history must be a JSON array of op objects");
        json_decref(root);
    } else {
        tr__import_err(err, cap, "line %d column %d: %s", je.line, je.column, je.text);
    }
    return TR_ECORRUPT;
}

/* Parses one array element with jansson (which stops after it), then appends it. */
static int json_import_one(tr_history *h, const char *text, size_t len, text_pos *p, size_t n,
                           tr__scratch *s, char *err, size_t cap) {
    json_error_t je;
    json_t *v =
        json_loadb(text + p->at, len - p->at, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        int line = p->line + (je.line > 0 ? je.line - 1 : 0);
        int column = je.line == 1 ? p->column + je.column : je.column;
        tr__import_err(err, cap, "line %d column %d: %s", line, column, je.text);
        return TR_ECORRUPT;
    }
    tr_op op;
    tr_value value = {.kind = TR_VALUE_NIL};
    const char *why = json_parse_op(h, v, s, &op, &value);
    int rc = why ? TR_ECORRUPT : tr__import_append(h, &op, &value, p->line, n, err, cap);
    json_decref(v); /* after the append: the value borrows its strings */
    tr__scratch_reset(s);
    if (why) {
        tr__import_err(err, cap, "line %d: op %zu: %s", p->line, n, why);
    }
    advance(text, p, p->at + (size_t)je.position);
    return rc;
}

/* Streams the top-level array one element at a time, so memory is the text plus the
 * history, never a whole DOM (jansson's tree of a large history is ~15x the text). */
static int json_import(tr_history *h, const char *text, size_t len, tr__scratch *s, char *err,
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
            tr__import_err(err, cap, "line %d column %d: ',' or ']' expected after op %zu", p.line,
                           p.column, n);
            return TR_ECORRUPT;
        }
        if (more) {
            advance(text, &p, p.at + 1);
            skip_ws(text, len, &p);
        }
    }
    if (p.at == len) {
        tr__import_err(err, cap, "line %d column %d: ']' expected near end of file", p.line,
                       p.column);
        return TR_ECORRUPT;
    }
    advance(text, &p, p.at + 1);
    skip_ws(text, len, &p);
    if (p.at != len) {
        tr__import_err(err, cap, "line %d column %d: trailing data after the history", p.line,
                       p.column);
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
        tr__import_err(err, err_cap, "out of memory");
        return TR_ENOMEM;
    }
    tr__scratch s = {0};
    int rc = json_import(h, text, len, &s, err, err_cap);
    tr__scratch_deinit(&s);
    if (rc != 0) {
        tr__history_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
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
        tr__import_err(err, cap, "%s: %s", path, strerror(errno));
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
        tr__import_err(err, cap, "%s: %s", path,
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
        tr__import_err(err, err_cap,
                       "%s: a JSON history's values are [key, v]: no single-register form", path);
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
