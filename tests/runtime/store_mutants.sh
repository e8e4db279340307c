#!/bin/sh
# Plants known bugs in the store (runtime/store*.c), one at a time, in a scratch copy of the
# tree, and checks that the store suites fail on each (a test that cannot fail is worthless).
# It runs the suites' own steps, not `zig build test`, so that only a failing test counts as
# caught (a planted line may be unformatted, which the test step would report too).
# Usage: sh tests/runtime/store_mutants.sh   (from the repository root; a few minutes)
# Exit 0 when every mutant is caught; 1 (and the survivors' names) otherwise.
cd "$(dirname "$0")/../.." || exit 2
scratch=$(mktemp -d /tmp/store-mutants-XXXXXX) || exit 2
trap 'rm -rf "$scratch"' EXIT
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$scratch"
mkdir "$scratch/orig" && cp runtime/store*.c "$scratch/orig/"
survivors=0
mutant() { # name, file (in runtime/), exact text, replacement
    cp "$scratch"/orig/store*.c "$scratch/runtime/"
    python3 - "$scratch" "$2" "$3" "$4" <<'PY' || { echo "mutant $1: pattern not found"; exit 2; }
import sys
d, f, old, new = sys.argv[1:5]
s = open(d + "/orig/" + f).read()
assert old in s
open(d + "/runtime/" + f, "w").write(s.replace(old, new, 1))
PY
    before=$(ls -d /tmp/troupe-store-* 2>/dev/null)
    if (cd "$scratch" && python3 -m ziglang build test-test_store test-test_store_actor \
        test-test_store_crash >/dev/null 2>&1); then
        echo "SURVIVED: $1"; survivors=$((survivors + 1))
    else
        echo "caught:   $1"
    fi
    # A crashed test skips its teardown: remove the temporary stores this run left.
    for d in $(ls -d /tmp/troupe-store-* 2>/dev/null); do
        echo "$before" | grep -qx "$d" || rm -rf "$d"
    done
}
mutant "get ignores the overlay" store_actor.c "    entry *e = *tr__store_overlay_slot(st, k, fk, h);" \
"    entry *e = *tr__store_overlay_slot(st, k, fk, h);
    e = NULL;"
mutant "journal seq not read from LMDB" store_actor.c "    a->next_seq = rc == 0 ? last + 1 : 0;" \
"    a->next_seq = rc == 0 ? 1 : 0;"
mutant "waiters told before the write" store_commit.c \
"    int rc = failed ? failed : (b.count ? tr__store_write_batch(st, &b) : 0);" \
"    tr__store_fire_waiters(st, b.whead, 0);
    b.whead = NULL;
    int rc = failed ? failed : (b.count ? tr__store_write_batch(st, &b) : 0);"
mutant "no file size check" store.c "    return (uint64_t)sb.st_size < need ? TR_ECORRUPT : 0;" \
"    (void)need;
    return 0;"
mutant "failed store not sticky" store_commit.c "    if (rc != 0 && st->failed == 0) {" "    if (0) {"
mutant "kv superseded across batches" store_overlay.c "        if (old->gen == e->gen) {" "        if (1) {"
mutant "commit drops a newer overlay entry" store_overlay.c "        if (*pp == e) {
            *pp = e->hnext;" "        if ((*pp)->hash == e->hash) {
            e = *pp;
            *pp = e->hnext;"
mutant "snapshot superseded across batches" store_actor.c "        if (a->snap && a->snap->gen == e->gen) {" \
"        if (a->snap) {"
mutant "commit drops a newer snapshot" store_commit.c "    } else if (a->snap == e) {" "    } else if (a->snap) {"
[ "$survivors" -eq 0 ] && echo "every mutant was caught" && exit 0
exit 1
