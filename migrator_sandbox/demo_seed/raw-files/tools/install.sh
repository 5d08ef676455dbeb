#!/bin/sh
# Installs the greeter CLI into ~/.local/bin (demo file of the migrator seed corpus).
set -eu
mkdir -p "$HOME/.local/bin"
cp greeter "$HOME/.local/bin/greeter"
echo "greeter installed"
