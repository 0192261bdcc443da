//go:build !linux

package compare

import (
	"errors"
	"time"
)

// checkHost needs to pin threads to CPUs, which this package does on Linux only.
func checkHost(time.Duration) (*hostStalls, error) {
	return nil, errors.New("the host check runs on Linux only")
}
