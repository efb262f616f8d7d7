package upload

// SetStreamThreshold changes the smallest artifact that goes through a
// streaming connection, until the returned function restores it.
func SetStreamThreshold(n int64) (restore func()) {
	old := streamThreshold
	streamThreshold = n
	return func() { streamThreshold = old }
}

// StreamClientID is the client id of c's streaming connections.
func StreamClientID(c *Client) string { return c.streams.clientID }
