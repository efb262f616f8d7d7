// Package output renders what otactl prints: JSON, tables for terminals,
// plain tab-separated rows for pipes, manifest summaries, and the frames
// of the live rollout view. It renders plain data that other packages
// produce (fleet's views and gate results, release's manifests, reports)
// and decides nothing itself: no counting, no judging, no MQTT.
package output
