#!/usr/bin/env bash
# Builds the release binary and the ketamine-cds image with buildah (no registry needed), then
# smoke-tests the image: runs it, calls /cds-services and one example hook, checks the card.
# Prints the image size and the start-up time (process start -> /ready 200).
#   deploy/build-image.sh            # needs: cargo, buildah (apt-get install buildah), curl
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE="localhost/ketamine-cds:${VERSION}"
BUILDAH=(buildah --storage-driver vfs)
PORT=${SMOKE_PORT:-18181}

# With OpenTelemetry export compiled in (off until [telemetry] otlp_endpoint is set).
cargo build --release --locked --features otlp
BIN=target/release/ketamine-cds

# Root filesystem: the binary, the shared libraries it links (and the loader), DNS support.
CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
ROOT="$CTX/rootfs"
mkdir -p "$ROOT/usr/local/bin" "$ROOT/etc" "$ROOT/tmp" "$CTX/store"
install -m 0755 "$BIN" "$ROOT/usr/local/bin/ketamine-cds"
libs=$(ldd "$BIN" | awk '/=>/ { print $3 } /^\s*\/lib/ { print $1 }')
nss=$(ls /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libresolv.so.2 2>/dev/null || true)
for lib in $libs $nss; do
  [ -e "$lib" ] || continue
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# The loader is also reached through /lib64 on x86_64.
if [ -e /lib64/ld-linux-x86-64.so.2 ]; then mkdir -p "$ROOT/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/"; fi
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$ROOT/etc/group"
printf 'hosts: files dns\n' > "$ROOT/etc/nsswitch.conf"
chmod 1777 "$ROOT/tmp"
cp deploy/Containerfile "$CTX/Containerfile"

"${BUILDAH[@]}" bud --isolation chroot --layers=false -f "$CTX/Containerfile" -t "$IMAGE" "$CTX"
SIZE=$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE" | head -1)
echo "image: $IMAGE, size $SIZE"

# Smoke test: run the image's entrypoint in a chroot container on the host network.
CTR=$("${BUILDAH[@]}" from "$IMAGE")
cleanup() { kill "${RUN_PID:-0}" 2>/dev/null || true; "${BUILDAH[@]}" rm "$CTR" >/dev/null 2>&1 || true; rm -rf "$CTX"; }
trap cleanup EXIT
START=$(date +%s%N)
"${BUILDAH[@]}" run --isolation chroot --env KETAMINE_CDS_LISTEN="127.0.0.1:$PORT" "$CTR" -- /usr/local/bin/ketamine-cds serve > "$CTX/serve.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 200); do
  if curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1; then break; fi
  sleep 0.05
done
READY_MS=$(( ($(date +%s%N) - START) / 1000000 ))
curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null || { echo "smoke: never ready"; cat "$CTX/serve.log"; exit 1; }
curl -fsS "http://127.0.0.1:$PORT/cds-services" | grep -q '"ketamine-order-sign"' || { echo "smoke: discovery failed"; exit 1; }
ANSWER=$(curl -fsS -X POST -H 'Content-Type: application/json' \
  --data @examples/hooks/01-untreated-patient.json "http://127.0.0.1:$PORT/cds-services/ketamine-order-sign")
echo "$ANSWER" | grep -q '"summary":"Ketamine for neuropathic pain: no documented failure of SNRI, gabapentinoid and TCA"' \
  || { echo "smoke: unexpected answer: $ANSWER"; exit 1; }
# The call was kept in the image's SQLite store: the analytics page counts it.
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$PORT/analytics?format=json" | grep -q '"examined_orders": 1' && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/analytics?format=json" | grep -q '"examined_orders": 1' \
  || { echo "smoke: the call was not kept in the store"; cat "$CTX/serve.log"; exit 1; }
grep -q '"level":"INFO"' "$CTX/serve.log" || { echo "smoke: logs are not JSON lines"; cat "$CTX/serve.log"; exit 1; }
echo "smoke test passed: start-up to /ready ${READY_MS} ms (buildah run included)"
