#!/bin/sh
# Installs Debian's dataset-fashion-mnist (root, or passwordless sudo).
# Prints one line on how to get the files when that is impossible.
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's dataset-fashion-mnist (apt-get)"
  if $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 ||
     { $SUDO apt-get update -qq >/dev/null 2>&1 &&
       $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "Fashion-MNIST is missing and apt-get could not install it: run 'sudo apt-get install dataset-fashion-mnist', or put the four *-idx?-ubyte.gz files of Fashion-MNIST in a folder and pass --data_dir=<folder>" >&2
exit 0
