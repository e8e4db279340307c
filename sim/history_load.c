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

/* Appends one parsed op, translating failures into a message naming op number `n`. */
static int import_append(tr_history *h, const tr_op *op, size_t n, char *err, size_t cap) {
    int rc = tr__history_append(h, op);
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
                tr__history_append_why(h, op));
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

/* Fills key/value/has_value from "value": [key, null | int | [from, to]]. */
static const char *json_parse_value(json_t *v, tr_op *op) {
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 0))) {
        return "\"value\" must be [key, v] with an integer key";
    }
    op->key = json_integer_value(json_array_get(v, 0));
    json_t *x = json_array_get(v, 1);
    op->has_value = !json_is_null(x);
    if (json_is_null(x)) {
        return NULL;
    }
    bool pair = op->f >= TR_F_BUILTIN_COUNT ? json_is_array(x) : tr__history_f_is_pair(op->f);
    if (pair) {
        op->pair = true;
        if (!json_is_array(x) || json_array_size(x) != 2 ||
            !json_is_integer(json_array_get(x, 0)) || !json_is_integer(json_array_get(x, 1))) {
            return op->f == TR_F_CAS ? "a cas value must be [key, [from, to]]"
                   : op->f < TR_F_BUILTIN_COUNT
                       ? "a reserve or restock value must be [key, [qty, id]]"
                       : "a pair value must be [key, [integer, integer]]";
        }
        op->value = json_integer_value(json_array_get(x, 0));
        op->value_to = json_integer_value(json_array_get(x, 1));
        return NULL;
    }
    if (!json_is_integer(x)) {
        return "a read or write value must be [key, integer-or-null]";
    }
    op->value = json_integer_value(x);
    return NULL;
}

static const char *json_parse_op(tr_history *h, json_t *o, tr_op *op) {
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
    json_t *v = json_object_get(o, "value");
    return v ? json_parse_value(v, op) : "\"value\" is missing";
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
                           char *err, size_t cap) {
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
    const char *why = json_parse_op(h, v, &op);
    json_decref(v);
    if (why) {
        set_err(err, cap, "line %d: op %zu: %s", p->line, n, why);
        return TR_ECORRUPT;
    }
    advance(text, p, p->at + (size_t)je.position);
    return import_append(h, &op, n, err, cap);
}

/* Streams the top-level array one element at a time, so memory is the text plus the
 * history, never a whole DOM (jansson's tree of a large history is ~15x the text). */
static int json_import(tr_history *h, const char *text, size_t len, char *err, size_t cap) {
    text_pos p = {.line = 1};
    skip_ws(text, len, &p);
    if (p.at == len || text[p.at] != '[') {
        return json_not_array(text, len, err, cap);
    }
    advance(text, &p, p.at + 1);
    skip_ws(text, len, &p);
    bool more = p.at < len && text[p.at] != ']';
    for (size_t n = 0; more; n++) {
        int rc = json_import_one(h, text, len, &p, n, err, cap);
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
    int rc = json_import(h, text, len, err, err_cap);
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
    int line;
} edn;

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

static const char *edn_value_read(edn *r, tr_op *op) {
    bool nil;
    if (!edn_eat(r, '[') || !edn_int(r, &op->key)) {
        return ":value must be [key v]";
    }
    edn_ws(r);
    bool pair_ok = op->f >= TR_F_BUILTIN_COUNT || tr__history_f_is_pair(op->f);
    if (pair_ok && edn_eat(r, '[')) {
        if (!edn_int(r, &op->value) || !edn_int(r, &op->value_to) || !edn_eat(r, ']')) {
            return op->f == TR_F_CAS ? "a cas value must be [key [from to]]"
                   : op->f < TR_F_BUILTIN_COUNT
                       ? "a reserve or restock value must be [key [qty id]]"
                       : "a pair value must be [key [integer integer]]";
        }
        op->has_value = true;
        op->pair = true;
    } else if (!edn_int_or_nil(r, &op->value, &nil)) {
        return ":value must be [key nil-or-integer]";
    } else {
        op->has_value = !nil;
        op->value = nil ? 0 : op->value;
    }
    return edn_eat(r, ']') ? NULL : ":value must be [key v]";
}

static const char *edn_field(tr_history *h, edn *r, const char *name, tr_op *op, unsigned *seen) {
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
        return (*seen & 4) ? edn_value_read(r, op) : ":f must come before :value";
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

static const char *edn_op(tr_history *h, edn *r, tr_op *op) {
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
        const char *why = edn_field(h, r, name, op, &seen);
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
    edn r = {.p = text, .end = text + len, .line = 1};
    if (!edn_eat(&r, '[')) {
        set_err(err, err_cap, "line %d: a history must be an EDN vector of op maps", r.line);
        return TR_ECORRUPT;
    }
    tr_history *h = tr__history_create(max_ops);
    if (!h) {
        set_err(err, err_cap, "out of memory");
        return TR_ENOMEM;
    }
    for (size_t i = 0; !edn_eat(&r, ']'); i++) {
        tr_op op;
        const char *why = edn_op(h, &r, &op);
        int rc = why ? TR_ECORRUPT : import_append(h, &op, i, err, err_cap);
        if (why) {
            set_err(err, err_cap, "line %d: op %zu: %s", r.line, i, why);
        }
        if (rc != 0) {
            tr__history_destroy(h);
            return rc;
        }
    }
    edn_ws(&r);
    if (r.p != r.end) {
        set_err(err, err_cap, "line %d: trailing data after the history", r.line);
        tr__history_destroy(h);
        return TR_ECORRUPT;
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
