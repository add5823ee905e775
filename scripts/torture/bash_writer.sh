#!/usr/bin/env bash
# A bash writer for the torture scenarios, through scripts/lokilog-emit in library mode:
#   bash_writer.sh ROOT TAG COUNT [PAD]  (COUNT 0: until killed; PAD bytes of payload padding)
# BASH_WRITER_MODE=command runs one lokilog-emit process per event instead.
# Prints `ACK <id> - <seconds>` once lokilog_emit returned (stored in the log or drop box).
set -u
export LC_ALL=C  # EPOCHREALTIME with a dot
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lokilog-emit
source "$here/../lokilog-emit"
root=$1 tag=$2 count=$3
pad=$(printf "%${4:-0}s" "")
n=0
parent=$PPID
while (( count == 0 || n < count )); do
    kill -0 "$parent" 2>/dev/null || exit 0  # never outlive the suite
    started=$EPOCHREALTIME
    if [[ ${BASH_WRITER_MODE-} == command ]]; then
        # One `lokilog-emit` process per event, as hooks call it.
        LOKILOG_LAST_ID=$("$here/../lokilog-emit" task "torture-$tag" claim "n:=$n" "pad=$pad" --durable --loki-dir "$root")
    else
        lokilog_emit task "torture-$tag" claim "n:=$n" "pad=$pad" --durable --loki-dir "$root" >/dev/null
    fi
    if (( $? == 0 )); then
        took=$(( ${EPOCHREALTIME/./} - ${started/./} ))
        printf 'ACK %s - %d.%06d\n' "$LOKILOG_LAST_ID" $((took / 1000000)) $((took % 1000000))
    else
        printf 'ERR - lokilog_emit exit %s\n' "$?"
    fi
    n=$((n + 1))
done
