#!/usr/bin/env bash
# Make Fashion-MNIST available for `make data` / `make train`.
#   usage: scripts/get-fashion-mnist.sh [PYTHON]
# 1. Debian's copy (/usr/share/datasets/fashion-mnist) already there: done.
# 2. Running as root with apt-get: install the Debian package dataset-fashion-mnist.
# 3. Otherwise, or if apt failed: numnet's verified download into its cache
#    ($NUMNET_DATA, else $XDG_CACHE_HOME/numnet, else ~/.cache/numnet).
set -euo pipefail
PYTHON="${1:-python3}"
SYSTEM_DIR=/usr/share/datasets/fashion-mnist
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

have_system_copy() {
    for f in $FILES; do
        [ -f "$SYSTEM_DIR/$f" ] || return 1
    done
}

if have_system_copy; then
    echo "Fashion-MNIST: using $SYSTEM_DIR"
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Fashion-MNIST: installing the Debian package dataset-fashion-mnist"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
        && have_system_copy; then
        echo "Fashion-MNIST: using $SYSTEM_DIR"
        exit 0
    fi
    echo "Fashion-MNIST: apt-get did not provide it; downloading instead" >&2
fi

# fetch() finds an existing verified copy in the cache without downloading again.
exec "$PYTHON" -c 'from numnet.data import fetch; print("Fashion-MNIST:", fetch("fashion-mnist").path)'
