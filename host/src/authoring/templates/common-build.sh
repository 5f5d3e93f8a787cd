#!/bin/sh
# Builds {{name}}.wasm here with this language's toolchain; weir prints each
# command it runs, so the build can be repeated by hand.
exec weir plugin build "$(dirname "$0")"
