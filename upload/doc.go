// Package upload is otactl's MQTT side: connecting to a broker, building and
// validating topics, publishing retained messages and proving them by
// reading them back, reading every retained message under a filter, and
// live subscriptions that survive reconnects. It speaks MQTT 3.1.1.
//
// A Client holds one connection through github.com/eclipse/paho.mqtt.golang,
// which reconnects by itself. It carries every live subscription
// (Subscribe), every read of retained messages into memory (ReadRetained,
// ReadRetainedAll, ReadRetainedEach), every publish of a message held in
// memory (PublishRetained, PublishVerified, Clear, and PutFile's artifacts
// under 1 MiB), and everything at all on ws:// and wss:// brokers.
//
// On mqtt:// and mqtts:// brokers, large messages go through a streaming
// connection instead: a second, short-lived connection with the same
// address, TLS settings and credentials (client id: the Client's with
// "-s"), which speaks MQTT through internal/mqttwire and never holds a
// message whole. PutFile uses one for artifacts of 1 MiB or more,
// VerifyRetained (and so PublishVerified) to read back messages of 1 MiB
// or more, and CopyRetained for every read. Where the broker refuses that
// second connection, the same work goes through paho, in memory.
package upload
