#!/usr/bin/env bash
# Peak memory of N simulated devices (default 1000) that all download a
# 1 MiB artifact published in blocks of 124 KiB (max-payload 128k, so the
# whole artifact is not published and every device fetches the 9 blocks),
# against the embedded broker. Usage: N=1000 docs/blocks-measure.sh path/to/otactl
# Linux only (reads VmHWM in /proc). Everything runs on loopback, in a
# temporary folder.
set -euo pipefail
OTACTL=$(realpath "${1:-./otactl}")
N=${N:-1000}
work=$(mktemp -d)
trap 'kill $BPID $SPID 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
"$OTACTL" broker --listen 127.0.0.1:0 > broker.url 2> broker.err &
BPID=$!
while [ ! -s broker.url ]; do sleep 0.1; done
export OTACTL_BROKER=$(head -1 broker.url) XDG_CONFIG_HOME=$work/cfg
"$OTACTL" config set max-payload 128k > /dev/null 2>&1
"$OTACTL" simulate --devices "$N" --jitter 2s --reboot-time 1s > sim.out 2> sim.err &
SPID=$!
sleep 8 # every device connects within the 2 s jitter
echo "idle: simulator VmHWM $(awk '/VmHWM/{print $2}' /proc/$SPID/status) kB"
head -c 1048576 /dev/urandom > fw.bin
"$OTACTL" release create -c main@1.1.0=fw.bin --out rel.json 2> /dev/null
"$OTACTL" release publish rel.json fw.bin > /dev/null 2>&1
start=$(date +%s.%N)
"$OTACTL" rollout wait --version 1.1.0 --expect "$N" --timeout 300s 2> wait.err && code=0 || code=$?
end=$(date +%s.%N)
echo "update of $N devices (1 MiB in 9 blocks): rollout wait exit $code after $(echo "$end - $start" | bc) s"
echo "peak: simulator VmHWM $(awk '/VmHWM/{print $2}' /proc/$SPID/status) kB, broker $(awk '/VmHWM/{print $2}' /proc/$BPID/status) kB"
tail -1 wait.err
