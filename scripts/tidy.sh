#!/bin/sh
# The tidy check: the include arrows between folders, each foreign library's header in its home
# files only, and no clock, random source, sleep, thread or socket outside the engines. What is
# forbidden, and which files are allowed to do it, is one table: scripts/tidy.rules.
#
# It checks what the compiler sees, not the spelling of the source: the includes are the
# directives the preprocessor acts on (its -dI output: not those under #if 0), each resolved the
# way the compiler resolves it (the including file's folder, then the search path the compiler
# reports with -v for the flags build.zig gives every source), so "../cluster/x.h" or a header
# found next to the file counts as what it is; and calls are matched in the code with comments
# and string literals removed. Every C source and header of include/ runtime/ proto/ cluster/ sim/
# actors/ harness/ cli/ bench/ examples/ is checked; tests/ may include and call anything.
#
# Usage: tidy.sh [ROOT]   (default: the repository this script is in)
#   CC          the compiler whose preprocessor reads the files (default: cc; gcc's -dI and
#               -fpreprocessed are used)
#   TIDY_RULES  the rule table (default: tidy.rules next to this script)
# Prints one line per violation, "tidy: FILE[:LINE]: RULE: what", and exits 1 if there is one,
# 2 if it cannot check (a file the preprocessor rejects, a malformed table), 0 otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
rules=${TIDY_RULES:-"$here/tidy.rules"}
root=${1:-"$here/.."}
cc=${CC:-cc}
case $rules in /*) ;; *) rules=$(pwd)/$rules ;; esac
cd "$root" || exit 2
[ -r "$rules" ] || { echo "tidy: cannot read the rule table $rules" >&2; exit 2; }
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# The table and the facts, in one pass: a fact breaks every rule of its kind whose scope takes
# its file and whose pattern matches, unless the rule allows that file.
judge='
    BEGIN {
        while ((getline l < table) > 0) {
            ln++
            if (l ~ /^[[:space:]]*(#|$)/) continue
            nf = split(l, w, /[[:space:]]+/)
            if (w[1] == "rule" && nf == 5) {
                cur = w[2]
                if (cur in kind) { bad = bad " duplicate rule " cur " (line " ln ")" }
                if (w[3] != "include" && w[3] != "call" && w[3] != "text")
                    bad = bad " unknown kind " w[3] " (line " ln ")"
                order[++nr] = cur; kind[cur] = w[3]; scope[cur] = w[4]; pat[cur] = w[5]
            } else if (w[1] == "allow" && nf == 2 && cur != "") {
                allowed[cur, w[2]] = 1
                # An allowance for a file that is gone would silently allow its successor
                # nothing and hide a stale table: name it.
                if (validate && system("test -f \"" w[2] "\"") != 0) {
                    printf "tidy: %s: allowed to break %s but does not exist\n", w[2], cur
                    found = 1
                }
            } else if (w[1] == "probe" && nf >= 3 && cur != "") {
                continue
            } else {
                bad = bad " line " ln
            }
        }
        if (bad != "" || nr == 0) { print "tidy: malformed rule table:" bad; exit 2 }
    }
    {
        for (i = 1; i <= nr; i++) {
            r = order[i]
            if (kind[r] != $2 || ((r, $1) in allowed) || $1 !~ scope[r] || $4 !~ pat[r]) continue
            where = $3 > 0 ? $1 ":" $3 : $1
            if ($2 == "include") printf "tidy: %s: %s: includes %s\n", where, r, $4
            else { t = $4; sub(/^[[:space:]]+/, "", t); printf "tidy: %s: %s: %s\n", where, r, t }
            found = 1
        }
    }
    END { if (bad != "" || nr == 0) exit 2; exit found ? 1 : 0 }
'
# The table first: a malformed one stops here; an allowance for a missing file is reported.
LC_ALL=C awk -F '\t' -v table="$rules" -v validate=1 "$judge" /dev/null
status=$?
[ $status -eq 2 ] && exit 2

# The compiler's search path for these flags: "q<TAB>dir" for "..." includes (after the
# including file's own folder), "a<TAB>dir" for <...> ones (and "..." ones after the q list).
cppflags="-std=gnu11 -D_GNU_SOURCE -I. -Iinclude"
# shellcheck disable=SC2086
"$cc" -E -x c -v $cppflags /dev/null -o /dev/null 2>&1 | awk '
    /^#include "\.\.\." search starts here:/ { k = "q"; next }
    /^#include <\.\.\.> search starts here:/ { k = "a"; next }
    /^End of search list/ { k = "" }
    k != "" && /^ / { sub(/^ /, ""); print k "\t" $0 }' >"$tmp/search"
grep -q '^a' "$tmp/search" || { echo "tidy: cannot get $cc's include path" >&2; exit 2; }
top=$(pwd -P)

dirs=""
for d in include runtime proto cluster sim actors harness cli bench examples; do
    [ -d "$d" ] && dirs="$dirs $d"
done
# shellcheck disable=SC2086
find $dirs -type f -name '*.[ch]' | LC_ALL=C sort >"$tmp/files"

# One record per fact, "FILE<TAB>KIND<TAB>LINE<TAB>TEXT": KIND include (TEXT = the resolved
# header), call (TEXT = code without comments or strings), text (code without comments).
: >"$tmp/facts"
: >"$tmp/includes"
while IFS= read -r f; do
    # Includes: the file's own #include directives that the preprocessor acted on, with their
    # line (-dI prints each one in place; line markers say in which file and at which line).
    # shellcheck disable=SC2086
    if ! "$cc" -E -dI $cppflags -x c "$f" -o "$tmp/pp" 2>"$tmp/err"; then
        echo "tidy: $f: the preprocessor rejects it:"
        head -n 5 "$tmp/err"
        status=2
        continue
    fi
    awk -v f="$f" '
        /^# [0-9]+ "/ { n = $2 - 1; cur = $3; gsub(/"/, "", cur); next }
        { n++ }
        cur == f && /^#[[:space:]]*include[[:space:]]*[<"]/ {
            s = $0
            sub(/^#[[:space:]]*include[[:space:]]*/, "", s)
            q = substr(s, 1, 1) == "<" ? "a" : "q"
            sub(/^[<"]/, "", s); sub(/[>"].*$/, "", s)
            printf "%s\t%d\t%s\t%s\n", f, n, q, s
        }' "$tmp/pp" >>"$tmp/includes"
    # Code: gcc -fpreprocessed removes comments only (no macro expansion, no includes); its
    # line markers keep the source's line numbers.
    if ! "$cc" -fpreprocessed -dD -E -x c "$f" 2>"$tmp/err" >"$tmp/code"; then
        echo "tidy: $f: the preprocessor rejects it:"
        head -n 5 "$tmp/err"
        status=2
        continue
    fi
    awk -v f="$f" '
        /^# [0-9]+ "/ { n = $2 - 1; next }
        {
            n++
            if ($0 ~ /^[[:space:]]*$/) next
            gsub(/\t/, " ")
            printf "%s\ttext\t%d\t%s\n", f, n, $0
            s = $0
            gsub(/\\./, "", s)                  # escapes first, so \" ends no string
            gsub(/"[^"]*"/, "\"\"", s)
            gsub(/\047[^\047]*\047/, "0", s)    # character constants
            printf "%s\tcall\t%d\t%s\n", f, n, s
        }' "$tmp/code" >>"$tmp/facts"
done <"$tmp/files"

# Resolve each include as the compiler does: "x" in the including file's folder, then the q
# and a lists; <x> in the a list; the first that exists. Name it by a path from the root when
# it is one of the tree's files, <x> when it was found outside the tree.
awk -F '\t' -v top="$top" -v search="$tmp/search" '
    BEGIN {
        while ((getline l < search) > 0) {
            split(l, w, "\t")
            if (w[1] == "q") qd[++nq] = w[2]; else ad[++na] = w[2]
        }
    }
    function norm(p,    n, i, k, part, out) {
        if (substr(p, 1, 1) != "/") p = top "/" p
        n = split(p, part, "/"); k = 0
        for (i = 1; i <= n; i++) {
            if (part[i] == "" || part[i] == ".") continue
            if (part[i] == "..") { if (k > 0) k--; continue }
            out[++k] = part[i]
        }
        p = ""
        for (i = 1; i <= k; i++) p = p "/" out[i]
        return p
    }
    function exists(p,    x, r) { r = (getline x < p); close(p); return r >= 0 }
    function try(dir, s,    p) {
        p = substr(s, 1, 1) == "/" ? s : dir "/" s
        if (!exists(p)) return ""
        p = norm(p)
        if (index(p, top "/") == 1) return substr(p, length(top) + 2)
        return "<" substr(norm(top "/" s), length(top) + 2) ">"
    }
    {
        f = $1; s = $4; name = ""
        if ($3 == "q") {
            dir = f; if (!sub(/\/[^\/]*$/, "", dir)) dir = "."
            name = try(dir, s)
            for (i = 1; name == "" && i <= nq; i++) name = try(qd[i], s)
        }
        for (i = 1; name == "" && i <= na; i++) name = try(ad[i], s)
        if (name == "") name = "<" s ">"     # not found: the preprocessor would have said so
        printf "%s\tinclude\t%d\t%s\n", f, $2, name
    }' "$tmp/includes" >>"$tmp/facts"

LC_ALL=C awk -F '\t' -v table="$rules" -v validate=0 "$judge" "$tmp/facts"
rc=$?
[ $rc -gt $status ] && status=$rc
[ $status -eq 0 ] && echo "tidy: ok ($(wc -l <"$tmp/files") files)"
exit $status
