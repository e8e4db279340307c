/* history_value.c — the values of a history (see history_value.h): limits, interning,
 * equality, EDN text and base64. */
#include "sim/history_value.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/history.h"

/* ---- limits ------------------------------------------------------------------------- */

bool tr__value_utf8_valid(const char *s, size_t len) {
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    while (p < end) {
        uint8_t c = *p;
        size_t n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : 3;
        if ((c >= 0x80 && c < 0xc2) || c > 0xf4 || (size_t)(end - p) <= n) {
            return false;
        }
        uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (p[k] & 0x3f);
        }
        bool overlong = (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000);
        if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        p += n + 1;
    }
    return true;
}

bool tr__value_keyword_valid(const char *name, size_t len) {
    if (len == 0 || len > TR_HISTORY_NAME_MAX ||
        !((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z')) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (c == '\0' || !strchr("-_.!?*+/", c))) {
            return false;
        }
    }
    return true;
}

static const char *check_node(const tr_value *v, int depth, size_t *size) {
    *size += sizeof(tr_value);
    switch (v->kind) {
    case TR_VALUE_NIL:
    case TR_VALUE_INT: return NULL;
    case TR_VALUE_STRING:
    case TR_VALUE_KEYWORD:
    case TR_VALUE_BYTES:
        if (v->len > TR_VALUE_BYTES_MAX) {
            return "a string or bytes longer than 65536 bytes";
        }
        if (v->len > 0 && !v->bytes) {
            return "a value without its bytes";
        }
        *size += v->len + 1;
        if (v->kind == TR_VALUE_KEYWORD && !tr__value_keyword_valid(v->bytes, v->len)) {
            return "a keyword must be a letter, then letters, digits or -_.!?*+/ (at most 31)";
        }
        if (v->kind == TR_VALUE_STRING &&
            (memchr(v->bytes, '\0', v->len) || !tr__value_utf8_valid(v->bytes, v->len))) {
            return "a string must be UTF-8 without NUL bytes";
        }
        return NULL;
    case TR_VALUE_TUPLE:
        if (depth >= TR_VALUE_DEPTH_MAX) {
            return "tuples nested deeper than 16";
        }
        if (v->len > 0 && !v->items) {
            return "a tuple without its items";
        }
        for (size_t i = 0; i < v->len; i++) {
            if (*size > TR_VALUE_SIZE_MAX) {
                break;
            }
            const char *why = check_node(&v->items[i], depth + 1, size);
            if (why) {
                return why;
            }
        }
        return NULL;
    default: return "an unknown value kind";
    }
}

const char *tr__value_check(const tr_value *v, size_t *size) {
    TR_ASSERT(v && size);
    *size = 0;
    const char *why = check_node(v, 0, size);
    if (!why && *size > TR_VALUE_SIZE_MAX) {
        why = "a value larger than 1 MiB";
    }
    return why;
}

/* ---- equality and hashing ------------------------------------------------------------- */

bool tr_value_equal(const tr_value *a, const tr_value *b) {
    if (a == b) {
        return true;
    }
    if (!a || !b || a->kind != b->kind) {
        return false;
    }
    switch (a->kind) {
    case TR_VALUE_NIL: return true;
    case TR_VALUE_INT: return a->i == b->i;
    case TR_VALUE_TUPLE:
        if (a->len != b->len) {
            return false;
        }
        for (size_t i = 0; i < a->len; i++) {
            if (!tr_value_equal(&a->items[i], &b->items[i])) {
                return false;
            }
        }
        return true;
    default: return a->len == b->len && (a->len == 0 || !memcmp(a->bytes, b->bytes, a->len));
    }
}

static uint64_t hash_value(const tr_value *v, uint64_t h) {
    h = tr__history_mix64(h ^ (uint64_t)v->kind) + v->len;
    if (v->kind == TR_VALUE_INT) {
        return tr__history_mix64(h ^ (uint64_t)v->i);
    }
    if (v->kind == TR_VALUE_TUPLE) {
        for (size_t i = 0; i < v->len; i++) {
            h = hash_value(&v->items[i], h + i);
        }
        return h;
    }
    for (size_t i = 0; v->kind != TR_VALUE_NIL && i < v->len; i++) {
        h = (h ^ (uint8_t)v->bytes[i]) * 0x100000001b3ULL; /* FNV-1a */
    }
    return tr__history_mix64(h);
}

/* ---- interning ------------------------------------------------------------------------ */

/* Copies v's tree into *node (nodes from there on) and its bytes at *text. */
static void copy_into(tr_value *dst, const tr_value *v, tr_value **nodes, char **text) {
    *dst = (tr_value){.kind = v->kind, .i = v->i, .len = v->len};
    if (v->kind == TR_VALUE_TUPLE) {
        tr_value *items = *nodes;
        *nodes += v->len;
        for (size_t i = 0; i < v->len; i++) {
            copy_into(&items[i], &v->items[i], nodes, text);
        }
        dst->items = items;
    } else if (v->kind != TR_VALUE_NIL && v->kind != TR_VALUE_INT) {
        if (v->len) {
            memcpy(*text, v->bytes, v->len);
        }
        (*text)[v->len] = '\0';
        dst->bytes = *text;
        *text += v->len + 1;
    }
}

static size_t count_nodes(const tr_value *v) {
    size_t n = 1;
    for (size_t i = 0; v->kind == TR_VALUE_TUPLE && i < v->len; i++) {
        n += count_nodes(&v->items[i]);
    }
    return n;
}

static tr_value *copy_value(const tr_value *v, size_t size) {
    size_t nodes = count_nodes(v);
    TR_ASSERT(nodes * sizeof(tr_value) <= size);
    tr_value *block = malloc(size);
    if (!block) {
        return NULL;
    }
    tr_value *next = block + 1;
    char *text = (char *)(block + nodes);
    copy_into(block, v, &next, &text);
    TR_ASSERT(next == block + nodes && text <= (char *)block + size);
    return block;
}

static tr__value_slot *slot_find(const tr__value_set *s, uint64_t hash, const tr_value *v) {
    size_t mask = s->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        tr__value_slot *slot = &s->slots[i];
        if (!slot->value || (slot->hash == hash && tr_value_equal(slot->value, v))) {
            return slot;
        }
    }
}

static int set_grow(tr__value_set *s) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    tr__value_slot *old = s->slots, *fresh = calloc(cap, sizeof *fresh);
    if (!fresh) {
        return TR_ENOMEM;
    }
    size_t old_cap = s->cap;
    s->slots = fresh;
    s->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].value) {
            *slot_find(s, old[i].hash, old[i].value) = old[i];
        }
    }
    free(old);
    return 0;
}

int tr__value_intern(tr__value_set *s, const tr_value *v, size_t size, const tr_value **out) {
    TR_ASSERT(s && v && out && size <= TR_VALUE_SIZE_MAX);
    if ((s->count + 1) * 2 > s->cap && set_grow(s) != 0) {
        return TR_ENOMEM;
    }
    uint64_t hash = hash_value(v, 0);
    tr__value_slot *slot = slot_find(s, hash, v);
    if (!slot->value) {
        if (s->bytes + size > TR_HISTORY_VALUES_MAX) {
            return TR_EFULL;
        }
        tr_value *copy = copy_value(v, size);
        if (!copy) {
            return TR_ENOMEM;
        }
        *slot = (tr__value_slot){.hash = hash, .value = copy};
        s->count++;
        s->bytes += size;
    }
    TR_DEBUG_ASSERT(tr_value_equal(slot->value, v));
    *out = slot->value;
    return 0;
}

void tr__value_set_deinit(tr__value_set *s) {
    for (size_t i = 0; i < s->cap; i++) {
        free(s->slots[i].value);
    }
    free(s->slots);
    *s = (tr__value_set){0};
}

/* ---- text ----------------------------------------------------------------------------- */

static void edn_text(FILE *out, const char *s, size_t len) {
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
        } else if (c == '\n' || c == '\t' || c == '\r') {
            fputc('\\', out);
            fputc(c == '\n' ? 'n' : c == '\t' ? 't' : 'r', out);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
        } else {
            fputc(c, out);
        }
    }
    fputc('"', out);
}

void tr__value_write_edn(FILE *out, const tr_value *v) {
    switch (v->kind) {
    case TR_VALUE_NIL: fputs("nil", out); break;
    case TR_VALUE_INT: fprintf(out, "%" PRId64, v->i); break;
    case TR_VALUE_STRING: edn_text(out, v->bytes, v->len); break;
    case TR_VALUE_KEYWORD: fprintf(out, ":%.*s", (int)v->len, v->bytes); break;
    case TR_VALUE_BYTES: {
        fputs("{:base64 \"", out);
        for (size_t at = 0; at < v->len; at += 48) { /* 48 bytes: 64 characters, no padding */
            char chunk[65];
            size_t n = v->len - at < 48 ? v->len - at : 48;
            tr__base64_encode((const uint8_t *)v->bytes + at, n, chunk);
            fputs(chunk, out);
        }
        fputs("\"}", out);
        break;
    }
    case TR_VALUE_TUPLE:
        fputc('[', out);
        for (size_t i = 0; i < v->len; i++) {
            fputs(i ? " " : "", out);
            tr__value_write_edn(out, &v->items[i]);
        }
        fputc(']', out);
        break;
    }
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void tr__base64_encode(const uint8_t *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64_alphabet[w >> 18 & 63];
        out[o++] = b64_alphabet[w >> 12 & 63];
        out[o++] = i + 1 < n ? b64_alphabet[w >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[w & 63] : '=';
    }
    out[o] = '\0';
}

static int b64_digit(char c) {
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

int tr__base64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len) {
    if (len % 4 != 0) {
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=') : 0;
        int d[4];
        for (int k = 0; k < 4; k++) {
            d[k] = k >= 4 - pad ? 0 : b64_digit(in[i + k]);
            if (d[k] < 0) {
                return -1;
            }
        }
        if (pad == 1 && in[i + 2] == '=') {
            return -1;
        }
        uint32_t w = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | d[3];
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))) {
            return -1; /* not canonical: bits past the last byte */
        }
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2) {
            out[o++] = (uint8_t)(w >> 8);
        }
        if (pad < 1) {
            out[o++] = (uint8_t)w;
        }
    }
    *out_len = o;
    return 0;
}
