package apiclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// ErrStreamDropped is returned by Events when the master ended the
// stream because its reader fell behind.
var ErrStreamDropped = errors.New("event stream dropped by the master")

// Events turns the connection into the master's stream of cluster events
// (node state changes, the caller's processes starting and ending; every
// process for root) and calls f with each, in the master's order, until f
// returns an error, ctx ends, or the master ends the stream. The client
// is of no other use afterwards.
func (c *Client) Events(ctx context.Context, f func(localapi.ClusterEvent) error) error {
	if _, err := c.Call(ctx, localapi.Request{Op: localapi.OpEvents}); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		var ev localapi.ClusterEvent
		if err := localapi.ReadFrame(c.conn, &ev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("events: %w", err)
		}
		if ev.Kind == localapi.EventDropped {
			return fmt.Errorf("%w: %s", ErrStreamDropped, ev.Error)
		}
		if err := f(ev); err != nil {
			return err
		}
	}
}
