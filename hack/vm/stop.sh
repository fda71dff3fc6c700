#!/usr/bin/env bash
# Stops the test VM (its disk is a -snapshot: nothing to save).
set -euo pipefail
. "$(dirname "$0")/common.sh"
vm_stop
