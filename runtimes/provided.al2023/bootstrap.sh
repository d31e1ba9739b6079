#!/bin/sh
# The entry program of the OS-only runtimes (provided.al2023, provided.al2): it finds the function's
# own executable `bootstrap`, which speaks the Runtime API itself, and execs it, as Lambda does.
#
# Prewarmed start (a faas extension; every zip environment starts this way, see the python3.13
# bootstrap's docstring): with FAAS_PREWARMED=1 the script first long-polls
# `GET /runtime/faas/specialize?format=shell`, whose 200 answer is one `export NAME='value'` line per
# variable (single quotes escaped by the platform, names checked by it), evaluates it, and drops
# FAAS_PREWARMED. Any other answer, or no connection: exit 1, and the platform discards the environment.
#
# No bootstrap, or one that is not executable: the init error Lambda reports, posted to
# `/runtime/init/error` (its message written to stderr first, which the function's log shows). The bootstrap replaces this
# script (exec), so it runs under the container's init exactly as a runtime does, with the same
# user, limits and read-only root.
set -u

api="http://${AWS_LAMBDA_RUNTIME_API:?AWS_LAMBDA_RUNTIME_API is not set}/2018-06-01/runtime"

if [ -n "${FAAS_PREWARMED:-}" ]; then
    # No timeout: the wait lasts until the environment is bound to a function.
    variables=$(curl --silent --show-error --fail --noproxy '*' "$api/faas/specialize?format=shell") || {
        echo "faas: GET /runtime/faas/specialize failed" >&2
        exit 1
    }
    eval "$variables"
    unset FAAS_PREWARMED
fi

for candidate in "${LAMBDA_TASK_ROOT:-/var/task}/bootstrap" /opt/bootstrap; do
    if [ -f "$candidate" ] && [ -x "$candidate" ]; then
        cd "${LAMBDA_TASK_ROOT:-/var/task}" || exit 1
        exec "$candidate"
    fi
done

message="Couldn't find valid bootstrap(s): [${LAMBDA_TASK_ROOT:-/var/task}/bootstrap /opt/bootstrap]"
echo "$message" >&2  # stderr is the platform's pipe: the message is in the init error's log
curl --silent --show-error --noproxy '*' --output /dev/null -X POST \
    -H 'Content-Type: application/json' \
    -H 'Lambda-Runtime-Function-Error-Type: Runtime.InvalidEntrypoint' \
    --data-binary "{\"errorMessage\":\"$message\",\"errorType\":\"Runtime.InvalidEntrypoint\",\"stackTrace\":[]}" \
    "$api/init/error"
exit 1
