#!/usr/bin/env bash
# Prepares everything the tests need and prints shell `export` lines on stdout:
#
#   eval "$(.ci/test-env.sh)" && cargo test --all-features
#
# What it prepares (each step is skipped when its result is already there, so a
# second run takes well under a second):
#
# - the tansu broker, through .ci/tansu.sh            -> KAFKA_SYNC_TANSU
# - Debian packages, installed with apt-get only when missing and only when run
#   as root: stunnel4 (TLS in front of tansu), openssl, libssl-dev and
#   pkg-config (the `rdkafka` dev-dependency's `ssl` feature links the system
#   OpenSSL), python3-venv                             -> KAFKA_SYNC_STUNNEL
# - a Python venv at $KAFKA_SYNC_CACHE/venv (default
#   $HOME/.cache/kafka-sync/venv) with the PyPI package scramp at an exact
#   version, the SCRAM server of tests/support/sasl_proxy.py
#                                                      -> KAFKA_SYNC_PYTHON
#
# Progress and problems go to stderr; stdout carries only the export lines.
# When something cannot be prepared (not root, no apt-get, PyPI unreachable):
# in CI (CI set to anything but "", 0 or false) the script fails; elsewhere it
# warns, leaves that variable out, and the tests that need it print SKIP.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The SCRAM server implementation and its one dependency, pinned. scramp 1.4.6
# is the newest release that still installs on Python 3.8 (later ones need 3.10
# or 3.11).
scramp_version="1.4.6"
asn1crypto_version="1.5.1"

cache="${KAFKA_SYNC_CACHE:-$HOME/.cache/kafka-sync}"
venv="$cache/venv"

log() {
    echo "test-env.sh: $*" >&2
}

in_ci() {
    case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')" in
        "" | 0 | false) return 1 ;;
        *) return 0 ;;
    esac
}

failed=0
# A step could not be done: fatal in CI, a warning elsewhere (tests then skip).
problem() {
    if in_ci; then
        echo "test-env.sh: error: $*" >&2
        exit 1
    fi
    echo "test-env.sh: warning: $*" >&2
    failed=1
}

exports=()
export_var() {
    exports+=("export $1=$(printf '%q' "$2")")
}

# --- tansu ------------------------------------------------------------------
if tansu="$(.ci/tansu.sh)"; then
    export_var KAFKA_SYNC_TANSU "$tansu"
else
    problem "could not install tansu (.ci/tansu.sh failed, see above); the broker tests will skip"
fi

# --- Debian packages ----------------------------------------------------------
stunnel_path() {
    local c
    for c in stunnel4 stunnel; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

have_libssl_dev() {
    if command -v pkg-config >/dev/null 2>&1; then
        pkg-config --exists openssl 2>/dev/null
    else
        [[ -f /usr/include/openssl/ssl.h ]]
    fi
}

system_python() {
    local c
    for c in python3 python; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# Whether `python -m venv` can make a venv with pip (Debian splits ensurepip
# into python3-venv).
can_make_venv() {
    local py
    py="$(system_python)" || return 1
    "$py" -c 'import venv, ensurepip' >/dev/null 2>&1
}

missing=()
stunnel_path >/dev/null || missing+=(stunnel4)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
have_libssl_dev || missing+=(libssl-dev)
system_python >/dev/null || missing+=(python3)
can_make_venv || missing+=(python3-venv)

if ((${#missing[@]})); then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2; then
            problem "apt-get install ${missing[*]} failed"
        fi
    else
        problem "missing ${missing[*]}; install them (as root: apt-get install ${missing[*]}) and run this again"
    fi
fi

if ! have_libssl_dev; then
    problem "no OpenSSL development files: the tests' rdkafka (feature ssl) will not build; apt-get install libssl-dev pkg-config"
fi

if stunnel="$(stunnel_path)"; then
    export_var KAFKA_SYNC_STUNNEL "$stunnel"
else
    problem "no stunnel: the TLS tests will skip; apt-get install stunnel4"
fi

# --- Python venv with scramp ---------------------------------------------------
venv_ok() {
    [[ -x "$venv/bin/python" ]] || return 1
    "$venv/bin/python" - "$scramp_version" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version

from scramp import ScramMechanism

ScramMechanism("SCRAM-SHA-512")

sys.exit(version("scramp") != sys.argv[1])
PY
}

if venv_ok; then
    export_var KAFKA_SYNC_PYTHON "$venv/bin/python"
elif ! py="$(system_python)"; then
    problem "no python3: the SASL tests will skip; apt-get install python3 python3-venv"
else
    log "creating $venv with scramp==$scramp_version"
    rm -rf "$venv"
    mkdir -p "$cache"
    pip_log="$(mktemp)"
    if "$py" -m venv "$venv" >"$pip_log" 2>&1 \
        && "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
            "scramp==$scramp_version" "asn1crypto==$asn1crypto_version" >>"$pip_log" 2>&1 \
        && venv_ok; then
        export_var KAFKA_SYNC_PYTHON "$venv/bin/python"
    else
        cat "$pip_log" >&2
        rm -rf "$venv"
        problem "could not make the venv $venv with scramp==$scramp_version (is PyPI reachable? is python3-venv installed?); the SASL tests will skip"
    fi
    rm -f "$pip_log"
fi

for line in "${exports[@]}"; do
    echo "$line"
done
if ((failed)); then
    log "done, with warnings (see above)"
else
    log "ready"
fi
