#!/usr/bin/env bash
# Run a command so that, should it die of a fatal signal, every thread's native stack is printed too (gdb with
# native_stack.gdb next to this file); faulthandler's Python stacks follow. `make test` uses it with NATIVE_STACKS=1.
# Where gdb is missing or may not trace (ptrace refused in some containers) the command runs as it is.
#   native_stacks.sh --check     exit 0 when gdb can trace here
#   native_stacks.sh CMD ARGS…   run CMD; its exit status is returned
set -uo pipefail
can_trace() { command -v gdb >/dev/null && gdb -q -batch -ex run --args true 2>&1 | grep -q "exited normally"; }
if [ "${1-}" = --check ]; then can_trace; exit; fi
if can_trace; then
  echo "(under gdb: a crash prints native stacks, .ci/native_stack.gdb)" >&2
  exec gdb -q -batch -return-child-result -iex "set auto-load safe-path /" -x "$(dirname "$0")/native_stack.gdb" \
    --args "$@"
fi
exec "$@"
