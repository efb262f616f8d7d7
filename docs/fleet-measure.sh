#!/usr/bin/env bash
# Measures N simulated devices (default 1000) against the embedded broker:
# memory and CPU of both processes while idle and during one update of the
# whole fleet. Usage: N=1000 [DATA=1] [BLOCKS=1] [JITTER=5s] docs/fleet-measure.sh path/to/otactl
# (DATA=1 gives the broker a --data folder; BLOCKS=1 publishes a 1 MiB
# image with max-payload 128k, so in 9 blocks of 124 KiB and not whole,
# which every device downloads block by block, instead of 64 KiB whole;
# JITTER is simulate's --jitter: 0s has every device download at once.)
# Linux only (reads /proc). Everything runs on loopback, in a temporary folder.
set -euo pipefail
OTACTL=$(realpath "${1:-./otactl}")
N=${N:-1000}
work=$(mktemp -d)
trap 'kill $BPID $SPID 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

data=()
[ "${DATA:-}" = 1 ] && data=(--data "$work/data")
"$OTACTL" broker --listen 127.0.0.1:0 "${data[@]}" > broker.url 2> broker.err &
BPID=$!
while [ ! -s broker.url ]; do sleep 0.1; done
export OTACTL_BROKER=$(head -1 broker.url) XDG_CONFIG_HOME=$work/cfg
"$OTACTL" simulate --devices "$N" --jitter "${JITTER:-5s}" --reboot-time 1s > sim.out 2> sim.err &
SPID=$!
sleep 12 # every device connects within the 5 s jitter

t0=$(ticks $SPID); b0=$(ticks $BPID); sleep 10; t1=$(ticks $SPID); b1=$(ticks $BPID)
echo "idle, 10 s: simulator $((t1-t0)) ticks, broker $((b1-b0)) ticks (100 ticks = 1 CPU-second)"
echo "idle RSS: simulator $(awk '/VmRSS/{print $2}' /proc/$SPID/status) kB, broker $(awk '/VmRSS/{print $2}' /proc/$BPID/status) kB"

size=65536
if [ "${BLOCKS:-}" = 1 ]; then
  size=1048576
  "$OTACTL" config set max-payload 128k > /dev/null 2>&1
fi
head -c "$size" /dev/urandom > fw.bin
"$OTACTL" release create -c main@1.1.0=fw.bin --out rel.json 2> /dev/null
start=$(date +%s.%N); t0=$(ticks $SPID); b0=$(ticks $BPID)
"$OTACTL" release publish rel.json fw.bin > /dev/null 2>&1
"$OTACTL" rollout wait --version 1.1.0 --expect "$N" --timeout 120s 2> wait.err && code=0 || code=$?
end=$(date +%s.%N); t1=$(ticks $SPID); b1=$(ticks $BPID)
echo "update of $N devices ($size-byte image): rollout wait exit $code after $(echo "$end - $start" | bc) s; simulator $((t1-t0)) ticks, broker $((b1-b0)) ticks"
echo "peak RSS: simulator $(awk '/VmHWM/{print $2}' /proc/$SPID/status) kB, broker $(awk '/VmHWM/{print $2}' /proc/$BPID/status) kB"
tail -1 wait.err
