package upload

// ProbeFailed reports whether c gave up on the end-of-retained probe.
func ProbeFailed(c *Client) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.noProbe
}
