#!/bin/bash
# The dependency rule of ref/ (the method and nothing else), checked: every file under ref/ may
# include only ref/'s own headers and a few C standard headers, and does no I/O: no FILE, no
# standard streams, no stdio beyond snprintf/vsnprintf, no POSIX files, no OpenMP. Errors are
# reported through lv_set_error; files are data/'s, threads and BLAS blas_glue/'s.
#   tests/deps.sh [DIR]        check DIR (default: ref/ beside this script); exit 1 on a violation
#   tests/deps.sh --self-test  the rule must pass a clean copy of ref/ and fail each injection
set -u
here=$(cd "$(dirname "$0")" && pwd)
allowed="errno.h float.h inttypes.h limits.h math.h stdarg.h stddef.h stdint.h stdio.h stdlib.h
string.h"
allowed=$(echo $allowed)
# stdio.h and stdlib.h functions that read or write files, streams or the environment of files
io_calls="fopen|freopen|fdopen|fclose|fread|fwrite|fflush|fseek|fseeko|ftell|ftello|rewind|fgetpos"
io_calls="$io_calls|fsetpos|setbuf|setvbuf|fprintf|vfprintf|printf|vprintf|dprintf|scanf|fscanf"
io_calls="$io_calls|sscanf|vscanf|vfscanf|vsscanf|fgetc|getc|getchar|fgets|gets|ungetc|fputc|putc"
io_calls="$io_calls|putchar|fputs|puts|perror|remove|rename|tmpfile|tmpnam|fileno|popen|pclose"
io_calls="$io_calls|open|openat|creat|close|read|write|pread|pwrite|lseek|mmap|munmap|stat|fstat"
io_calls="$io_calls|lstat|unlink|mkdir|rmdir|opendir|readdir|closedir|ftruncate|fsync|dup|dup2"

# check DIR: prints one line per violation (FILE:LINE: what) and the verdict; exit 0 or 1
check() {
    local dir=${1%/} files n own std out
    [ -d "$dir" ] || { echo "deps: no folder $dir"; return 2; }
    files=$(cd "$dir" && find . -type f \( -name '*.c' -o -name '*.h' \) | sed 's|^\./||' | sort)
    n=$(echo "$files" | grep -c .)
    [ "$n" -gt 0 ] || { echo "deps: no .c or .h files in $dir"; return 2; }
    out=$(cd "$dir" && awk -v allowed=" $allowed " -v io="$io_calls" -v dir="$dir" \
                             -v headers="$(echo $files)" '
        function bad(what) { printf "%s/%s:%d: %s\n", dir, FILENAME, FNR, what; nbad++; hit = 1 }
        BEGIN { k = split(headers, a, " "); for (i = 1; i <= k; i++) if (a[i] ~ /\.h$/) own[a[i]] = 1 }
        FNR == 1 { incomment = 0 }
        {
            # the line without comments, once with string literals (code) and once without (bare)
            line = $0; code = ""; bare = ""; instr = 0; hit = 0
            for (i = 1; i <= length(line); i++) {
                c = substr(line, i, 1); c2 = substr(line, i, 2)
                if (incomment) { if (c2 == "*/") { incomment = 0; i++ } continue }
                if (instr) {
                    code = code c
                    if (c == "\\") { code = code substr(line, i + 1, 1); i++ }
                    else if (c == q) { instr = 0; bare = bare c }
                    continue
                }
                if (c2 == "/*") { incomment = 1; i++; code = code " "; bare = bare " "; continue }
                if (c2 == "//") break
                if (c == "\"" || c == "\047") { instr = 1; q = c }
                code = code c; bare = bare c
            }
            if (code ~ /^[ \t]*#[ \t]*include/) {
                h = code; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", h)
                if (h ~ /^</) {
                    sub(/^</, "", h); sub(/>.*/, "", h)
                    if (index(allowed, " " h " ")) used[h] = 1
                    else bad("includes <" h ">: not one of the C standard headers ref/ may use")
                } else if (h ~ /^"/) {
                    sub(/^"/, "", h); sub(/".*/, "", h)
                    if (h ~ /\// || !(h in own)) bad("includes \"" h "\": not a header of " dir "/")
                    else if (!(h in nown)) { nown[h] = 1; nowns++ }
                } else bad("includes " h ": a computed include")
            }
            if (code ~ /^[ \t]*#[ \t]*pragma[ \t]+omp/ || code ~ /_Pragma[ \t]*\([ \t]*"[ \t]*omp/)
                bad("an OpenMP pragma: threads are blas_glue/\047s")
            if (bare ~ /(^|[^A-Za-z0-9_])omp_[a-z_]+[ \t]*\(/) bad("calls the OpenMP runtime")
            s = bare
            while (match(s, "(^|[^A-Za-z0-9_.>])(" io ")[ \t]*\\(")) {
                f = substr(s, RSTART, RLENGTH); sub(/^[^A-Za-z_]/, "", f); sub(/[ \t]*\($/, "", f)
                if (f == "fprintf" && s ~ /fprintf[ \t]*\([ \t]*std(err|out)/)
                    bad("fprintf to a standard stream: ref/ reports errors via lv_set_error")
                else if (f ~ /^v?sscanf$/) bad(f "(): ref/ uses stdio.h for snprintf/vsnprintf only")
                else bad("I/O: " f "(): files and streams are data/\047s and tools/\047s")
                s = substr(s, RSTART + RLENGTH)
            }
            if (bare ~ /(^|[^A-Za-z0-9_])FILE([^A-Za-z0-9_]|$)/) bad("FILE: files are data/\047s")
            if (!hit && bare ~ /(^|[^A-Za-z0-9_])(stdin|stdout|stderr)([^A-Za-z0-9_]|$)/)
                bad("a standard stream: ref/ prints nothing")
        }
        END {
            u = ""; for (h in used) u = u " " h
            printf "#used%s\n#own %d\n#bad %d\n", u, nowns, nbad
        }' $files 2>&1 </dev/null) || { echo "$out"; echo "deps: awk failed"; return 2; }
    echo "$out" | grep -v '^#'
    nbad=$(echo "$out" | sed -n 's/^#bad //p')
    if [ "${nbad:-1}" -ne 0 ]; then
        echo "deps: FAILED: $nbad violations of the ref/ rule in $dir/ (allowed: its own headers" \
             "and <$allowed>; no I/O, no OpenMP)"
        return 1
    fi
    std=$(echo "$out" | sed -n 's/^#used //p' | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
    own=$(echo "$out" | sed -n 's/^#own //p')
    echo "deps: $n files in $dir/ include only its own headers ($own of them) and <$std>" \
         "(allowed: <$allowed>); no file I/O, no stdio beyond snprintf/vsnprintf, no OpenMP"
}

self_test() {
    local src=$here/../ref target failed=0 name out
    tmp=$(mktemp -d) || exit 2
    trap 'rm -rf "$tmp"' EXIT
    target=$(cd "$src" && ls *.c | head -n 1)
    fresh() { rm -rf "$tmp/ref"; cp -r "$src" "$tmp/ref"; }
    fresh
    if out=$(check "$tmp/ref"); then echo "  ok: the clean copy of ref/ passes"
    else echo "$out"; echo "  FAIL: the clean copy of ref/ fails"; failed=1; fi
    # injections: each must fail the rule, and name the file
    local inject=(
        '#include <omp.h>'
        '#include "../data/video.h"'
        '#include <cblas.h>'
        '#include <unistd.h>'
        '#include "video.h"'
        'static void *lv_self_test_io(void) { return fopen("x", "r"); }'
        'static void lv_self_test_err(void) { fprintf(stderr, "x\n"); }'
        'static void lv_self_test_file(void *p) { FILE *f = p; (void)f; }'
        'static void lv_self_test_omp(float *x) {
#pragma omp parallel for
    for (int i = 0; i < 4; i++) x[i] = 0; }'
    )
    for name in "${inject[@]}"; do
        fresh; printf '%s\n' "$name" >>"$tmp/ref/$target"
        out=$(check "$tmp/ref")
        if [ $? -eq 1 ] && echo "$out" | grep -q "/$target:[0-9]*: "; then
            echo "  ok: fails with $(echo "$name" | head -n 1 | cut -c1-60): $(echo "$out" | head -n 1 | sed "s|^$tmp/ref/||")"
        else echo "$out"; echo "  FAIL: the rule passes an injected: $name"; failed=1; fi
    done
    # controls: the same words in comments and strings, and the allowed stdio, must still pass
    local control=(
        '/* fopen( and #include <omp.h> in a comment */'
        'static const char lv_self_test_s[] = "fopen(stderr) #pragma omp";'
        'static int lv_self_test_ok(char *b) { return snprintf(b, 4, "%d", 1); }'
    )
    for name in "${control[@]}"; do
        fresh; printf '%s\n' "$name" >>"$tmp/ref/$target"
        if out=$(check "$tmp/ref"); then echo "  ok: passes with $(echo "$name" | cut -c1-60)"
        else echo "$out"; echo "  FAIL: the rule fails on an allowed: $name"; failed=1; fi
    done
    if [ $failed -eq 0 ]; then
        echo "deps --self-test: passed (clean copy passes, ${#inject[@]} injections into" \
             "$target fail, ${#control[@]} controls pass)"
    else echo "deps --self-test: FAILED"; fi
    return $failed
}

case ${1:-} in
    --self-test) self_test ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' ;;
    "") cd "$here/.." && check ref ;;
    *) check "$1" ;;
esac
