package demo

import (
	"io"
	"log/slog"
)

// quietLogger is the demo's own client's logger: it runs nothing, so there is nothing to log.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
