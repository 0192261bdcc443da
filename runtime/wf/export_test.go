package wf

// EnqueuesInFlight returns the single enqueues c counts as in flight, for tests of when an
// enqueue announces itself.
func EnqueuesInFlight(c *Client) int { return int(c.enqueuing.Load()) }
