package testproxy_test

import (
	"bufio"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wfgen/wfgen/internal/testproxy"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// echo sends a line through conn and returns the answer, or the error that stopped it.
func echo(conn net.Conn, line string) (string, error) {
	// A hang guard: a broken proxy fails the test instead of blocking it.
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(conn).ReadString('\n')
}

func TestProxyForwardsUntilCutAndAgainAfterRestore(t *testing.T) {
	t.Parallel()
	p := testproxy.Start(t, echoServer(t))

	before, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer before.Close()
	answer, err := echo(before, "hello")
	require.NoError(t, err)
	require.Equal(t, "hello\n", answer)

	p.Cut()
	_, err = echo(before, "still there?")
	require.Error(t, err, "an open connection is closed by Cut")
	// A new connection is reset as soon as it is accepted: the dial or the first exchange
	// fails, depending on when the reset arrives.
	if during, err := net.Dial("tcp", p.Addr()); err == nil {
		defer during.Close()
		_, err = echo(during, "anyone?")
		require.Error(t, err, "a new connection is refused while cut")
	}

	p.Restore()
	after, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer after.Close()
	answer, err = echo(after, "back")
	require.NoError(t, err)
	require.Equal(t, "back\n", answer)
}

func TestAPartitionHoldsTrafficAndDeliversItLateAfterRestore(t *testing.T) {
	t.Parallel()
	p := testproxy.Start(t, echoServer(t))
	open, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer open.Close()
	answer, err := echo(open, "hello")
	require.NoError(t, err)
	require.Equal(t, "hello\n", answer)

	p.Partition()
	// Nothing comes back while partitioned, on the open connection or on a new one.
	silent := func(conn net.Conn, line string) {
		t.Helper()
		_, err := conn.Write([]byte(line + "\n"))
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		_, err = bufio.NewReader(conn).ReadString('\n')
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	}
	silent(open, "sent into the partition")
	during, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err, "a new connection is accepted")
	defer during.Close()
	silent(during, "anyone?")

	p.Restore()
	// What was sent meanwhile arrives now, late.
	require.NoError(t, open.SetReadDeadline(time.Time{}))
	late, err := bufio.NewReader(open).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "sent into the partition\n", late)
	require.NoError(t, during.SetReadDeadline(time.Time{}))
	late, err = bufio.NewReader(during).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "anyone?\n", late)
}
