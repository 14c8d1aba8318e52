#!/bin/sh
# nginx, wrk, redis-server and redis-cli with their shared libraries, for a machine that has
# only Python:
#   tests/bench/carry.sh DIR        (here, where `apt-get install nginx-light wrk redis` ran)
#   copy DIR over, then there:
#   PATH=DIR/bin:$PATH .venv/bin/python -m tests.bench.scaleout
# DIR/bin holds wrappers that set LD_LIBRARY_PATH=DIR/lib for the carried programs alone
# (DIR/real), so Python there keeps its own libraries. glibc's own libraries stay behind (the
# target's are used with its loader), so the target's glibc must be as new as this machine's
# and its architecture the same. PostgreSQL needs nothing carried: with nothing on 5432 the
# bench runs the pgserver wheel's.
set -e
out=${1:?usage: tests/bench/carry.sh DIR}
mkdir -p "$out/bin" "$out/lib" "$out/real"
for tool in nginx wrk redis-server redis-cli; do
  cp "$(command -v "$tool")" "$out/real/"
  printf '#!/bin/sh\nd=$(dirname "$(readlink -f "$0")")/..\nLD_LIBRARY_PATH="$d/lib" exec "$d/real/%s" "$@"\n' \
    "$tool" >"$out/bin/$tool"
  chmod +x "$out/bin/$tool"
done
ldd "$out"/real/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$out/lib/"; done
"$out/bin/nginx" -v
"$out/bin/wrk" -v | head -1 || true
"$out/bin/redis-server" --version
echo "carried: $(ls "$out/lib" | tr '\n' ' ')"
