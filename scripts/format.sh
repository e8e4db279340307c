#!/bin/sh
# Formats every C source and header of the repository with the checked-in .clang-format.
#   sh scripts/format.sh          rewrite files in place
#   sh scripts/format.sh --check  list unformatted files and fail (what the test step runs)
# clang-format is pinned by scripts/bootstrap.sh (PyPI's clang-format wheel).
set -eu
cd "$(dirname "$0")/.."
CF=$(python3 -c 'import clang_format; print(clang_format._get_executable("clang-format"))' 2>/dev/null) || {
    echo "format: clang-format is not installed (run scripts/bootstrap.sh)" >&2
    exit 2
}
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './.zig-cache/*')
if [ "${1:-}" = "--check" ]; then
    bad=""
    for f in $files; do
        [ -f "$f" ] || continue
        "$CF" --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
    done
    if [ -n "$bad" ]; then
        echo "format: not formatted (run sh scripts/format.sh):$bad" >&2
        exit 1
    fi
    echo "format: ok"
else
    # shellcheck disable=SC2086
    "$CF" -i $files
fi
