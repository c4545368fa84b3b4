# agentmon's remote file server in POSIX sh, for hosts without agentmon (docs/remote.md).
# It speaks the protocol of agentmon/remote/server.py with the tools every Unix has: stat
# (GNU, BSD or busybox), find, tail -c and head -c. Handles are paths plus the identity
# they had when opened: a file renamed or replaced since answers ENOENT, and the local side
# finds it again under its new name at its next listing.
if stat -L -c %d / >/dev/null 2>&1; then
  STAT='stat -L -c'; FMT='%d %i %s %Y000000000 %h'; NAME='%n'  # GNU and busybox
else
  STAT='stat -L -f'; FMT='%d %i %z %m000000000 %l'; NAME='%N'  # BSD and macOS
fi
st() { $STAT "$FMT" "$1" 2>/dev/null; }
tmp="${TMPDIR:-/tmp}/agentmon-files.$$"
trap 'rm -f "$tmp"' EXIT
handles=0
boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) || boot=-
printf 'AGENTMON-FILES 1 sh %s\n' "${boot:--}"
# Is the file open on descriptor 3 the one handle $1 was opened on? Sets p (its path) and s (its stat).
same() {
  eval "p=\${path_$1-}; id=\${id_$1-}"
  [ -n "$p" ] || { printf 'E EBADF bad handle\n'; return 1; }
  command exec 3<"$p" 2>/dev/null || { printf 'E ENOENT %s is gone\n' "$p"; return 1; }
  s=$(st /dev/fd/3)
  set -- $s
  [ "$1 $2" = "$id" ] || { exec 3<&-; printf 'E ENOENT %s was replaced\n' "$p"; return 1; }
}
while IFS= read -r line; do
  verb=${line%% *}; rest=${line#* }
  case $verb in
    LIST)
      if [ -d "$rest" ]; then
        find "$rest" \( -type d ! -path "$rest" -name '.*' -prune \) -o -type f \
          \( -name '*.jsonl*' -o -name '*.ndjson*' -o -name '*.log*' -o -name '*.json' -o -name '*.eval' \) \
          -exec $STAT "F $FMT $NAME" {} + </dev/null 2>/dev/null | grep '^F '
        printf 'END\n'
      elif s=$(st "$rest"); then printf 'F %s %s\nEND\n' "$s" "$rest"
      else printf 'E ENOENT no such file or directory: %s\n' "$rest"; fi ;;
    STAT)
      if s=$(st "$rest"); then printf 'S %s\n' "$s"; else printf 'E ENOENT no such file: %s\n' "$rest"; fi ;;
    OPEN)
      if s=$(st "$rest"); then
        handles=$((handles + 1)); set -- $s
        eval "path_$handles=\$rest; id_$handles=\"\$1 \$2\""
        printf 'H %s %s\n' "$handles" "$s"
      else printf 'E ENOENT no such file: %s\n' "$rest"; fi ;;
    FSTAT)
      if same "$rest"; then exec 3<&-; printf 'S %s\n' "$s"; fi ;;
    READ)
      set -- $rest
      if same "$1"; then
        tail -c +$(($2 + 1)) <&3 | head -c "$3" >"$tmp"
        exec 3<&-
        printf 'D %s\n' $(($(wc -c <"$tmp")))
        cat "$tmp"
      fi ;;
    CLOSE)
      eval "unset path_$rest id_$rest"; printf 'OK\n' ;;
    *) printf 'E EINVAL unknown request\n' ;;
  esac
done
